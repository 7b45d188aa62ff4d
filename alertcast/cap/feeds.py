"""ATOM and RSS index feeds: which entries embed a CAP alert and which link to one.

Issuers publish CAP in two feed styles. Some embed the whole ``<alert>`` in an entry's ``<content>``; most
(NWS, MeteoAlarm, USGS) publish an index whose entries carry a summary in ``cap:`` extension elements and a
link to the full alert. Both are read here: embedded alerts go on to the CAP reader, links become entries
to fetch, and the ``cap:`` summary is kept as plain strings so a relay can skip what it has already seen.

Link choice per entry: a link typed ``application/cap+xml`` wins; otherwise an untyped or non-HTML
``alternate`` link (NWS index style); for RSS an enclosure typed as CAP, else ``<link>``.
Fetching those links (httpx), polling feeds and watching folders live in :mod:`alertcast.cap.fetch`,
:mod:`alertcast.cap.poller` and :mod:`alertcast.cap.watch`.
"""

from __future__ import annotations

from lxml import etree

from alertcast.cap.found import Found, FoundAlert, FoundLink, find_alert_elements, location_of, resolve_link
from alertcast.cap.issues import CapIssue
from alertcast.cap.namespaces import ATOM, CAP_VERSIONS, RSS10, split_tag

_ATOM_FEED = f"{{{ATOM}}}feed"
_ATOM_ENTRY = f"{{{ATOM}}}entry"
_RDF_ROOT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CAP_ANY = tuple(f"{{{namespace}}}*" for namespace in CAP_VERSIONS)
_ATOM_ID = f"{{{ATOM}}}id"
_ATOM_TITLE = f"{{{ATOM}}}title"


def feed_kind(root: etree._Element) -> str | None:
    """``"atom"``, ``"rss"`` or None when ``root`` is not a feed."""
    if root.tag in (_ATOM_FEED, _ATOM_ENTRY):
        return "atom"
    if root.tag == "rss" or root.tag == _RDF_ROOT:
        return "rss"
    return None


def read_feed(root: etree._Element, source: str) -> tuple[list[Found], list[CapIssue]]:
    """Entries of an ATOM or RSS document, and feed-level warnings."""
    if feed_kind(root) == "atom":
        return _read_atom(root, source)
    return _read_rss(root, source)


def _is_cap_type(media_type: str | None) -> bool:
    return bool(media_type) and "cap" in (media_type or "").lower()


def _child(element: etree._Element, tag: str) -> etree._Element | None:
    """First child named ``tag``: ``element.find(tag)`` without ElementPath's per-call Python overhead,
    which dominated reading index feeds of hundreds of entries."""
    return next(element.iterchildren(tag), None)


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    # A leaf (the usual case) needs no subtree walk.
    text = (element.text or "") if len(element) == 0 else "".join(element.itertext())
    return text.strip() or None


def _cap_summary(entry: etree._Element) -> dict[str, str]:
    """The ``cap:`` extension elements of an index entry, as name -> text (first of each, leaves only)."""
    summary: dict[str, str] = {}
    for child in entry.iterchildren(*_CAP_ANY):
        local = split_tag(child.tag)[1]
        if len(child) == 0 and local not in summary:
            summary[local] = (child.text or "").strip()
    return summary


def _read_atom(root: etree._Element, source: str) -> tuple[list[Found], list[CapIssue]]:
    feed_warnings: list[CapIssue] = []
    if root.tag == _ATOM_FEED:
        for required in ("id", "title"):
            if _child(root, f"{{{ATOM}}}{required}") is None:
                feed_warnings.append(
                    CapIssue(f"feed/{required}", "feed-metadata", f"ATOM feed has no <{required}>")
                )
        entries = list(root.iterchildren(_ATOM_ENTRY))
    else:
        entries = [root]
    found: list[Found] = []
    feed_location = location_of(root)
    for index, entry in enumerate(entries):
        location = f"{feed_location}/entry[{index}]" if entry is not root else feed_location
        title = _child(entry, _ATOM_TITLE)
        warnings = [
            CapIssue(f"{location}/{required}", "feed-metadata", f"ATOM entry has no <{required}>")
            for required, element in (("id", _child(entry, _ATOM_ID)), ("title", title))
            if element is None
        ]
        alerts = find_alert_elements(entry)
        if alerts:
            found.extend(
                FoundAlert(f"{location}/{location_of(alert, below=entry)}", alert, list(warnings))
                for alert in alerts
            )
            continue
        found.append(_link_entry(location, _atom_link(entry), source, entry, warnings, title))
    return found, feed_warnings


def _atom_link(entry: etree._Element) -> str | None:
    links = [
        (link.get("href"), link.get("type"), link.get("rel", "alternate"))
        for link in entry.iter(f"{{{ATOM}}}link")
    ]
    links = [(href, media, rel) for href, media, rel in links if href]
    for href, media, _ in links:
        if _is_cap_type(media):
            return href
    for href, media, rel in links:
        if rel == "alternate" and (media or "").lower() not in _HTML_TYPES:
            return href
    content = _child(entry, f"{{{ATOM}}}content")
    if content is not None and content.get("src") and _is_cap_type(content.get("type")):
        return content.get("src")
    return None


def _read_rss(root: etree._Element, source: str) -> tuple[list[Found], list[CapIssue]]:
    items = [element for element in root.iter("item", f"{{{RSS10}}}item")]
    found: list[Found] = []
    for item in items:
        location = location_of(item)
        alerts = find_alert_elements(item)
        if alerts:
            found.extend(FoundAlert(location_of(alert), alert) for alert in alerts)
            continue
        found.append(_link_entry(location, _rss_link(item), source, item, []))
    return found, []


def _rss_link(item: etree._Element) -> str | None:
    for enclosure in item.iter("enclosure"):
        if enclosure.get("url") and _is_cap_type(enclosure.get("type")):
            return enclosure.get("url")
    link = _text(_child(item, "link")) or _text(_child(item, f"{{{RSS10}}}link"))
    if link:
        return link
    guid = _child(item, "guid")
    if guid is not None and guid.get("isPermaLink", "true") != "false":
        text = _text(guid)
        if text and text.lower().startswith(("http://", "https://")):
            return text
    return None


def _link_entry(
    location: str,
    href: str | None,
    source: str,
    entry: etree._Element,
    warnings: list[CapIssue],
    atom_title: etree._Element | None = None,
) -> FoundLink:
    """An index entry: its link, title and ``cap:`` summary. ``atom_title`` is the entry's ``<title>`` when
    the caller has already looked it up (else None, and it is looked up here)."""
    title = (
        _text(atom_title if atom_title is not None else _child(entry, _ATOM_TITLE))
        or _text(_child(entry, "title"))
        or _text(_child(entry, f"{{{RSS10}}}title"))
    )
    found = FoundLink(location, None, title=title, index=_cap_summary(entry), warnings=warnings)
    if href is None:
        found.errors.append(
            CapIssue(location, "feed-entry-empty", "entry neither embeds a CAP alert nor links to one")
        )
        return found
    link, problem = resolve_link(href, source)
    if problem:
        found.errors.append(CapIssue(f"{location}/link", "feed-link", problem))
    found.link = link
    return found
