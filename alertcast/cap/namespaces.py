"""XML namespaces the CAP layer recognises, and the CAP version each CAP namespace stands for."""

from __future__ import annotations

import functools

CAP10 = "http://www.incident.com/cap/1.0"
CAP11 = "urn:oasis:names:tc:emergency:cap:1.1"
CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "http://www.w3.org/2005/Atom"
EDXL_DE = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"
RSS10 = "http://purl.org/rss/1.0/"
XML_DSIG = "http://www.w3.org/2000/09/xmldsig#"

CAP_VERSIONS: dict[str, str] = {CAP10: "1.0", CAP11: "1.1", CAP12: "1.2"}
"""CAP namespace URI -> version string as stored in :attr:`Alert.version`."""

VERSION_ASSUMED_WITHOUT_NAMESPACE = "1.2"


@functools.lru_cache(maxsize=4096)
def split_tag(tag: object) -> tuple[str | None, str]:
    """``{ns}local`` -> ``(ns, local)``; comments and processing instructions give ``(None, "")``.

    Cached: a document repeats a few dozen tag names thousands of times (an index feed runs this for
    every child of every entry), and the bound keeps hostile documents with endless new names harmless."""
    if not isinstance(tag, str):
        return None, ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def is_cap_alert_tag(tag: object) -> bool:
    """True for ``<alert>`` in any CAP namespace, or in no namespace (some producers omit it)."""
    namespace, local = split_tag(tag)
    return local == "alert" and (namespace is None or namespace in CAP_VERSIONS)
