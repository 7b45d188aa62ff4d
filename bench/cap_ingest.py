"""CAP ingest throughput: guard + parse + validate + build over the real-world corpus and the samples.

Every corpus file (valid, invalid and hostile alike, feeds included) and every sample is read from memory
``ROUNDS`` times; figures are alerts read per second, entries (alerts + index links) per second, documents
and MB per second, each by wall clock and by CPU time (the CPU figure is steadier on a shared machine),
plus the slowest single document. Then the same with storage: each alert stored in a fresh SQLite store
(WAL, one committed transaction per document, as a relay stores what it reads; then one transaction per
run, as ``alertcast ingest`` does), and the same documents again, now all duplicates.

Runs stored in one transaction keep the garbage collector off the settled heap, as ``alertcast ingest``
does (``settled_heap``). Last, the pooled figures (:class:`~alertcast.cap.pool.CapReadPool`, one worker
per CPU beyond the first, whatever the load; the number ``alertcast ingest`` would start now, which
counts other work, is printed too), documents read in workers and here, stored here in input order,
one transaction per run: with workers kept from batch to batch, a corpus round per batch (as a
long-running process ingests bursts; like the figures above, warm-up excluded), and one ingest of a folder
of four corpus rounds (big enough that ``alertcast ingest`` starts workers; the repeats are duplicates),
with a fresh pool, its start and stop included, against the same read in-process. The pooled CPU figure
is this process's only; on a machine shared with other work, the wall figure says what the pool achieved.

Run: ``uv run python bench/cap_ingest.py [ROUNDS]`` (corpus from ``$ALERTCAST_CAP_CORPUS`` or
``../shared/cap-corpus``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alertcast.cap import CapReadResult, read_cap

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("ALERTCAST_CAP_CORPUS") or REPO.parent / "shared" / "cap-corpus")

StoreStep = Callable[[CapReadResult, bytes], None]


def discard(result: CapReadResult, data: bytes) -> None:
    """The default store step: nothing, so the figures are ingest alone."""


class SqliteStore:
    """Stores every accepted alert through the ingest service's own path, one transaction per document."""

    def __init__(self, folder: Path) -> None:
        from alertcast.store.db import create_db_engine

        self.engine = create_db_engine(f"sqlite:///{folder / 'bench.db'}")
        self.stored = 0
        self.session: Any = None
        """When set, documents share this session's transaction (as one ``alertcast ingest`` run does),
        their audit rows noted in ``audit_batch`` and written before the commit, as that run does."""
        self.audit_batch: Any = None

    def reset(self) -> None:
        """Empty the alert tables so the next pass stores everything afresh (not part of any timing)."""
        from sqlalchemy import text

        with self.engine.begin() as connection:
            for table in ("alert_reference", "audit_log", "alert"):
                connection.execute(text(f"DELETE FROM {table}"))

    def __call__(self, result: CapReadResult, data: bytes) -> None:
        from datetime import UTC, datetime

        from sqlmodel import Session

        from alertcast.services.ingest import ingest_entries

        if self.session is not None:
            records = ingest_entries(
                self.session,
                result,
                data,
                now=datetime.now(UTC),
                operator="bench",
                audit_batch=self.audit_batch,
            )
        else:
            with Session(self.engine) as session:
                records = ingest_entries(session, result, data, now=datetime.now(UTC), operator="bench")
                session.commit()
        self.stored += sum(1 for r in records if r.result == "accepted")


@dataclass(frozen=True)
class Figures:
    rounds: int
    documents: int
    alerts: int
    links: int
    megabytes: float
    seconds: float
    cpu_seconds: float
    slowest_ms: float
    slowest_source: str


def load_documents() -> list[tuple[str, bytes]]:
    paths = sorted(path for path in CORPUS.rglob("*") if path.is_file() and path.suffix != ".md")
    paths += sorted(path for path in (REPO / "sample_alerts").iterdir() if path.suffix in (".xml", ".atom"))
    return [(str(path), path.read_bytes()) for path in paths]


