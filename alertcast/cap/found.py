"""What a container (feed, EDXL-DE distribution, wrapper element) was found to hold, before reading.

Containers only locate: an embedded ``<alert>`` element to read, or a link to a CAP document to fetch.
The reader turns both into :class:`~alertcast.cap.results.CapEntry` values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from lxml import etree

from alertcast.cap.issues import CapIssue
from alertcast.cap.namespaces import CAP_VERSIONS, split_tag
from alertcast.cap.schema import REPEATABLE_ELEMENTS

FETCHABLE_SCHEMES = ("http", "https")


@dataclass(slots=True)
class FoundAlert:
    location: str
    element: etree._Element
    warnings: list[CapIssue] = field(default_factory=list)


@dataclass(slots=True)
class FoundLink:
    location: str
    link: str | None
    title: str | None = None
    index: dict[str, str] = field(default_factory=dict)
    warnings: list[CapIssue] = field(default_factory=list)
    errors: list[CapIssue] = field(default_factory=list)


Found = FoundAlert | FoundLink


_ALERT_TAGS = (*(f"{{{namespace}}}alert" for namespace in CAP_VERSIONS), "alert")
_ALWAYS_INDEXED = REPEATABLE_ELEMENTS | {"entry", "item", "contentObject"}


def find_alert_elements(element: etree._Element) -> list[etree._Element]:
    """CAP ``<alert>`` elements at or below ``element`` (document order), none nested in another."""
    found = list(element.iter(*_ALERT_TAGS))
    if len(found) < 2:
        return found
    kept = set(found)
    return [alert for alert in found if not any(parent in kept for parent in alert.iterancestors())]


def location_of(element: etree._Element, below: etree._Element | None = None) -> str:
    """A readable path to ``element`` from the document root, or from just under ``below``:
    ``feed/entry[2]/content/alert``. Indices count same-named siblings from 0."""
    steps: list[str] = []
    current: etree._Element | None = element
    while current is not None and current is not below:
        local = split_tag(current.tag)[1]
        if current.getparent() is not None:
            same_name = f"{{*}}{local}"  # any namespace: the path shows local names only
            before = sum(1 for _ in current.itersiblings(same_name, preceding=True))
            if before or local in _ALWAYS_INDEXED or next(current.itersiblings(same_name), None) is not None:
                local = f"{local}[{before}]"
        steps.append(local)
        current = current.getparent()
    return "/".join(reversed(steps))


def resolve_link(href: str, source: str) -> tuple[str | None, str | None]:
    """Absolute link for ``href`` found in a document read from ``source``, or the reason it is unusable.

    Relative links resolve against the document's URL; for a document read from a local file they resolve
    to a ``file:`` URI beside it, so an index kept on disk still names its alerts. An absolute link must be
    http(s): a feed must not be able to point the relay at local files.
    """
    href = href.strip()
    if not href:
        return None, "link is empty"
    scheme = urlsplit(href).scheme.lower()
    if scheme:
        if scheme in FETCHABLE_SCHEMES:
            return href, None
        return None, f"link {href!r} is not an http(s) URL"
    if urlsplit(source).scheme.lower() in FETCHABLE_SCHEMES:
        return urljoin(source, href), None
    if source and not urlsplit(source).scheme:
        return (Path(source).parent / href).resolve().as_uri(), None
    return None, f"relative link {href!r} cannot be resolved: the document's location is unknown"
