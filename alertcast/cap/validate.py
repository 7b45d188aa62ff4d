"""The CAP rules that decide whether an alert can be trusted to mean what it says.

Each failure names the element path and the rule. Errors reject the alert: a value nobody can interpret
(a time without zone, an open polygon, an Update that does not say what it updates) must not reach people.
Warnings accept it: the alert is still unambiguous. Rules follow the alert's own CAP version; where 1.0 and
1.1 differ from 1.2 the older form is accepted (1.0: optional ``<scope>`` and ``<category>``, its own
enumerations, ``sender,identifier`` references; 1.1: optional ``<mimeType>``).
"""

from __future__ import annotations

import re
from datetime import datetime

from alertcast.cap.enums import allowed_values, lookup
from alertcast.cap.issues import IssueLog
from alertcast.cap.raw import RawAlert, RawArea, RawInfo, RawNamedValue, RawResource
from alertcast.cap.values import (
    normalise_coordinates,
    parse_cap_datetime,
    parse_circle,
    parse_number,
    parse_polygon,
    parse_references,
)

MESSAGE_TYPES_NEEDING_REFERENCES = frozenset({"Update", "Cancel", "Ack", "Error"})
_RESERVED_IN_IDS = re.compile(r"[\s,<&]")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")


def validate_alert(raw: RawAlert, log: IssueLog) -> None:
    """Check ``raw`` against the CAP rules of its version, adding findings to ``log``."""
    path = raw.path
    for name, value in (("identifier", raw.identifier), ("sender", raw.sender)):
        if _require(log, path, name, value) and value is not None and _RESERVED_IN_IDS.search(value):
            log.error(
                f"{path}/{name}",
                "no-spaces-or-commas",
                f"<{name}> {value!r} contains a space, comma or reserved character (< &)",
            )
    sent = _time(log, path, "sent", raw.sent, required=True)
    _enumerated(log, f"{path}/status", "status", raw.status, raw.version, required=True)
    msg_type = _enumerated(log, f"{path}/msgType", "msgType", raw.msg_type, raw.version, required=True)
    scope = _check_scope(log, raw)
    _check_references(log, raw, msg_type)
    if scope == "Private" and not raw.addresses:
        log.error(
            f"{path}/addresses",
            "addresses-required",
            "scope Private requires <addresses> naming the recipients",
        )
    if scope == "Restricted" and not raw.restriction:
        log.warn(
            f"{path}/restriction",
            "restriction-missing",
            "scope Restricted without <restriction> saying who may see it",
        )
    for index, info in enumerate(raw.infos):
        _validate_info(log, f"{path}/info[{index}]", info, raw.version, sent)


def _require(log: IssueLog, path: str, name: str, value: str | None) -> bool:
    if value is None:
        log.error(f"{path}/{name}", "required", f"<{name}> is required")
        return False
    if not value:
        log.error(f"{path}/{name}", "required", f"<{name}> is required but empty")
        return False
    return True


def _time(
    log: IssueLog, path: str, name: str, text: str | None, *, required: bool = False
) -> datetime | None:
    if text is None and not required:
        return None
    if not _require(log, path, name, text) or text is None:
        return None
    parsed = parse_cap_datetime(text)
    if parsed.value is None:
        log.error(f"{path}/{name}", "datetime", f"<{name}> {parsed.problem}")
        return None
    if parsed.strictness:
        log.warn(f"{path}/{name}", "datetime-format", parsed.strictness)
    return parsed.value


def _enumerated(
    log: IssueLog, element_path: str, element: str, text: str | None, version: str, *, required: bool
) -> str | None:
    if text is None and not required:
        return None
    if text is None or not text:
        log.error(element_path, "required", f"<{element}> is required" + (" but empty" if text == "" else ""))
        return None
    result = lookup(element, text, version)
    if result.value is None:
        log.error(
            element_path,
            "enumeration",
            f"<{element}> {text!r} is not a CAP value; allowed: {allowed_values(element, version) or 'none'}",
        )
    elif result.note:
        log.warn(element_path, "enumeration", f"<{element}> {result.note}")
    return result.value


def _check_scope(log: IssueLog, raw: RawAlert) -> str | None:
    if raw.scope is None and raw.version == "1.0":
        log.warn(f"{raw.path}/scope", "scope-missing", "no <scope> (optional in CAP 1.0); treated as Public")
        return "Public"
    return _enumerated(log, f"{raw.path}/scope", "scope", raw.scope, raw.version, required=True)


