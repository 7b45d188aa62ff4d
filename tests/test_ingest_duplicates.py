"""A repeat is a duplicate however large the alert: an alert with a national-scale polygon (looked up
before its model is built) and a small one (left to the insert) both come back as the stored alert."""

from __future__ import annotations

import math
import re
from pathlib import Path

from sqlalchemy import func, select

from alertcast.cap.pool import CapReadPool
from alertcast.services.context import AppContext
from alertcast.services.ingest import ingest
from alertcast.store.alerts import COSTLY_MODEL_POINTS
from alertcast.store.models import Alert, AuditEntry
from tests.conftest import REPO

SAMPLE = REPO / "sample_alerts" / "01-river-flood-warning.xml"


def with_big_polygon(points: int) -> bytes:
    ring = [
        f"{32.3 + 0.01 * math.sin(2 * math.pi * n / points):.5f},{-106.7 + 0.01 * math.cos(2 * math.pi * n / points):.5f}"
        for n in range(points)
    ]
    polygon = " ".join([*ring, ring[0]]).encode()
    data = SAMPLE.read_bytes()
    assert b"<polygon>" in data
    return re.sub(rb"<polygon>[^<]*</polygon>", b"<polygon>" + polygon + b"</polygon>", data, count=1)


def test_repeats_of_large_and_small_alerts_are_duplicates_of_the_stored_one(
    ctx: AppContext, tmp_path: Path
) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(with_big_polygon(COSTLY_MODEL_POINTS * 4))
    small = tmp_path / "small.xml"
    small.write_bytes((REPO / "sample_alerts" / "06-road-closure-minor.xml").read_bytes())
    first = ingest(ctx, [str(big), str(small)], read_pool=CapReadPool(0))
    assert [r.result for r in first.records] == ["accepted", "accepted"]
    again = ingest(ctx, [str(big), str(small)], read_pool=CapReadPool(0))
    assert [r.result for r in again.records] == ["duplicate", "duplicate"]
    assert [r.alert_id for r in again.records] == [r.alert_id for r in first.records]
    with ctx.session() as session:
        assert session.execute(select(func.count()).select_from(Alert)).scalar() == 2
        assert session.execute(select(func.count()).select_from(AuditEntry)).scalar() == 2
        stored = session.get(Alert, first.records[0].alert_id)
        assert stored is not None
        assert len(stored.model["infos"][0]["areas"][0]["polygons"][0]) == COSTLY_MODEL_POINTS * 4 + 1
