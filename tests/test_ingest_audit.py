"""Every alert an ingest stores is audited once, in the run's transaction, whether written one by one
(a relay storing a document) or together at the end of an ``alertcast ingest`` run."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session

from alertcast.cap import read_cap
from alertcast.cap.pool import CapReadPool
from alertcast.services.audit import AuditBatch
from alertcast.services.context import AppContext
from alertcast.services.ingest import ingest, ingest_entries
from alertcast.store.models import AuditEntry
from tests.conftest import REPO

SAMPLES = REPO / "sample_alerts"


def audit_rows(ctx: AppContext) -> list[tuple[str, str, str, dict[str, object]]]:
    with ctx.session() as session:
        entries = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        return [(e.actor, e.action, e.subject, e.detail) for e in entries]


def test_a_run_audits_each_stored_alert_once_in_storing_order(ctx: AppContext) -> None:
    report = ingest(ctx, [str(SAMPLES)], read_pool=CapReadPool(0))
    accepted = [r for r in report.records if r.result == "accepted"]
    assert len(accepted) == 7
    assert audit_rows(ctx) == [
        ("tester", "alert.ingest", f"alert {r.alert_id}", {"source": r.source, "flags": r.flags})
        for r in accepted
    ]
    ingest(ctx, [str(SAMPLES)], read_pool=CapReadPool(0))  # all duplicates: nothing new to audit
    assert len(audit_rows(ctx)) == 7


def test_a_dry_run_audits_nothing(ctx: AppContext) -> None:
    ingest(ctx, [str(SAMPLES)], dry_run=True, read_pool=CapReadPool(0))
    assert audit_rows(ctx) == []


def test_one_document_is_audited_at_once_or_when_the_batch_is_written(ctx: AppContext) -> None:
    now = datetime.now(UTC)
    first, second = (SAMPLES / "01-river-flood-warning.xml"), (SAMPLES / "04-chlorine-release-shelter.xml")
    with Session(ctx.engine) as session:
        data = first.read_bytes()
        ingest_entries(session, read_cap(data, source=str(first)), data, now=now, operator="relay")
        session.commit()
    assert [row[2] for row in audit_rows(ctx)] == ["alert 1"]
    batch = AuditBatch()
    with Session(ctx.engine) as session:
        data = second.read_bytes()
        result = read_cap(data, source=str(second))
        ingest_entries(session, result, data, now=now, operator="relay", audit_batch=batch)
        assert session.execute(select(AuditEntry.id)).all() == [(1,)]  # noted, not yet written
        batch.write(session)
        session.commit()
    assert [row[2] for row in audit_rows(ctx)] == ["alert 1", "alert 2"]
