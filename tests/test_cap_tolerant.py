"""Deviations that do not make an alert wrong are accepted, each with a warning naming it."""

from __future__ import annotations

from alertcast.cap import CapReadResult, read_cap

CAP10 = "http://www.incident.com/cap/1.0"
CAP11 = "urn:oasis:names:tc:emergency:cap:1.1"
CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
EDXL = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"

HEADER = (
    "<identifier>{ident}</identifier><sender>ops@example.org</sender><sent>2026-03-01T12:00:00+01:00</sent>"
    "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>"
)
INFO = (
    "<info><category>Fire</category><event>Forest fire</event><urgency>Immediate</urgency>"
    "<severity>Extreme</severity><certainty>Observed</certainty>{resource}"
    "<area><areaDesc>North ridge</areaDesc><polygon>47.1,8.1 47.2,8.1 47.2,8.2 47.1,8.1</polygon>"
    "<geocode><valueName>ZIP</valueName><value>08001</value></geocode></area></info>"
)
OUT_OF_ORDER = (
    "<identifier>{ident}</identifier><sent>2026-03-01T12:00:00+01:00</sent><sender>ops@example.org</sender>"
    "<scope>Public</scope><msgType>Alert</msgType><status>Actual</status>"
    "<info><event>Forest fire</event><category>Fire</category><certainty>Observed</certainty>"
    "<urgency>Immediate</urgency><severity>Extreme</severity>"
    "<area><geocode><valueName>ZIP</valueName><value>08001</value></geocode>"
    "<polygon>47.1,8.1 47.2,8.1 47.2,8.2 47.1,8.1</polygon><areaDesc>North ridge</areaDesc></area></info>"
)


def alert(
    ident: str = "T-1", namespace: str | None = CAP12, body: str | None = None, resource: str = ""
) -> str:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    content = body if body is not None else HEADER + INFO.format(resource=resource)
    return f"<alert{xmlns}>{content.format(ident=ident)}</alert>"


def read(text: str) -> CapReadResult:
    return read_cap(text.encode(), source="tolerant-test")


def warning_rules(result: CapReadResult) -> list[str]:
    return [warning.rule for entry in result.entries for warning in entry.warnings]


def test_elements_out_of_schema_order_read_the_same_alert() -> None:
    ordered = read(alert())
    shuffled = read(alert(body=OUT_OF_ORDER))
    assert shuffled.accepted, shuffled.problems()
    assert shuffled.alerts == ordered.alerts
    order_warnings = [w for w in shuffled.entries[0].warnings if w.rule == "element-order"]
    assert {w.path for w in order_warnings} == {"alert", "alert/info[0]", "alert/info[0]/area[0]"}
    assert any("<sender>" in w.message and "<sent>" in w.message for w in order_warnings)


def test_resource_without_uri_is_accepted_and_its_embedded_content_kept() -> None:
    resource = "<resource><resourceDesc>Map</resourceDesc><mimeType>image/png</mimeType><derefUri>iVBORw0K</derefUri></resource>"
    result = read(alert(resource=resource))
    assert result.accepted, result.problems()
    (found,) = result.alerts[0].infos[0].resources
    assert (found.uri, found.deref_uri, found.mime_type) == (None, "iVBORw0K", "image/png")
    assert warning_rules(result) == ["resource-without-uri"]


def test_cap11_resource_without_mime_type_is_accepted() -> None:
    resource = (
        "<resource><resourceDesc>Advisory</resourceDesc><uri>https://example.org/a.gif</uri></resource>"
    )
    result = read(alert(namespace=CAP11, resource=resource))
    assert result.accepted and warning_rules(result) == []
    assert result.alerts[0].infos[0].resources[0].mime_type == ""


def test_cap10_document_is_read_with_cap10_rules() -> None:
    body = (
        "<identifier>OLD-1</identifier><sender>ops@example.org</sender><sent>2004-06-01T10:00:00Z</sent>"
        "<status>Actual</status><msgType>Alert</msgType><password>secret</password>"
        "<info><event>Tornado</event><urgency>Immediate</urgency><severity>Extreme</severity>"
        "<certainty>Very Likely</certainty><eventCode>same=TOR</eventCode>"
        "<area><areaDesc>County</areaDesc><geocode>fips6=006037</geocode></area></info>"
    )
    result = read(alert(namespace=CAP10, body=body))
    assert result.accepted, result.problems()
    (parsed,) = result.alerts
    assert parsed.version == "1.0" and parsed.scope == "Public"
    assert parsed.infos[0].categories == () and parsed.infos[0].certainty == "Likely"
    assert parsed.infos[0].areas[0].geocodes[0].value == "006037"
    assert sorted(warning_rules(result)) == ["cap10", "datetime-format", "scope-missing"]


