"""The project's own sample alerts are clean CAP 1.2 and cover what the demo and other tests rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest

from alertcast.cap import broadcast_eligibility, read_cap
from alertcast.core.cap_model import Alert

SAMPLES = Path(__file__).resolve().parents[1] / "sample_alerts"
ALERT_FILES = sorted(SAMPLES.glob("*.xml"))
DEMO_INSTANT = datetime(2026, 7, 1, tzinfo=UTC)  # after every sample was sent, long before they expire


def load(name: str) -> Alert:
    (alert,) = read_cap((SAMPLES / name).read_bytes(), source=str(SAMPLES / name)).alerts
    return alert


def all_alerts() -> dict[str, Alert]:
    return {path.name: load(path.name) for path in ALERT_FILES}


@pytest.mark.parametrize("path", ALERT_FILES, ids=lambda path: path.name)
def test_sample_is_clean_cap12(path: Path) -> None:
    result = read_cap(path.read_bytes(), source=str(path))
    assert result.accepted, result.problems()
    (entry,) = result.entries
    assert entry.warnings == ()  # no deviation, no schema finding: samples are the reference
    assert entry.alert is not None and entry.alert.version == "1.2"
    assert entry.alert.sent.year == 2026


def test_samples_cover_the_cases_the_demo_needs() -> None:
    alerts = list(all_alerts().values())
    infos = [info for alert in alerts for info in alert.infos]
    areas = [area for info in infos for area in info.areas]
    assert any({"en-US", "es-US"} <= {info.language for info in alert.infos} for alert in alerts)
    assert any(area.polygons for area in areas) and any(area.circles for area in areas)
    assert any(area.geocodes and not area.polygons and not area.circles for area in areas)
    assert {alert.msg_type for alert in alerts} >= {"Alert", "Update", "Cancel"}
    assert any(alert.status == "Exercise" for alert in alerts)
    assert any(info.severity == "Extreme" and info.urgency == "Immediate" for info in infos)
    assert any(info.severity == "Minor" for info in infos if info.urgency != "Past")


def test_update_and_cancel_reference_earlier_samples_exactly() -> None:
    alerts = all_alerts()
    first = alerts["01-river-flood-warning.xml"]
    update = alerts["02-river-flood-warning-update.xml"]
    cancel = alerts["03-river-flood-warning-cancel.xml"]

    def keys(alert: Alert) -> list[tuple[str, str, str]]:
        return [(ref.sender, ref.identifier, ref.sent.isoformat()) for ref in alert.references]

    assert update.msg_type == "Update" and keys(update) == [first.key]
    assert cancel.msg_type == "Cancel" and keys(cancel) == [first.key, update.key]


def test_exactly_one_sample_is_expired_and_the_rest_last_until_2030() -> None:
    alerts = all_alerts()
    expired = [name for name, alert in alerts.items() if broadcast_eligibility(alert, DEMO_INSTANT).expired]
    assert expired == ["07-heat-advisory-expired.xml"]
    assert broadcast_eligibility(alerts["07-heat-advisory-expired.xml"], datetime.now(UTC)).expired
    for name, alert in alerts.items():
        if name not in expired:
            assert alert.expires is not None and alert.expires.year >= 2030, name


def test_broadcast_eligibility_of_the_samples() -> None:
    alerts = all_alerts()
    drill = broadcast_eligibility(alerts["05-evacuation-drill-exercise.xml"], DEMO_INSTANT)
    assert drill.drill_only and not drill.live_broadcast_allowed and drill.drill_broadcast_allowed
    live = broadcast_eligibility(alerts["04-chlorine-release-shelter.xml"], DEMO_INSTANT)
    assert live.live_broadcast_allowed and live.reasons == ()
    old = broadcast_eligibility(alerts["07-heat-advisory-expired.xml"], DEMO_INSTANT)
    assert not old.live_broadcast_allowed and not old.drill_broadcast_allowed and "expired" in old.reasons[0]
    just_before_expiry = alerts["07-heat-advisory-expired.xml"].expires - timedelta(seconds=1)  # type: ignore[operator]
    assert broadcast_eligibility(
        alerts["07-heat-advisory-expired.xml"], just_before_expiry
    ).live_broadcast_allowed


def test_sample_feed_indexes_samples_by_relative_link() -> None:
    feed = SAMPLES / "feed.atom"
    result = read_cap(feed.read_bytes(), source="https://alerts.valle-brisa.example/cap/feed.atom")
    assert result.kind == "atom" and result.accepted, result.problems()
    assert len(result.entries) >= 3
    for entry in result.entries:
        assert entry.link is not None and entry.link.startswith("https://alerts.valle-brisa.example/cap/")
        linked = SAMPLES / entry.link.rsplit("/", 1)[1]
        assert load(linked.name).identifier == entry.index["identifier"]


def test_sample_feed_read_from_disk_links_to_the_files_beside_it() -> None:
    feed = SAMPLES / "feed.atom"
    result = read_cap(feed.read_bytes(), source=str(feed))
    assert result.accepted
    assert result.links
    for link in result.links:
        assert urlsplit(link).scheme == "file"
        assert Path(url2pathname(urlsplit(link).path)).parent == SAMPLES.resolve()
        assert Path(url2pathname(urlsplit(link).path)).is_file()
