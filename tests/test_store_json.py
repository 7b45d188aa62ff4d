"""The store's JSON columns: written by orjson (fast floats), read back as the values ``json`` gives.

A stored alert model is read back for rendering and targeting long after ingest, by whatever store holds
it, so the model of an alert with a national-scale polygon must come back point for point, on SQLite and on
PostgreSQL alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from alertcast.cap.pool import CapReadPool
from alertcast.config import Config
from alertcast.core.cap_json import alert_from_json, alert_to_json
from alertcast.services.audit import record
from alertcast.services.context import AppContext
from alertcast.services.ingest import ingest
from alertcast.store.db import create_db_engine, json_text
from alertcast.store.models import Alert, AuditEntry
from tests.test_ingest_duplicates import with_big_polygon


def test_json_text_writes_what_json_dumps_writes_minus_spaces() -> None:
    values = {
        "polygons": (((51.123456789, -3.5), (1e-07, 180.0), (-0.0, 12.0)),),
        "text": 'Évacuez — 避難 "now"\n',
        1: [True, None, 2**63 - 1],
    }
    assert json.loads(json_text(values)) == json.loads(json.dumps(values))
    assert json_text([1.5, "a"]) == '[1.5,"a"]'


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, db_url: str) -> Iterator[AppContext]:
    url = db_url if request.param == "sqlite" else request.getfixturevalue("pg_cluster").create_database("js")
    app = AppContext(Config(db_url=url, operator="tester"), create_db_engine(url))
    yield app
    app.close()


def test_a_stored_model_reads_back_point_for_point(store: AppContext, tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(with_big_polygon(3000))
    report = ingest(store, [str(big)], read_pool=CapReadPool(0))
    assert [r.result for r in report.records] == ["accepted"]
    with store.session() as session:
        stored = session.get(Alert, report.records[0].alert_id)
        assert stored is not None
        # The raw column text, as another reader of the database would see it.
        raw = session.execute(text("SELECT model FROM alert WHERE id = :id"), {"id": stored.id}).scalar()
        record(session, "tester", "check", "x", points=[0.1, 2.5e-05], note="naïve")
        session.commit()
        detail = {"points": [0.1, 2.5e-05], "note": "naïve"}
        entry = session.execute(text("SELECT detail FROM audit_log WHERE action = 'check'")).scalar()
        assert (json.loads(entry) if isinstance(entry, str) else entry) == detail
        audit = session.execute(select(AuditEntry).where(AuditEntry.action == "check")).scalar_one()
        assert audit.detail == detail
    model = alert_from_json(stored.model)
    points = model.infos[0].areas[0].polygons[0]
    assert len(points) == 3001 and points[0] == points[-1]
    if isinstance(raw, str):  # SQLite keeps the text the engine wrote: the fast encoder's, exactly
        assert raw == json_text(alert_to_json(model))
    from_raw = json.loads(raw) if isinstance(raw, str) else raw
    assert alert_from_json(from_raw) == model
    assert json.loads(json.dumps(alert_to_json(model))) == from_raw