def test_wrapper_root_holding_several_alerts() -> None:
    result = read(f"<alerts>{alert('W-1')}{alert('W-2', namespace=CAP11)}</alerts>")
    assert result.kind == "wrapper" and result.accepted, result.problems()
    assert [a.identifier for a in result.alerts] == ["W-1", "W-2"]
    assert [a.version for a in result.alerts] == ["1.2", "1.1"]
    assert [entry.location for entry in result.entries] == ["alerts/alert[0]", "alerts/alert[1]"]
    assert warning_rules(result) == ["wrapper-root", "wrapper-root"]


def test_one_bad_alert_in_a_wrapper_does_not_sink_the_others() -> None:
    result = read(f"<alerts>{alert('GOOD')}{alert('BAD ID')}</alerts>")
    assert not result.accepted
    assert [a.identifier for a in result.alerts] == ["GOOD"]
    assert [error.rule for entry in result.rejected for error in entry.errors] == ["no-spaces-or-commas"]


def edxl(*contents: str) -> str:
    objects = "".join(f"<contentObject>{content}</contentObject>" for content in contents)
    return (
        f'<EDXLDistribution xmlns="{EDXL}"><distributionID>D-1</distributionID>{objects}</EDXLDistribution>'
    )


def test_edxl_with_several_alerts_in_one_content_object() -> None:
    embedded = (
        f"<xmlContent><embeddedXMLContent>{alert('E-1')}{alert('E-2')}</embeddedXMLContent></xmlContent>"
    )
    result = read(edxl(embedded))
    assert result.kind == "edxl" and result.accepted, result.problems()
    assert [a.identifier for a in result.alerts] == ["E-1", "E-2"]
    assert warning_rules(result) == ["edxl-several-alerts", "edxl-several-alerts"]


def test_edxl_link_to_a_cap_document_becomes_a_link_entry() -> None:
    linked = (
        "<nonXMLContent><mimeType>application/cap+xml</mimeType>"
        "<uri>https://alerts.example.org/cap/E-9.xml</uri></nonXMLContent>"
    )
    result = read(edxl(linked))
    assert result.accepted and result.links == ("https://alerts.example.org/cap/E-9.xml",)


def test_edxl_without_any_alert_is_refused() -> None:
    result = read(
        edxl(
            "<nonXMLContent><mimeType>image/png</mimeType><uri>https://x.example/a.png</uri></nonXMLContent>"
        )
    )
    assert result.refusal is not None and result.refusal.rule == "no-cap-alert"


def test_alert_without_namespace_is_read_as_cap12() -> None:
    result = read(alert(namespace=None))
    assert result.accepted, result.problems()
    assert result.alerts[0].version == "1.2"
    assert warning_rules(result) == ["missing-namespace"]


def test_unknown_elements_are_named_and_skipped() -> None:
    body = HEADER + "<reference>x</reference>" + INFO.format(resource="")
    result = read(alert(body=body))
    assert result.accepted
    (warning,) = result.entries[0].warnings
    assert (warning.path, warning.rule) == ("alert/reference", "unknown-element")


def test_elements_from_another_cap_namespace_are_named_and_skipped() -> None:
    body = HEADER + f'<note xmlns="{CAP11}">old</note>' + INFO.format(resource="")
    result = read(alert(body=body))
    assert result.accepted and result.alerts[0].note is None
    assert [(w.path, w.rule) for w in result.entries[0].warnings] == [("alert/note", "unknown-element")]


def test_schema_deviations_no_rule_explains_are_still_reported() -> None:
    extension = '<ext:priority xmlns:ext="urn:example:extension">high</ext:priority>'
    body = HEADER.replace("<status>", extension + "<status>") + INFO.format(resource="")
    result = read(alert(body=body))
    assert result.accepted, result.problems()
    (warning,) = result.entries[0].warnings
    assert warning.rule == "schema-deviation" and warning.path == "alert/priority"
    assert "CAP 1.2 schema" in warning.message and "{" not in warning.message


def test_signed_alert_warns_that_the_signature_is_not_verified() -> None:
    signature = '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature>'
    result = read(alert(body=HEADER + INFO.format(resource="") + signature))
    assert result.accepted
    assert warning_rules(result) == ["signature-not-verified"]