def run(documents: list[tuple[str, bytes]], rounds: int, store: StoreStep = discard) -> Figures:
    alerts = links = 0
    slowest = (0.0, "")
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        for source, data in documents:
            begun = time.perf_counter()
            result = read_cap(data, source=source)
            store(result, data)
            elapsed = time.perf_counter() - begun
            slowest = max(slowest, (elapsed, source))
            alerts += len(result.alerts)
            links += sum(1 for entry in result.entries if entry.link is not None)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    size = sum(len(data) for _, data in documents) * rounds / 1e6
    return Figures(
        rounds,
        len(documents) * rounds,
        alerts,
        links,
        size,
        seconds,
        cpu_seconds,
        slowest[0] * 1000,
        slowest[1],
    )


def ingest_pooled(
    store: SqliteStore, documents: list[tuple[str, bytes]], pool: Any
) -> tuple[int, float, float]:
    """One ``alertcast ingest``-style run into an emptied store: alerts read (stored, or recognised as
    duplicates), wall and CPU seconds."""
    from datetime import UTC, datetime

    from sqlmodel import Session

    from alertcast.services.audit import AuditBatch
    from alertcast.services.ingest import ingest_entries, settled_heap

    store.reset()
    started, cpu_started = time.perf_counter(), time.process_time()
    alerts = 0
    audit_batch = AuditBatch()
    with settled_heap(), Session(store.engine) as session:
        results = pool.read([(data, source) for source, data in documents])
        for (_, data), result in zip(documents, results, strict=True):
            now = datetime.now(UTC)
            ingest_entries(session, result, data, now=now, operator="bench", audit_batch=audit_batch)
            alerts += len(result.alerts)
        audit_batch.write(session)
        session.commit()
    return alerts, time.perf_counter() - started, time.process_time() - cpu_started


def one_transaction_runs(
    store: SqliteStore, documents: list[tuple[str, bytes]], passes: int
) -> tuple[float, float, float]:
    """``passes`` runs into an emptied store, each in one transaction: alerts, wall and CPU seconds."""
    from sqlmodel import Session

    from alertcast.services.audit import AuditBatch
    from alertcast.services.ingest import settled_heap

    alerts = seconds = cpu = 0.0
    for _ in range(passes):
        store.reset()
        with settled_heap(), Session(store.engine) as session:
            store.session, store.audit_batch = session, AuditBatch()
            batch = run(documents, 1, store)
            started, cpu_started = time.perf_counter(), time.process_time()
            store.audit_batch.write(session)
            session.commit()
            commit, commit_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        store.session, store.audit_batch = None, None
        alerts += batch.alerts
        seconds += batch.seconds + commit
        cpu += batch.cpu_seconds + commit_cpu
    return alerts, seconds, cpu


