"""Ingest into a real SQLite store: duplicates, Update/Cancel links, dry runs, URLs over real HTTP."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from alertcast.cap import read_cap
from alertcast.core.cap_json import alert_from_json, alert_to_json
from alertcast.services.context import AppContext
from alertcast.services.ingest import ingest
from alertcast.store.models import Alert, AlertReference, Delivery
from alertcast.store.outbox import create_broadcast
from alertcast.store.outbox_types import BroadcastSpec, MessageText, Recipient
from tests.conftest import REPO

SAMPLES = REPO / "sample_alerts"
CORPUS = REPO.parent / "shared" / "cap-corpus"


def rows(ctx: AppContext) -> dict[str, Alert]:
    with ctx.session() as session:
        return {a.identifier: a for a in session.execute(select(Alert)).scalars()}


def test_samples_are_stored_verbatim_with_links_and_flags(ctx: AppContext) -> None:
    report = ingest(ctx, [str(SAMPLES)])
    assert report.ok
    counts = report.counts()
    assert counts["accepted"] == 7
    # feed.atom links to four samples already read from the folder: recognised, not stored twice.
    assert counts["duplicate"] == 4
    stored = rows(ctx)
    assert len(stored) == 7
    first = stored["VB-EM-2026-0001"]
    assert first.raw_xml == (SAMPLES / "01-river-flood-warning.xml").read_bytes()
    assert first.cancelled and first.superseded_by == stored["VB-EM-2026-0002"].id
    assert first.cancelled_by == stored["VB-EM-2026-0003"].id
    assert stored["VB-EX-2026-0005"].drill_only and stored["VB-EX-2026-0005"].public
    assert not stored["VB-EM-2026-0007"].public  # expired
    assert alert_from_json(first.model).identifier == "VB-EM-2026-0001"
    again = ingest(ctx, [str(SAMPLES)])
    assert again.counts() == {"duplicate": 11}
    assert len(rows(ctx)) == 7


def test_cancel_arriving_before_its_alert_cancels_it_on_arrival(ctx: AppContext) -> None:
    cancel = ingest(ctx, [str(SAMPLES / "03-river-flood-warning-cancel.xml")]).records[0]
    assert any("references unknown alert" in f for f in cancel.flags)
    with ctx.session() as session:
        assert session.execute(select(func.count()).where(AlertReference.target_id.is_(None))).scalar() == 2
    original = ingest(ctx, [str(SAMPLES / "01-river-flood-warning.xml")]).records[0]
    assert original.result == "accepted"
    assert rows(ctx)["VB-EM-2026-0001"].cancelled


def test_dry_run_stores_nothing(ctx: AppContext) -> None:
    report = ingest(ctx, [str(SAMPLES)], dry_run=True)
    assert report.counts()["accepted"] == 7
    assert rows(ctx) == {}


def test_a_cap_cancel_stops_pending_deliveries_of_broadcasts_made_from_the_alert(ctx: AppContext) -> None:
    ingest(ctx, [str(SAMPLES / "01-river-flood-warning.xml")])
    alert_id = rows(ctx)["VB-EM-2026-0001"].id
    spec = BroadcastSpec(
        operator="tester",
        title="flood",
        messages={"en": MessageText("River flood warning")},
        recipients=[Recipient(None, f"+1575555{n:04d}") for n in range(100, 150)],
        alert_id=alert_id,
    )
    with ctx.session() as session:
        broadcast_id = create_broadcast(session, spec)
    record = ingest(ctx, [str(SAMPLES / "03-river-flood-warning-cancel.xml")]).records[0]
    assert record.stopped_broadcasts == [broadcast_id]
    with ctx.session() as session:
        states = set(
            session.execute(select(Delivery.state).where(Delivery.broadcast_id == broadcast_id)).scalars()
        )
    assert states == {"cancelled"}


def test_rejections_and_refusals_fail_the_report_and_store_nothing_of_them(
    ctx: AppContext, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "inbox"
    tmp_path.mkdir()
    (tmp_path / "bad.xml").write_text(
        "<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x</identifier></alert>"
    )
    (tmp_path / "hostile.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'
    )
    (tmp_path / "notes.txt").write_text("not CAP")
    report = ingest(ctx, [str(tmp_path), str(tmp_path / "missing.xml")])
    results = {Path(r.source).name: r for r in report.records}
    assert results["bad.xml"].result == "rejected" and "[required]" in results["bad.xml"].reason
    assert results["hostile.xml"].result == "refused" and "doctype" in results["hostile.xml"].reason
    assert results["missing.xml"].result == "unreachable"
    assert report.skipped_files == [str(tmp_path / "notes.txt")]
    assert not report.ok and rows(ctx) == {}


@pytest.fixture
def sample_server() -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SAMPLES))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_index_feed_over_http_fetches_linked_alerts(ctx: AppContext, sample_server: str) -> None:
    report = ingest(ctx, [f"{sample_server}/feed.atom", f"{sample_server}/nope.xml"])
    accepted = sorted(r.identifier or "" for r in report.records if r.result == "accepted")
    assert accepted == ["VB-EM-2026-0001", "VB-EM-2026-0002", "VB-EM-2026-0004", "VB-EM-2026-0006"]
    [missing] = [r for r in report.records if r.result == "unreachable"]
    assert "404" in missing.reason
    assert rows(ctx)["VB-EM-2026-0004"].source.startswith(sample_server)


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p for p in CORPUS.rglob("*") if p.is_file() and p.parent.name != "invalid" and p.suffix != ".md"
    )


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/cap-corpus is not beside the repository")
def test_every_corpus_alert_round_trips_through_the_stored_model() -> None:
    count = 0
    for path in corpus_files():
        for alert in read_cap(path.read_bytes(), source=str(path)).alerts:
            assert alert_from_json(alert_to_json(alert)) == alert, path
            count += 1
    assert count > 60


def test_a_run_leaves_the_heap_as_collectable_as_it_found_it(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest keeps the garbage collector off the settled heap while it runs, and only then: a cycle that
    was dropped but not yet collected when the run began is collected after it."""
    import gc
    import weakref

    import alertcast.services.ingest as ingest_module

    class Node:
        partner: object = None

    first, second = Node(), Node()
    first.partner, second.partner = second, first
    watch = weakref.ref(first)
    del first, second
    frozen_before = gc.get_freeze_count()
    seen_frozen: list[int] = []
    original = ingest_module.store_alert

    def store_and_look(*args: Any, **kwargs: Any) -> Any:
        seen_frozen.append(gc.get_freeze_count())
        return original(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "store_alert", store_and_look)
    report = ingest(ctx, [str(REPO / "sample_alerts")])
    assert report.counts()["accepted"] >= 1
    assert seen_frozen and min(seen_frozen) > frozen_before  # frozen while storing
    assert gc.get_freeze_count() == frozen_before
    gc.collect()
    assert watch() is None