def _check_references(log: IssueLog, raw: RawAlert, msg_type: str | None) -> None:
    path = f"{raw.path}/references"
    if not raw.references:
        if msg_type in MESSAGE_TYPES_NEEDING_REFERENCES:
            log.error(
                path,
                "references-required",
                f"msgType {msg_type} requires <references> naming the earlier alert(s)",
            )
        elif raw.references == "":
            log.warn(path, "empty-references", "empty <references> ignored")
        return
    references, problems = parse_references(raw.references)
    for problem in problems:
        log.error(path, "references-format", problem)
    for reference in references:
        if reference.sent is not None:
            continue
        pair = f"{reference.sender},{reference.identifier}"
        if raw.version == "1.0":
            log.warn(
                path,
                "references-format",
                f"CAP 1.0 reference {pair!r} has no sent time; left out of the model",
            )
        else:
            log.error(path, "references-format", f"{pair!r} lacks the sent time of 'sender,identifier,sent'")


def _validate_info(log: IssueLog, path: str, info: RawInfo, version: str, sent: datetime | None) -> None:
    if info.language is not None and not _LANGUAGE_TAG.fullmatch(info.language):
        log.warn(
            f"{path}/language",
            "language",
            f"<language> {info.language!r} is not an RFC 3066 tag like 'en-US'",
        )
    if not info.categories and version != "1.0":
        log.error(f"{path}/category", "required", "<category> is required")
    for index, category in enumerate(info.categories):
        _enumerated(log, f"{path}/category[{index}]", "category", category, version, required=True)
    for index, response in enumerate(info.response_types):
        _enumerated(log, f"{path}/responseType[{index}]", "responseType", response, version, required=True)
    _require(log, path, "event", info.event)
    for element in ("urgency", "severity", "certainty"):
        _enumerated(log, f"{path}/{element}", element, getattr(info, element), version, required=True)
    _time(log, path, "effective", info.effective)
    _time(log, path, "onset", info.onset)
    expires = _time(log, path, "expires", info.expires)
    if expires is not None and sent is not None and expires <= sent:
        # Issuers end a warning this way (an Update saying "all clear", expiring at once). Accepted so it
        # can still supersede what it references; eligibility keeps an expired alert off the air.
        log.warn(
            f"{path}/expires",
            "expires-not-after-sent",
            f"<expires> {info.expires} is not after <sent> {sent.isoformat()}: expired on arrival, never broadcast",
        )
    for name, values in (("eventCode", info.event_codes), ("parameter", info.parameters)):
        for index, named in enumerate(values):
            if not named.name:
                log.warn(f"{path}/{name}[{index}]", "named-value", "empty <valueName>; this entry is ignored")
    for index, resource in enumerate(info.resources):
        _validate_resource(log, f"{path}/resource[{index}]", resource, version)
    for index, area in enumerate(info.areas):
        _validate_area(log, f"{path}/area[{index}]", area)


def _check_geocode(log: IssueLog, path: str, named: RawNamedValue) -> None:
    if not named.name or not named.value:
        missing = "valueName" if not named.name else "value"
        log.warn(path, "geocode", f"empty <{missing}>; this geocode is ignored for targeting")


def _validate_resource(log: IssueLog, path: str, resource: RawResource, version: str) -> None:
    if not resource.description:
        log.warn(f"{path}/resourceDesc", "resource-incomplete", "<resource> without <resourceDesc>")
    if not resource.mime_type and version == "1.2":
        log.warn(
            f"{path}/mimeType", "resource-incomplete", "<resource> without <mimeType> (required in CAP 1.2)"
        )
    if resource.size is not None and not resource.size.isdigit():
        log.warn(
            f"{path}/size", "resource-incomplete", f"<size> {resource.size!r} is not a byte count; ignored"
        )


def _validate_area(log: IssueLog, path: str, area: RawArea) -> None:
    _require(log, path, "areaDesc", area.description)
    for index, text in enumerate(area.polygons):
        polygon_path = f"{path}/polygon[{index}]"
        if not text.strip():
            log.warn(polygon_path, "empty-polygon", "empty <polygon> ignored")
            continue
        _, problems = parse_polygon(text)
        for problem in problems:
            log.error(polygon_path, "polygon", problem)
        if not problems and " ".join(normalise_coordinates(text).split()) != " ".join(text.split()):
            log.warn(polygon_path, "coordinates-format", "spaces around commas in coordinates; read anyway")
    for index, text in enumerate(area.circles):
        if not text.strip():
            log.warn(f"{path}/circle[{index}]", "empty-circle", "empty <circle> ignored")
            continue
        _, problem = parse_circle(text)
        if problem:
            log.error(f"{path}/circle[{index}]", "circle", problem)
    for index, geocode in enumerate(area.geocodes):
        _check_geocode(log, f"{path}/geocode[{index}]", geocode)
    for name in ("altitude", "ceiling"):
        text = getattr(area, name)
        if text is not None and parse_number(text) is None:
            log.error(f"{path}/{name}", "number", f"<{name}> {text!r} is not a number (feet above sea level)")
    if area.ceiling is not None and area.altitude is None:
        log.warn(
            f"{path}/ceiling", "ceiling-without-altitude", "<ceiling> is only meaningful with <altitude>"
        )
