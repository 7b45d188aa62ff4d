"""Each CAP rule: the failing value is reported with its element path and rule; warnings still accept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alertcast.cap import CapEntry, read_cap
from alertcast.core.cap_model import Circle

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
HEADER = {
    "identifier": "VAL-1",
    "sender": "validator@example.org",
    "sent": "2026-02-01T10:00:00-05:00",
    "status": "Actual",
    "msgType": "Alert",
    "scope": "Public",
}
INFO = {
    "category": "Met",
    "event": "Flood",
    "urgency": "Expected",
    "severity": "Severe",
    "certainty": "Likely",
    "expires": "2030-01-01T00:00:00-05:00",
}
AREA = "<area><areaDesc>Riverside</areaDesc></area>"
HEADER_ORDER = (
    "identifier",
    "sender",
    "sent",
    "status",
    "msgType",
    "source",
    "scope",
    "restriction",
    "addresses",
)
INFO_ORDER = ("language", "category", "event", "responseType", "urgency", "severity", "certainty", "expires")


def elements(values: dict[str, str | None], order: tuple[str, ...]) -> str:
    return "".join(f"<{name}>{values[name]}</{name}>" for name in order if values.get(name) is not None)


def info_xml(area: str = AREA, **changes: str | None) -> str:
    return f"<info>{elements({**INFO, **changes}, INFO_ORDER)}{area}</info>"


def alert_xml(
    *,
    infos: tuple[str, ...] | None = None,
    after_scope: str = "",
    version: str = CAP12,
    **changes: str | None,
) -> bytes:
    header = elements({**HEADER, **changes}, HEADER_ORDER)
    body = "".join(infos if infos is not None else (info_xml(),))
    return f'<alert xmlns="{version}">{header}{after_scope}{body}</alert>'.encode()


def read_one(document: bytes) -> CapEntry:
    result = read_cap(document, source="test")
    assert result.refusal is None, result.refusal
    (entry,) = result.entries
    return entry


def errors(document: bytes) -> set[tuple[str, str]]:
    return {(issue.path, issue.rule) for issue in read_one(document).errors}


def warnings(document: bytes) -> set[tuple[str, str]]:
    entry = read_one(document)
    assert not entry.errors, entry.errors
    return {(issue.path, issue.rule) for issue in entry.warnings}


def test_the_baseline_alert_is_clean() -> None:
    entry = read_one(alert_xml())
    assert entry.alert is not None and not entry.errors and not entry.warnings


@pytest.mark.parametrize("name", ["identifier", "sender", "sent", "status", "msgType", "scope"])
def test_required_alert_elements(name: str) -> None:
    assert errors(alert_xml(**{name: None})) == {(f"alert/{name}", "required")}
    assert errors(alert_xml(**{name: ""})) == {(f"alert/{name}", "required")}


@pytest.mark.parametrize("name", ["category", "event", "urgency", "severity", "certainty"])
def test_required_info_elements(name: str) -> None:
    document = alert_xml(infos=(info_xml(), info_xml(**{name: None})))
    assert errors(document) == {(f"alert/info[1]/{name}", "required")}


@pytest.mark.parametrize(
    ("name", "value"),
    [("status", "Real"), ("msgType", "Notice"), ("scope", "Everyone")],
)
def test_alert_enumerations(name: str, value: str) -> None:
    entry = read_one(alert_xml(**{name: value}))
    assert {(issue.path, issue.rule) for issue in entry.errors} == {(f"alert/{name}", "enumeration")}
    assert value in entry.errors[0].message and "allowed" in entry.errors[0].message


@pytest.mark.parametrize(
    ("name", "value", "path"),
    [
        ("category", "Weather", "alert/info[0]/category[0]"),
        ("responseType", "Run", "alert/info[0]/responseType[0]"),
        ("urgency", "Now", "alert/info[0]/urgency"),
        ("severity", "Bad", "alert/info[0]/severity"),
        ("certainty", "Sure", "alert/info[0]/certainty"),
    ],
)
def test_info_enumerations(name: str, value: str, path: str) -> None:
    assert errors(alert_xml(infos=(info_xml(**{name: value}),))) == {(path, "enumeration")}


def test_enumeration_case_slips_are_normalised_with_a_warning() -> None:
    document = alert_xml(status="actual", infos=(info_xml(severity="SEVERE"),))
    assert warnings(document) == {("alert/status", "enumeration"), ("alert/info[0]/severity", "enumeration")}
    alert = read_one(document).alert
    assert alert is not None and alert.status == "Actual" and alert.infos[0].severity == "Severe"


def test_values_from_other_cap_versions_are_understood() -> None:
    cap11 = "urn:oasis:names:tc:emergency:cap:1.1"
    assert warnings(alert_xml(version=cap11, infos=(info_xml(responseType="AllClear"),))) == {
        ("alert/info[0]/responseType[0]", "enumeration")
    }
    deprecated = read_one(alert_xml(infos=(info_xml(certainty="Very Likely"),)))
    assert deprecated.alert is not None and deprecated.alert.infos[0].certainty == "Likely"
    assert [issue.rule for issue in deprecated.warnings] == ["enumeration"]


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-01T10:00:00",
        "2026-02-01 10:00:00-05:00",
        "yesterday",
        "2026-02-30T10:00:00-05:00",
        "2026-02-01T10:00:00+25:00",
    ],
)
def test_unusable_date_times_are_errors(value: str) -> None:
    assert errors(alert_xml(sent=value)) == {("alert/sent", "datetime")}
    assert ("alert/info[0]/expires", "datetime") in errors(alert_xml(infos=(info_xml(expires=value),)))


def test_zulu_and_fractional_seconds_are_warnings_not_errors() -> None:
    assert warnings(alert_xml(sent="2026-02-01T15:00:00Z")) == {("alert/sent", "datetime-format")}
    assert warnings(alert_xml(sent="2026-02-01T15:00:00.250-00:00")) == {("alert/sent", "datetime-format")}
    cap11 = alert_xml(version="urn:oasis:names:tc:emergency:cap:1.1", sent="2026-02-01T15:00:00Z")
    assert warnings(cap11) == {("alert/sent", "datetime-format")}
    alert = read_one(alert_xml(sent="2026-02-01T15:00:00Z")).alert
    assert alert is not None and alert.sent == datetime(2026, 2, 1, 15, tzinfo=UTC)


@pytest.mark.parametrize("value", ["has space", "comma,inside", "amp&ersand"])
def test_identifier_and_sender_without_spaces_or_commas(value: str) -> None:
    escaped = value.replace("&", "&amp;")
    assert errors(alert_xml(identifier=escaped)) == {("alert/identifier", "no-spaces-or-commas")}
    assert errors(alert_xml(sender=escaped)) == {("alert/sender", "no-spaces-or-commas")}


@pytest.mark.parametrize("msg_type", ["Update", "Cancel", "Ack", "Error"])
def test_references_are_required_for_follow_up_messages(msg_type: str) -> None:
    assert errors(alert_xml(msgType=msg_type)) == {("alert/references", "references-required")}


def references(value: str) -> bytes:
    return alert_xml(msgType="Update", after_scope=f"<references>{value}</references>")


def test_references_are_parsed_into_the_model() -> None:
    triples = "a@example.org,ID-1,2026-01-31T08:00:00-05:00\n  b@example.org,ID-2,2026-01-31T09:30:00-05:00"
    alert = read_one(references(triples)).alert
    assert alert is not None
    assert [(ref.sender, ref.identifier, ref.sent.hour) for ref in alert.references] == [
        ("a@example.org", "ID-1", 8),
        ("b@example.org", "ID-2", 9),
    ]


@pytest.mark.parametrize(
    "value",
    [
        "a@example.org ID-1 2026-01-31T08:00:00-05:00",
        "a@example.org,ID-1",
        "a@example.org,ID-1,yesterday",
        ",,",
    ],
)
def test_malformed_references_are_errors(value: str) -> None:
    assert errors(references(value)) == {("alert/references", "references-format")}


def test_empty_references_on_an_alert_are_ignored_with_a_warning() -> None:
    assert warnings(alert_xml(after_scope="<references></references>")) == {
        ("alert/references", "empty-references")
    }


def test_private_scope_needs_addresses() -> None:
    assert errors(alert_xml(scope="Private")) == {("alert/addresses", "addresses-required")}
    alert = read_one(alert_xml(scope="Private", addresses='ops-1 "County Duty Officer" ops-2')).alert
    assert alert is not None and alert.addresses == ("ops-1", "County Duty Officer", "ops-2")


def test_restricted_scope_without_restriction_is_a_warning() -> None:
    assert warnings(alert_xml(scope="Restricted")) == {("alert/restriction", "restriction-missing")}


def polygon_area(*polygons: str) -> str:
    return (
        "<area><areaDesc>Zone</areaDesc>"
        + "".join(f"<polygon>{text}</polygon>" for text in polygons)
        + "</area>"
    )


CLOSED = "45.0,-75.0 45.0,-74.0 46.0,-74.0 45.0,-75.0"


def test_a_polygon_written_over_several_lines_is_no_format_slip() -> None:
    """Producers wrap long polygons; whitespace between points is allowed, only spaces at commas are slips."""
    wrapped = "45.0,-75.0\n      45.0,-74.0\t46.0,-74.0   45.0,-75.0\n"
    document = alert_xml(infos=(info_xml(area=polygon_area(wrapped)),))
    assert warnings(document) == set()
    alert = read_one(document).alert
    assert alert is not None and len(alert.infos[0].areas[0].polygons[0]) == 4


@pytest.mark.parametrize(
    ("polygon", "fragment"),
    [
        ("45.0,-75.0 45.0,-74.0 45.0,-75.0", "at least 4"),
        ("45.0,-75.0 45.0,-74.0 46.0,-74.0 46.0,-75.0", "not closed"),
        ("91.0,-75.0 45.0,-74.0 46.0,-74.0 91.0,-75.0", "latitude"),
        ("45.0,-181.0 45.0,-74.0 46.0,-74.0 45.0,-181.0", "longitude"),
        ("45.0;-75.0 45.0,-74.0 46.0,-74.0 45.0;-75.0", "pair"),
        ("nan,-75 45.0,-74.0 46.0,-74.0 nan,-75", "pair"),
        # Made of number characters only, yet not numbers: the fast path must hand them to the slow one.
        ("45.0.1,-75.0 45.0,-74.0 46.0,-74.0 45.0.1,-75.0", "pair"),
        ("45.0,- 45.0,-74.0 46.0,-74.0 45.0,-", "pair"),
        ("+-45.0,-75.0 45.0,-74.0 46.0,-74.0 +-45.0,-75.0", "pair"),
        ("45.0,-75.0 45.0,-74.0 46.0,-74.0 45.0,-75.0 .,.", "pair"),
    ],
)
def test_polygons_must_be_closed_rings_of_valid_coordinates(polygon: str, fragment: str) -> None:
    document = alert_xml(infos=(info_xml(), info_xml(area=AREA + polygon_area(CLOSED, polygon))))
    entry = read_one(document)
    assert {(issue.path, issue.rule) for issue in entry.errors} == {
        ("alert/info[1]/area[1]/polygon[1]", "polygon")
    }
    assert fragment in entry.errors[0].message


def test_good_polygons_become_points_and_slips_are_warnings() -> None:
    document = alert_xml(
        infos=(info_xml(area=polygon_area(CLOSED, "", "45.0, -75.0 45.0,-74.0 46.0,-74.0 45.0,-75.0")),)
    )
    assert warnings(document) == {
        ("alert/info[0]/area[0]/polygon[1]", "empty-polygon"),
        ("alert/info[0]/area[0]/polygon[2]", "coordinates-format"),
    }
    alert = read_one(document).alert
    assert alert is not None
    assert (
        alert.infos[0].areas[0].polygons
        == ((((45.0, -75.0), (45.0, -74.0), (46.0, -74.0), (45.0, -75.0))),) * 2
    )


@pytest.mark.parametrize(
    "circle", ["45.0,-75.0", "45.0,-75.0 -1", "95.0,-75.0 10", "45.0,-75.0 ten", "45.0,-75.0 1 2"]
)
def test_circles_need_a_valid_centre_and_radius(circle: str) -> None:
    area = f"<area><areaDesc>Zone</areaDesc><circle>{circle}</circle></area>"
    assert errors(alert_xml(infos=(info_xml(area=area),))) == {("alert/info[0]/area[0]/circle[0]", "circle")}


def test_good_circle_is_read_in_kilometres() -> None:
    area = "<area><areaDesc>Zone</areaDesc><circle>32.3052,-106.7614 2.5</circle></area>"
    alert = read_one(alert_xml(infos=(info_xml(area=area),))).alert
    assert alert is not None and alert.infos[0].areas[0].circles == (Circle((32.3052, -106.7614), 2.5),)


def test_expires_not_after_sent_is_accepted_with_a_warning() -> None:
    document = alert_xml(infos=(info_xml(expires="2026-02-01T09:59:59-05:00"),))
    assert warnings(document) == {("alert/info[0]/expires", "expires-not-after-sent")}


def test_area_needs_a_description_and_numeric_altitudes() -> None:
    area = "<area><polygon>" + CLOSED + "</polygon><altitude>high</altitude></area>"
    assert errors(alert_xml(infos=(info_xml(area=area),))) == {
        ("alert/info[0]/area[0]/areaDesc", "required"),
        ("alert/info[0]/area[0]/altitude", "number"),
    }
    ceiling_only = "<area><areaDesc>Zone</areaDesc><ceiling>1000</ceiling></area>"
    assert warnings(alert_xml(infos=(info_xml(area=ceiling_only),))) == {
        ("alert/info[0]/area[0]/ceiling", "ceiling-without-altitude")
    }


def test_geocodes_with_empty_values_are_dropped_with_a_warning() -> None:
    area = (
        "<area><areaDesc>Zone</areaDesc>"
        "<geocode><valueName>FIPS6</valueName><value></value></geocode>"
        "<geocode><valueName>FIPS6</valueName><value>006037</value></geocode></area>"
    )
    document = alert_xml(infos=(info_xml(area=area),))
    assert warnings(document) == {("alert/info[0]/area[0]/geocode[0]", "geocode")}
    alert = read_one(document).alert
    assert alert is not None and [code.value for code in alert.infos[0].areas[0].geocodes] == ["006037"]


def test_language_tag_form_is_a_warning() -> None:
    assert warnings(alert_xml(infos=(info_xml(language="en_US"),))) == {
        ("alert/info[0]/language", "language")
    }


def test_repeated_singletons_conflicting_values_are_errors() -> None:
    assert errors(alert_xml(after_scope="<note>a</note><note>b</note>")) == {
        ("alert/note", "repeated-element")
    }
    assert warnings(alert_xml(after_scope="<note>a</note><note>a</note>")) == {
        ("alert/note", "repeated-element")
    }


def test_all_failures_are_reported_not_only_the_first() -> None:
    document = alert_xml(
        identifier="two words", sent="soon", infos=(info_xml(urgency=None, certainty="Sure"),)
    )
    assert errors(document) == {
        ("alert/identifier", "no-spaces-or-commas"),
        ("alert/sent", "datetime"),
        ("alert/info[0]/urgency", "required"),
        ("alert/info[0]/certainty", "enumeration"),
    }
