"""The tolerant reader: one CAP ``<alert>`` element (1.0, 1.1 or 1.2) -> :class:`RawAlert`.

It reads by namespace and element name, never by position, so the deviations real issuers publish do not
cost an alert: elements out of schema order, repeated identical elements, a ``<resource>`` without
``<uri>``, CAP 1.0's ``name=value`` codes. Each deviation becomes a warning that names it; elements it does
not know are reported and skipped. Judging the values is left to :mod:`alertcast.cap.validate`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from alertcast.cap.issues import IssueLog
from alertcast.cap.namespaces import CAP_VERSIONS, VERSION_ASSUMED_WITHOUT_NAMESPACE, XML_DSIG, split_tag
from alertcast.cap.raw import RawAlert, RawArea, RawInfo, RawNamedValue, RawResource

_ALERT_ORDER = {
    "1.0": "identifier sender sent status msgType password source scope restriction addresses code note "
    "references incidents info",
    "1.1": "identifier sender sent status msgType source scope restriction addresses code note references "
    "incidents info",
}
_INFO_ORDER = {
    "1.0": "language category event urgency severity certainty audience eventCode effective onset expires "
    "senderName headline description instruction web contact parameter resource area",
    "1.1": "language category event responseType urgency severity certainty audience eventCode effective "
    "onset expires senderName headline description instruction web contact parameter resource area",
}
_RESOURCE_ORDER = {
    "1.0": "resourceDesc mimeType size uri digest",
    "1.1": "resourceDesc mimeType size uri derefUri digest",
}
_AREA_ORDER = "areaDesc polygon circle geocode altitude ceiling"


_ORDERS = {
    "alert": _ALERT_ORDER,
    "info": _INFO_ORDER,
    "resource": _RESOURCE_ORDER,
    "area": {"1.1": _AREA_ORDER},
}


@functools.cache
def _ranks(block: str, version: str) -> dict[str, int]:
    """Schema position of each child element of ``block`` in CAP ``version`` (read-only, shared)."""
    table = _ORDERS[block]
    return {name: position for position, name in enumerate(table.get(version, table["1.1"]).split())}


@functools.lru_cache(maxsize=64)
def _own_tags(namespace: str | None, block: str) -> dict[str, str]:
    """Qualified tag -> local name of every element ``block`` knows in ``namespace`` (read-only, shared).

    The common child is a known element in the alert's own namespace: one dict lookup on the tag finds it,
    and only the rest are split into namespace and name to be judged."""
    prefix = f"{{{namespace}}}" if namespace else ""
    return {f"{prefix}{local}": local for local in _FIELDS[block]}


Reader = Callable[["_AlertReader", etree._Element, str], Any]


@dataclass(frozen=True, slots=True)
class _Field:
    attribute: str | None  # None: known element the model does not keep (CAP 1.0 <password>)
    repeated: bool = False
    reader: Reader | None = None


def _text(element: etree._Element) -> str:
    if len(element) == 0:  # the usual leaf: no need to walk a subtree
        return (element.text or "").strip()
    return "".join(element.itertext()).strip()


class _AlertReader:
    def __init__(self, namespace: str | None, version: str, log: IssueLog) -> None:
        self.namespace = namespace
        self.version = version
        self.log = log

    def fill(self, element: etree._Element, path: str, block: str, target: object) -> None:
        """Copy every known child of ``element`` (a ``block``: alert, info, resource, area) into ``target``,
        whatever order the children come in."""
        fields = _FIELDS[block]
        own_tags = _own_tags(self.namespace, block)
        counts: dict[str, int] = {}
        first_values: dict[str, object] = {}
        seen: list[str] = []
        for child in element:
            local = own_tags.get(child.tag)
            if local is not None:
                field = fields[local]
            else:
                namespace, local = split_tag(child.tag)
                if namespace != self.namespace:
                    self._foreign_child(child, namespace, local, path, fields)
                    if not (namespace is None and local in fields):
                        continue
                found = fields.get(local)
                if found is None:
                    self.log.warn(
                        f"{path}/{local}",
                        "unknown-element",
                        f"<{local}> is not a CAP {self.version} element; ignored",
                    )
                    continue
                field = found
            index = counts.get(local, 0)
            counts[local] = index + 1
            seen.append(local)
            if field.reader is not None:
                child_path = f"{path}/{local}[{index}]" if field.repeated else f"{path}/{local}"
                value = field.reader(self, child, child_path)
            else:
                value = _text(child)
            if field.attribute is None:
                continue
            if field.repeated:
                getattr(target, field.attribute).append(value)
            elif index == 0:
                first_values[local] = value
                setattr(target, field.attribute, value)
            elif value == first_values[local]:
                self.log.warn(
                    f"{path}/{local}", "repeated-element", f"<{local}> is repeated with the same value"
                )
            else:
                self.log.error(
                    f"{path}/{local}",
                    "repeated-element",
                    f"<{local}> appears more than once with different values",
                )
        self._check_order(path, seen, _ranks(block, self.version))

    def _foreign_child(
        self, child: etree._Element, namespace: str | None, local: str, path: str, fields: dict[str, _Field]
    ) -> None:
        if namespace == XML_DSIG and local == "Signature":
            self.log.warn(
                f"{path}/Signature",
                "signature-not-verified",
                "the alert carries an XML signature; it is not verified",
            )
        elif namespace is None and local in fields:
            self.log.warn(
                f"{path}/{local}",
                "missing-namespace",
                f"<{local}> has no namespace inside a CAP element; read anyway",
            )
        elif namespace in CAP_VERSIONS:
            self.log.warn(
                f"{path}/{local}",
                "unknown-element",
                f"<{local}> is in the CAP {CAP_VERSIONS[namespace]} namespace inside a CAP {self.version} "
                "alert; ignored",
            )

    def _check_order(self, path: str, seen: list[str], rank: dict[str, int]) -> None:
        latest: str | None = None
        for name in seen:
            if name not in rank:
                continue
            if latest is not None and rank[name] < rank[latest]:
                self.log.warn(
                    path,
                    "element-order",
                    f"elements out of schema order: <{name}> comes after <{latest}>, CAP {self.version} "
                    "puts it before; read by name, meaning unchanged",
                )
                return
            latest = name

    def named_value(self, element: etree._Element, path: str) -> RawNamedValue:
        name = value = None
        for child in element:
            local = split_tag(child.tag)[1]
            if local == "valueName":
                name = _text(child)
            elif local == "value":
                value = _text(child)
        if name is not None or value is not None:
            return RawNamedValue(name or "", value or "")
        text = _text(element)
        if self.version != "1.0":
            self.log.warn(
                path, "cap10-named-value", f"'name=value' text instead of <valueName>/<value>: {text!r}"
            )
        name, separator, value = text.partition("=")
        if not separator:
            self.log.warn(
                path, "named-value", f"{text!r} has no 'name=value' form; kept as a value without name"
            )
            return RawNamedValue("", text)
        return RawNamedValue(name.strip(), value.strip())

    def resource(self, element: etree._Element, path: str) -> RawResource:
        resource = RawResource()
        self.fill(element, path, "resource", resource)
        if resource.uri is None:
            held = "its content is embedded in <derefUri>" if resource.deref_uri else "it names no content"
            self.log.warn(path, "resource-without-uri", f"<resource> without <uri>: {held}")
        return resource

    def area(self, element: etree._Element, path: str) -> RawArea:
        area = RawArea()
        self.fill(element, path, "area", area)
        return area

    def info(self, element: etree._Element, path: str) -> RawInfo:
        info = RawInfo()
        self.fill(element, path, "info", info)
        return info


_RESOURCE_FIELDS = {
    "resourceDesc": _Field("description"),
    "mimeType": _Field("mime_type"),
    "size": _Field("size"),
    "uri": _Field("uri"),
    "derefUri": _Field("deref_uri"),
    "digest": _Field("digest"),
}
_AREA_FIELDS = {
    "areaDesc": _Field("description"),
    "polygon": _Field("polygons", repeated=True),
    "circle": _Field("circles", repeated=True),
    "geocode": _Field("geocodes", repeated=True, reader=_AlertReader.named_value),
    "altitude": _Field("altitude"),
    "ceiling": _Field("ceiling"),
}
_INFO_FIELDS = {
    "language": _Field("language"),
    "category": _Field("categories", repeated=True),
    "event": _Field("event"),
    "responseType": _Field("response_types", repeated=True),
    "urgency": _Field("urgency"),
    "severity": _Field("severity"),
    "certainty": _Field("certainty"),
    "audience": _Field("audience"),
    "eventCode": _Field("event_codes", repeated=True, reader=_AlertReader.named_value),
    "effective": _Field("effective"),
    "onset": _Field("onset"),
    "expires": _Field("expires"),
    "senderName": _Field("sender_name"),
    "headline": _Field("headline"),
    "description": _Field("description"),
    "instruction": _Field("instruction"),
    "web": _Field("web"),
    "contact": _Field("contact"),
    "parameter": _Field("parameters", repeated=True, reader=_AlertReader.named_value),
    "resource": _Field("resources", repeated=True, reader=_AlertReader.resource),
    "area": _Field("areas", repeated=True, reader=_AlertReader.area),
}
_ALERT_FIELDS = {
    "identifier": _Field("identifier"),
    "sender": _Field("sender"),
    "sent": _Field("sent"),
    "status": _Field("status"),
    "msgType": _Field("msg_type"),
    "password": _Field(None),
    "source": _Field("source"),
    "scope": _Field("scope"),
    "restriction": _Field("restriction"),
    "addresses": _Field("addresses"),
    "code": _Field("codes", repeated=True),
    "note": _Field("note"),
    "references": _Field("references"),
    "incidents": _Field("incidents"),
    "info": _Field("infos", repeated=True, reader=_AlertReader.info),
}


_FIELDS = {"alert": _ALERT_FIELDS, "info": _INFO_FIELDS, "resource": _RESOURCE_FIELDS, "area": _AREA_FIELDS}


def cap_version(element: etree._Element) -> str | None:
    """The CAP version an ``<alert>`` element's namespace declares, or None when it has no namespace."""
    namespace, _ = split_tag(element.tag)
    return CAP_VERSIONS.get(namespace) if namespace else None


def extract_alert(element: etree._Element, log: IssueLog, path: str = "alert") -> RawAlert:
    """Read one ``<alert>`` element into a :class:`RawAlert`, logging every deviation met on the way."""
    namespace, _ = split_tag(element.tag)
    version = cap_version(element)
    if version is None:
        version = VERSION_ASSUMED_WITHOUT_NAMESPACE
        log.warn(path, "missing-namespace", f"<alert> has no CAP namespace; read as CAP {version}")
    elif version == "1.0":
        log.warn(path, "cap10", "CAP 1.0 document (superseded in 2005): read with CAP 1.0 rules")
    raw = RawAlert(version=version, path=path)
    reader = _AlertReader(namespace, version, log)
    reader.fill(element, path, "alert", raw)
    return raw
