"""Broadcast eligibility from status, message type and expiry, at a given instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from alertcast.core.cap_eligibility import broadcast_eligibility
from alertcast.core.cap_model import Alert, Info

SENT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def make_alert(status: str = "Actual", msg_type: str = "Alert", *expires: datetime | None) -> Alert:
    infos = tuple(
        Info(
            language="en-US",
            categories=("Safety",),
            event="Test",
            urgency="Immediate",
            severity="Severe",
            certainty="Observed",
            expires=moment,
        )
        for moment in expires
    )
    return Alert("E-1", "ops@example.org", SENT, status, msg_type, "Public", infos=infos)


@pytest.mark.parametrize("status", ["Test", "System", "Draft"])
def test_non_public_statuses_are_never_broadcast(status: str) -> None:
    verdict = broadcast_eligibility(make_alert(status), SENT)
    assert (
        verdict.not_for_broadcast
        and not verdict.live_broadcast_allowed
        and not verdict.drill_broadcast_allowed
    )
    assert status in verdict.reasons[0]


@pytest.mark.parametrize("msg_type", ["Ack", "Error"])
def test_system_message_types_are_never_broadcast(msg_type: str) -> None:
    assert broadcast_eligibility(make_alert("Actual", msg_type), SENT).not_for_broadcast


def test_exercise_is_drill_only_and_actual_is_live() -> None:
    exercise = broadcast_eligibility(make_alert("Exercise"), SENT)
    assert exercise.drill_only and exercise.drill_broadcast_allowed and not exercise.live_broadcast_allowed
    assert broadcast_eligibility(make_alert("Actual", "Cancel"), SENT).live_broadcast_allowed


def test_expiry_uses_the_latest_info_and_compares_instants_across_zones() -> None:
    early, late = SENT + timedelta(hours=1), SENT + timedelta(hours=3)
    alert = make_alert("Actual", "Alert", early, late, None)
    assert not broadcast_eligibility(alert, SENT + timedelta(hours=2)).expired
    at_expiry = late.astimezone(timezone(timedelta(hours=-7)))
    assert broadcast_eligibility(alert, at_expiry).expired
    assert not broadcast_eligibility(make_alert("Actual", "Alert", None), SENT + timedelta(days=3650)).expired


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        broadcast_eligibility(make_alert(), datetime(2026, 3, 1, 12))