def pooled_figures(store: SqliteStore, documents: list[tuple[str, bytes]], passes: int) -> None:
    from alertcast.cap.pool import CapReadPool, available_cpus, busy_elsewhere, spare_workers

    # Measured with a worker per CPU beyond the first, whatever the load; the automatic choice is printed.
    workers = available_cpus() - 1
    if workers < 1:
        print("pooled: this machine has one CPU, so `alertcast ingest` reads in-process (figures above)")
        return
    print(
        f"pooled: `alertcast ingest` would start {spare_workers()} worker(s) now "
        f"(other work on {busy_elsewhere():.2f} of {available_cpus()} CPUs)"
    )
    # A long-running process (a relay) keeps its workers and ingests bursts: here, one corpus round each.
    with CapReadPool(workers, min_documents=2) as pool:
        ingest_pooled(store, documents, pool)  # warm-up: workers started
        before = pool.pooled_documents
        alerts = seconds = cpu = 0.0
        for _ in range(passes):
            read, wall, main_cpu = ingest_pooled(store, documents, pool)
            alerts, seconds, cpu = alerts + read, seconds + wall, cpu + main_cpu
        share = (pool.pooled_documents - before) / (len(documents) * passes)
    print(
        f"pooled, {workers} worker(s) kept, a corpus round per batch ({passes} passes): "
        f"{alerts / seconds:,.0f} alerts/s wall, {alerts / cpu:,.0f} per main-process CPU second; "
        f"workers read {share:.0%} of documents"
    )
    # One `alertcast ingest` of a folder four rounds big (big enough to start workers; the repeats are
    # duplicates): a fresh pool, its start and stop included, against reading in-process.
    folder = documents * 4
    for label, workers_here in (("fresh pool, start and stop included", workers), ("in-process", 0)):
        alerts = seconds = 0.0
        for _ in range(max(1, passes // 2)):
            started = time.perf_counter()
            with CapReadPool(workers_here) as pool:
                read, _, _ = ingest_pooled(store, folder, pool)
            alerts, seconds = alerts + read, seconds + time.perf_counter() - started
        print(f"one ingest of {len(folder)} documents, {label}: {alerts / seconds:,.0f} alerts/s wall")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if not CORPUS.is_dir():
        sys.exit(f"CAP corpus not found at {CORPUS}; set ALERTCAST_CAP_CORPUS")
    documents = load_documents()
    run(documents, 1)  # warm-up: schema compilation and imports are not part of the figure
    figures = run(documents, rounds)
    wall, cpu = figures.seconds, figures.cpu_seconds
    entries = figures.alerts + figures.links
    print(f"documents: {len(documents)} per round x {figures.rounds} rounds, {figures.megabytes:.1f} MB")
    print(
        f"read {figures.alerts} alerts and {figures.links} index links in {wall:.2f} s wall, {cpu:.2f} s CPU"
    )
    print(f"alerts/s:    {figures.alerts / wall:8,.0f} wall  {figures.alerts / cpu:8,.0f} CPU")
    print(f"entries/s:   {entries / wall:8,.0f} wall  {entries / cpu:8,.0f} CPU  (alerts + index links)")
    print(f"documents/s: {figures.documents / wall:8,.0f} wall  {figures.documents / cpu:8,.0f} CPU")
    print(f"MB/s:        {figures.megabytes / wall:8.1f} wall  {figures.megabytes / cpu:8.1f} CPU")
    print(f"slowest document: {figures.slowest_ms:.1f} ms ({Path(figures.slowest_source).name})")
    singles = [(source, data) for source, data in documents if f"{os.sep}feeds{os.sep}" not in source]
    single = run(singles, rounds)
    print(
        f"without the feeds/ folder: {single.alerts / single.seconds:,.0f} alerts/s wall, "
        f"{single.alerts / single.cpu_seconds:,.0f} CPU ({len(singles)} documents per round)"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp))
        run(documents, 1, store)  # warm-up: a relay runs with its statements compiled
        passes = max(1, rounds // 4)
        alerts = seconds = cpu = 0.0
        for _ in range(passes):
            store.reset()
            fresh = run(documents, 1, store)
            alerts, seconds, cpu = alerts + fresh.alerts, seconds + fresh.seconds, cpu + fresh.cpu_seconds
        print(
            f"parse + validate + store (SQLite, one transaction per document, {passes} passes): "
            f"{alerts / seconds:,.0f} alerts/s wall, {alerts / cpu:,.0f} CPU"
        )
        for label, chosen in (("", documents), (" without the feeds/ folder", singles)):
            alerts, seconds, cpu = one_transaction_runs(store, chosen, passes)
            print(
                f"parse + validate + store (one transaction per run, as `alertcast ingest` does){label}: "
                f"{alerts / seconds:,.0f} alerts/s wall, {alerts / cpu:,.0f} CPU"
            )
        pooled_figures(store, documents, passes)
        again = run(documents, passes, store)
        print(
            f"the same documents again, all duplicates: {again.alerts / again.seconds:,.0f} alerts/s wall, "
            f"{again.alerts / again.cpu_seconds:,.0f} CPU"
        )
        store.engine.dispose()


if __name__ == "__main__":
    main()
