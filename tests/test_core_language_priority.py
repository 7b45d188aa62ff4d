"""Language choice and the priority scale."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from alertcast.core.cap_model import Alert, Info
from alertcast.core.language import alert_languages, best_language_index, pick_info
from alertcast.core.priority import Priority, alert_priority, parse_priority, priority_from_cap


def info(
    language: str, severity: str = "Severe", urgency: str = "Immediate", certainty: str = "Observed"
) -> Info:
    return Info(
        language=language,
        categories=("Met",),
        event=f"event {language}",
        urgency=urgency,
        severity=severity,
        certainty=certainty,
    )


def alert(*infos: Info, status: str = "Actual") -> Alert:
    return Alert(
        identifier="id-1",
        sender="sender@example.org",
        sent=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        status=status,
        msg_type="Alert",
        scope="Public",
        infos=infos,
    )


@pytest.mark.parametrize(
    ("languages", "wanted", "expected"),
    [
        (["en-US", "es-US"], "es-US", 1),
        (["en-US", "ES-us"], "es-us", 1),  # case-insensitive
        (["en-US", "es_US"], "es-US", 1),  # "_" written for "-"
        (["en-US", "es-419"], "es", 1),  # language without region matches a regional block
        (["en-US", "es"], "es-MX", 1),  # and the other way round
        (["en-US", "es-419", "es"], "es-MX", 2),  # the plain language beats another region
        (["en-US", "es-419", "es-ES"], "es-MX", 1),  # otherwise the first of the language
        (["fr-CA", "en-CA"], "de-DE", 0),  # nothing matches: the alert's first block
        (["fr-CA", "en-CA"], None, 0),  # reader without a language
        (["", "fr"], "en-US", 0),  # missing CAP language means en-US
        (["fr", ""], "en", 1),
        ([], "en", None),
    ],
)
def test_best_language_index(languages: list[str], wanted: str | None, expected: int | None) -> None:
    assert best_language_index(languages, wanted) == expected


def test_pick_info_and_languages() -> None:
    english, french = info("en-CA"), info("fr-CA")
    both = alert(english, french)
    assert pick_info(both, "fr") is french
    assert pick_info(both, "FR-ca") is french
    assert pick_info(both, "uk") is english
    assert pick_info(alert(), "en") is None
    assert alert_languages(alert(english, french, info("EN-ca"), info(""))) == ("en-ca", "fr-ca", "en-us")


SEVERITIES = ("Minor", "Moderate", "Severe", "Extreme")
URGENCIES = ("Past", "Future", "Expected", "Immediate")


@pytest.mark.parametrize(
    ("severity", "urgency", "certainty", "expected"),
    [
        ("Extreme", "Immediate", "Observed", Priority.CRITICAL),
        ("extreme", "IMMEDIATE", "likely", Priority.CRITICAL),
        ("Extreme", "Immediate", "Possible", Priority.SEVERE),
        ("Extreme", "Expected", "Likely", Priority.SEVERE),
        ("Extreme", "Unknown", "Unknown", Priority.SEVERE),
        ("Severe", "Immediate", "Observed", Priority.SEVERE),
        ("Severe", "Expected", "Likely", Priority.HIGH),
        ("Moderate", "Immediate", "Observed", Priority.HIGH),
        ("Unknown", "Immediate", "Observed", Priority.HIGH),
        ("Minor", "Immediate", "Observed", Priority.ELEVATED),
        ("Minor", "Future", "Unlikely", Priority.ROUTINE),
        ("Extreme", "Past", "Observed", Priority.ROUTINE),
    ],
)
def test_priority_table(severity: str, urgency: str, certainty: str, expected: Priority) -> None:
    assert priority_from_cap(urgency, severity, certainty) == expected


@pytest.mark.parametrize("certainty", ["Observed", "Likely", "Possible", "Unlikely", "Unknown"])
def test_priority_never_falls_as_severity_or_urgency_rise(certainty: str) -> None:
    for s_index, severity in enumerate(SEVERITIES):
        for u_index, urgency in enumerate(URGENCIES):
            level = priority_from_cap(urgency, severity, certainty)
            if s_index + 1 < len(SEVERITIES):
                assert priority_from_cap(urgency, SEVERITIES[s_index + 1], certainty) >= level
            if u_index + 1 < len(URGENCIES):
                assert priority_from_cap(URGENCIES[u_index + 1], severity, certainty) >= level


def test_alert_priority_takes_the_highest_block_and_caps_drills() -> None:
    mixed = alert(info("en", "Minor", "Future"), info("fr", "Extreme", "Immediate"))
    assert alert_priority(mixed) == Priority.CRITICAL
    assert alert_priority(replace(mixed, status="Exercise")) == Priority.ELEVATED
    assert alert_priority(alert(info("en", "Minor", "Future"), status="Test")) == Priority.ROUTINE
    assert alert_priority(alert()) == Priority.ELEVATED


def test_operator_priority_and_smpp_flag() -> None:
    assert parse_priority("Critical") is Priority.CRITICAL
    assert parse_priority(" 2 ") is Priority.HIGH
    assert parse_priority(0) is Priority.ROUTINE
    for bad in ("urgent", 5, "-1", ""):
        with pytest.raises(ValueError, match="choose one of 0=routine"):
            parse_priority(bad)
    flags = [level.smpp_priority_flag for level in Priority]
    assert flags == sorted(flags) and set(flags) <= {0, 1, 2, 3} and flags[0] == 0 and flags[-1] == 3
