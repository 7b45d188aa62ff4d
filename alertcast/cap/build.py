"""Turn a validated :class:`RawAlert` into the typed :class:`Alert` the rest of the project uses.

Only called when validation found no errors, so every value here is known to convert; the same parsers
and enumeration lookup as the validator are used, so nothing is interpreted twice in two ways. Codes stay
strings (a FIPS code ``006037`` keeps its leading zeros), enumerations take their canonical CAP spelling,
and empty optional elements become ``None``.
"""

from __future__ import annotations

from datetime import datetime

from alertcast.cap.enums import lookup
from alertcast.cap.raw import RawAlert, RawArea, RawInfo, RawNamedValue, RawResource
from alertcast.cap.values import (
    parse_cap_datetime,
    parse_circle,
    parse_number,
    parse_polygon,
    parse_references,
    split_quoted_list,
)
from alertcast.core.cap_model import Alert, Area, Circle, Info, NamedValue, Reference, Resource

DEFAULT_LANGUAGE = "en-US"
"""CAP's default when ``<language>`` is absent."""


class BuildError(ValueError):
    """A value validation should have refused; raised only if validator and builder disagree."""


def build_alert(raw: RawAlert) -> Alert:
    sent = _required_time(raw.sent, "sent")
    return Alert(
        identifier=_required(raw.identifier, "identifier"),
        sender=_required(raw.sender, "sender"),
        sent=sent,
        status=_enum("status", raw.status, raw.version),
        msg_type=_enum("msgType", raw.msg_type, raw.version),
        scope=_enum("scope", raw.scope, raw.version) if raw.scope is not None else "Public",
        version=raw.version,
        source=_optional(raw.source),
        restriction=_optional(raw.restriction),
        addresses=split_quoted_list(raw.addresses or ""),
        codes=tuple(code for code in raw.codes if code),
        note=_optional(raw.note),
        references=_references(raw.references),
        incidents=split_quoted_list(raw.incidents or ""),
        infos=tuple(_info(info, raw.version) for info in raw.infos),
    )


def _required(text: str | None, name: str) -> str:
    if not text:
        raise BuildError(f"<{name}> missing after validation")
    return text


def _optional(text: str | None) -> str | None:
    return text if text else None


def _required_time(text: str | None, name: str) -> datetime:
    value = _optional_time(text)
    if value is None:
        raise BuildError(f"<{name}> unreadable after validation")
    return value


def _optional_time(text: str | None) -> datetime | None:
    return parse_cap_datetime(text).value if text else None


def _enum(element: str, text: str | None, version: str) -> str:
    value = lookup(element, text or "", version).value
    if value is None:
        raise BuildError(f"<{element}> {text!r} unknown after validation")
    return value


def _references(text: str | None) -> tuple[Reference, ...]:
    references, _ = parse_references(text or "")
    return tuple(
        Reference(sender=ref.sender, identifier=ref.identifier, sent=ref.sent)
        for ref in references
        if ref.sent is not None
    )


def _named(values: list[RawNamedValue], *, keep_empty_values: bool = True) -> tuple[NamedValue, ...]:
    return tuple(
        NamedValue(named.name, named.value)
        for named in values
        if named.name and (named.value or keep_empty_values)
    )


def _info(info: RawInfo, version: str) -> Info:
    return Info(
        language=info.language or DEFAULT_LANGUAGE,
        categories=tuple(_enum("category", category, version) for category in info.categories),
        event=_required(info.event, "event"),
        urgency=_enum("urgency", info.urgency, version),
        severity=_enum("severity", info.severity, version),
        certainty=_enum("certainty", info.certainty, version),
        response_types=tuple(_enum("responseType", response, version) for response in info.response_types),
        audience=_optional(info.audience),
        event_codes=_named(info.event_codes),
        effective=_optional_time(info.effective),
        onset=_optional_time(info.onset),
        expires=_optional_time(info.expires),
        sender_name=_optional(info.sender_name),
        headline=_optional(info.headline),
        description=_optional(info.description),
        instruction=_optional(info.instruction),
        web=_optional(info.web),
        contact=_optional(info.contact),
        parameters=_named(info.parameters),
        resources=tuple(_resource(resource) for resource in info.resources),
        areas=tuple(_area(area) for area in info.areas),
    )


def _resource(resource: RawResource) -> Resource:
    size = resource.size if resource.size and resource.size.isdigit() else None
    return Resource(
        description=resource.description or "",
        mime_type=resource.mime_type or "",
        size=int(size) if size else None,
        uri=_optional(resource.uri),
        deref_uri=_optional(resource.deref_uri),
        digest=_optional(resource.digest),
    )


def _area(area: RawArea) -> Area:
    polygons = []
    for text in area.polygons:
        if not text.strip():
            continue
        points, problems = parse_polygon(text)
        if problems:
            raise BuildError(f"polygon unreadable after validation: {problems[0]}")
        polygons.append(points)
    circles: list[Circle] = []
    for text in area.circles:
        if not text.strip():
            continue
        circle, problem = parse_circle(text)
        if circle is None:
            raise BuildError(f"circle unreadable after validation: {problem}")
        circles.append(circle)
    return Area(
        description=_required(area.description, "areaDesc"),
        polygons=tuple(polygons),
        circles=tuple(circles),
        geocodes=_named(area.geocodes, keep_empty_values=False),
        altitude=parse_number(area.altitude) if area.altitude else None,
        ceiling=parse_number(area.ceiling) if area.ceiling else None,
    )
