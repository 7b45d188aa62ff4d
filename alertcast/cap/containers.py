"""Non-feed containers of CAP alerts: EDXL-DE distributions and ad-hoc wrapper roots.

EDXL-DE carries alerts in ``contentObject/xmlContent/embeddedXMLContent`` (or links to one from
``nonXMLContent/uri``). capparselib reads only the first alert of each ``embeddedXMLContent``; all are read
here, with a warning naming that deviation. A root that is neither CAP, a feed nor EDXL-DE (an ``<alerts>``
list some systems export) is searched for CAP alerts, each read on its own, with a warning.
"""

from __future__ import annotations

from lxml import etree

from alertcast.cap.found import Found, FoundAlert, FoundLink, find_alert_elements, location_of, resolve_link
from alertcast.cap.guard import CapRefused
from alertcast.cap.issues import CapIssue
from alertcast.cap.namespaces import EDXL_DE, split_tag

EDXL_ROOT = f"{{{EDXL_DE}}}EDXLDistribution"


def read_edxl(root: etree._Element, source: str) -> list[Found]:
    found: list[Found] = []
    for content_object in root.iter(f"{{{EDXL_DE}}}contentObject"):
        for embedded in content_object.iter(f"{{{EDXL_DE}}}embeddedXMLContent"):
            alerts = find_alert_elements(embedded)
            warnings = []
            if len(alerts) > 1:
                warnings.append(
                    CapIssue(
                        location_of(embedded),
                        "edxl-several-alerts",
                        f"one embeddedXMLContent holds {len(alerts)} CAP alerts (EDXL-DE expects one); each is read",
                    )
                )
            found.extend(FoundAlert(location_of(alert), alert, list(warnings)) for alert in alerts)
        for non_xml in content_object.iter(f"{{{EDXL_DE}}}nonXMLContent"):
            media_type = (non_xml.findtext(f"{{{EDXL_DE}}}mimeType") or "").lower()
            uri = non_xml.findtext(f"{{{EDXL_DE}}}uri")
            if uri and "cap" in media_type:
                location = location_of(non_xml)
                link, problem = resolve_link(uri, source)
                entry = FoundLink(location, link)
                if problem:
                    entry.errors.append(CapIssue(f"{location}/uri", "edxl-link", problem))
                found.append(entry)
    if not found:
        raise CapRefused("no-cap-alert", "EDXL-DE distribution carries no CAP alert and links to none")
    return found


def read_wrapper(root: etree._Element) -> list[Found]:
    alerts = find_alert_elements(root)
    namespace, local = split_tag(root.tag)
    if not alerts:
        shown = f"{{{namespace}}}{local}" if namespace else local
        raise CapRefused(
            "no-cap-alert", f"no CAP alert found: root element <{shown}> is not a CAP alert, feed or EDXL-DE"
        )
    warning = CapIssue(
        local,
        "wrapper-root",
        f"{len(alerts)} alert(s) inside a <{local}> wrapper, which is not a CAP container; each is read on its own",
    )
    return [FoundAlert(location_of(alert), alert, [warning]) for alert in alerts]
