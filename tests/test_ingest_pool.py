"""Reading documents in worker processes: the same results and the same report as reading them here.

The documents are generated from the samples (each copy renamed so it is a distinct alert, its Update and
Cancel references renamed with it) plus hostile and invalid ones, so refusals and rejections travel back
from the workers too.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from alertcast.cap import read_cap
from alertcast.cap.pool import MAX_WORKERS, CapReadPool, available_cpus, spare_workers
from alertcast.config import Config
from alertcast.services.context import AppContext
from alertcast.services.ingest import IngestReport, ingest
from alertcast.store.db import create_db_engine
from alertcast.store.models import Alert, AlertReference, AuditEntry
from tests.conftest import REPO

SAMPLES = REPO / "sample_alerts"
COPIES = 4
BAD_DOCUMENTS = {
    "hostile.xml": b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert/>',
    "broken.xml": b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x</alert>",
    "no-sent.xml": (SAMPLES / "06-road-closure-minor.xml")
    .read_bytes()
    .replace(b"<sent>", b"<sentx>")
    .replace(b"</sent>", b"</sentx>"),
}


def make_folder(root: Path) -> Path:
    """Samples copied ``COPIES`` times (alerts renamed per copy) plus bad documents: 30+ documents."""
    folder = root / "incoming"
    for copy in range(COPIES):
        target = folder / f"copy{copy}"
        target.mkdir(parents=True)
        for sample in SAMPLES.iterdir():
            if sample.suffix in (".xml", ".atom"):
                (target / sample.name).write_bytes(sample.read_bytes().replace(b"VB-", b"VB%d-" % copy))
    for name, data in BAD_DOCUMENTS.items():
        (folder / name).write_bytes(data)
    return folder


def documents(folder: Path) -> list[tuple[bytes, str]]:
    return [(path.read_bytes(), str(path)) for path in sorted(folder.rglob("*")) if path.is_file()]


def ingest_into(url: str, folder: Path, workers: int) -> tuple[IngestReport, list[tuple[object, ...]]]:
    app = AppContext(config=Config(db_url=url, operator="tester"), engine=create_db_engine(url))
    try:
        # Without work sharing, every document of a pooled batch is read by a worker, on every run.
        report = ingest(app, [str(folder)], read_pool=CapReadPool(workers, share_work=False))
        with app.session() as session:
            stored = [
                (a.id, a.identifier, a.model, a.warnings, a.cancelled_by, a.superseded_by, a.public)
                for a in session.execute(select(Alert).order_by(Alert.id)).scalars()
            ]
            stored += [
                (r.alert_id, r.ref_identifier, r.target_id)
                for r in session.execute(select(AlertReference).order_by(AlertReference.id)).scalars()
            ]
            stored += [
                (e.action, e.subject, e.detail)
                for e in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
            ]
    finally:
        app.close()
    return report, stored


def store_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    return str(request.getfixturevalue("pg_cluster").create_database(name))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_pooled_ingest_reports_and_stores_exactly_what_reading_here_does(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path)
    alone, stored_alone = ingest_into(store_url(request, backend, tmp_path, "alone"), folder, workers=0)
    pooled, stored_pooled = ingest_into(store_url(request, backend, tmp_path, "pooled"), folder, workers=2)
    assert alone.read_in_workers == 0
    # The folder, then the documents the feeds link to (four per copy, a second wave of MIN_DOCUMENTS).
    assert pooled.read_in_workers == len(documents(folder)) + 4 * COPIES
    assert [r.as_dict() for r in pooled.records] == [r.as_dict() for r in alone.records]
    assert stored_pooled == stored_alone
    counts = pooled.counts()
    assert counts["accepted"] == 7 * COPIES
    assert counts["duplicate"] == 4 * COPIES  # each copy's feed links to four alerts of that copy
    assert counts["refused"] == 2 and counts["rejected"] == 1


def test_refusals_and_rejections_read_in_a_worker_keep_their_reasons(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    pooled, _ = ingest_into(f"sqlite:///{tmp_path / 'store.db'}", folder, workers=2)
    reasons = {Path(r.source).name: r.reason for r in pooled.records if r.failed}
    assert "DTDs and entities are refused" in reasons["hostile.xml"]
    assert "[doctype]" in reasons["hostile.xml"]
    assert "not well-formed XML at line 1" in reasons["broken.xml"]
    assert "alert/sent: <sent> is required [required]" in reasons["no-sent.xml"]


def test_read_results_cross_the_process_boundary_unchanged(tmp_path: Path) -> None:
    for data, source in documents(make_folder(tmp_path)):
        result = read_cap(data, source=source)
        copy = pickle.loads(pickle.dumps(result))
        assert copy == result
        assert repr(copy) == repr(result)  # index mappings stay read-only mappings


def test_small_batches_are_read_here_without_starting_workers() -> None:
    docs = [(path.read_bytes(), str(path)) for path in sorted(SAMPLES.glob("*.xml"))]
    with CapReadPool(workers=2) as pool:
        results = list(pool.read(docs))
        assert multiprocessing.active_children() == []
    assert pool.pooled_documents == 0
    assert results == [read_cap(data, source=source) for data, source in docs]


def test_work_shared_between_this_process_and_workers_gives_the_same_results(tmp_path: Path) -> None:
    docs = documents(make_folder(tmp_path)) * 4
    with CapReadPool(workers=1) as pool:
        assert list(pool.read(docs)) == [read_cap(data, source=source) for data, source in docs]
        assert list(pool.read(docs)) == [read_cap(data, source=source) for data, source in docs]


def test_a_killed_worker_costs_no_document(tmp_path: Path) -> None:
    docs = documents(make_folder(tmp_path)) * 4
    expected = [read_cap(data, source=source) for data, source in docs]
    with CapReadPool(workers=2, min_documents=2, share_work=False) as pool:
        assert list(pool.read(docs)) == expected
        assert pool.pooled_documents == len(docs)
        workers = [child for child in multiprocessing.active_children() if child.pid is not None]
        assert workers
        os.kill(workers[0].pid, signal.SIGKILL)  # type: ignore[arg-type]
        workers[0].join(timeout=30)
        assert list(pool.read(docs)) == expected
        assert pool.broken
        assert list(pool.read(docs)) == expected  # and later batches are read here
    assert multiprocessing.active_children() == []


def test_workers_started_by_default_leave_this_process_a_cpu_and_respect_the_limit() -> None:
    assert 0 <= spare_workers() <= min(available_cpus() - 1, MAX_WORKERS)
    assert 0 <= CapReadPool().workers <= min(available_cpus() - 1, MAX_WORKERS)
