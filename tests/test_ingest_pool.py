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
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

import alertcast.cap.pool as pool_module
import alertcast.cap.pool_worker as pool_worker
from alertcast.cap import read_cap
from alertcast.cap.pool import (
    MAX_WORKERS,
    MIN_BYTES,
    MIN_DOCUMENTS,
    CapReadPool,
    available_cpus,
    spare_workers,
)
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


FRESH_PRELUDE = (
    "import multiprocessing, time\n"
    "from alertcast.cap.pool import CapReadPool\n"
    "from tests.test_ingest_pool import SAMPLES\n"
    "docs = [(p.read_bytes(), str(p)) for p in sorted(SAMPLES.glob('*.xml'))] * 4\n"
)
"""What scripts run in a fresh interpreter start with: one thread, and nothing of this test run's."""


def in_fresh_interpreter(body: str) -> str:
    """Run ``FRESH_PRELUDE`` and ``body`` in a new interpreter; what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PRELUDE + body], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


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
        with CapReadPool(workers, share_work=False, min_documents=16) as pool:
            report = ingest(app, [str(folder)], read_pool=pool)
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
    # The folder, then the documents the feeds link to (four per copy: a second wave of 16).
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


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
@pytest.mark.parametrize("share_work", [True, False])
def test_forked_and_spawned_workers_read_exactly_what_this_process_does(
    tmp_path: Path, start_method: str, share_work: bool
) -> None:
    docs = documents(make_folder(tmp_path)) * 4
    expected = [read_cap(data, source=source) for data, source in docs]
    with CapReadPool(2, min_documents=2, share_work=share_work, start_method=start_method) as pool:
        for _ in range(3):  # the first batch meets workers still starting; the later ones idle workers
            assert list(pool.read(docs)) == expected
        assert not pool.broken
        if not share_work:
            assert pool.pooled_documents == 3 * len(docs)
        kinds = {type(child).__name__ for child in multiprocessing.active_children()}
        assert kinds == {"ForkProcess" if start_method == "fork" else "SpawnProcess"}
    assert multiprocessing.active_children() == []


def in_workers_only(monkeypatch: pytest.MonkeyPatch, poisoned: str, act: Callable[[], object]) -> None:
    """Make reading ``poisoned`` do ``act`` in forked workers (they inherit the patch), never here."""
    parent = os.getpid()
    real = pool_module.read_cap

    def patched(data: bytes, *, source: str, max_bytes: int) -> object:
        if os.getpid() != parent and source == poisoned:
            act()
        return real(data, source=source, max_bytes=max_bytes)

    monkeypatch.setattr(pool_module, "read_cap", patched)


def test_a_worker_dying_mid_batch_costs_no_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = documents(make_folder(tmp_path)) * 4
    expected = [read_cap(data, source=source) for data, source in docs]
    in_workers_only(monkeypatch, docs[len(docs) // 2][1], lambda: os._exit(3))
    with CapReadPool(1, min_documents=2, share_work=False, start_method="fork") as pool:
        assert list(pool.read(docs)) == expected
        assert pool.broken
        assert pool.pooled_documents < len(docs)  # what it had not sent yet died with it
        assert list(pool.read(docs)) == expected  # later batches are read here
    assert multiprocessing.active_children() == []


def test_a_chunk_a_worker_cannot_read_is_read_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = documents(make_folder(tmp_path)) * 4
    expected = [read_cap(data, source=source) for data, source in docs]

    def fail() -> None:
        raise MemoryError("no room in the worker")

    in_workers_only(monkeypatch, docs[3][1], fail)
    with CapReadPool(1, min_documents=2, share_work=False, start_method="fork") as pool:
        assert list(pool.read(docs)) == expected
        assert not pool.broken  # the worker lives on; only that chunk was read here
        assert pool.pooled_documents < len(docs)
        assert list(pool.read(docs)) == expected


def test_a_batch_left_half_read_does_not_spill_into_the_next(tmp_path: Path) -> None:
    docs = documents(make_folder(tmp_path)) * 4
    expected = [read_cap(data, source=source) for data, source in docs]
    others = list(reversed(docs))
    with CapReadPool(1, min_documents=2, start_method="fork") as pool:
        partial = pool.read(docs)
        assert [next(partial) for _ in range(5)] == expected[:5]
        partial.close()  # the worker may still be sending results of this batch
        assert list(pool.read(others)) == list(reversed(expected))
        assert not pool.broken


def test_workers_are_forked_only_where_no_other_thread_runs(tmp_path: Path) -> None:
    docs = documents(make_folder(tmp_path))
    expected = [read_cap(data, source=source) for data, source in docs]
    stop = threading.Event()
    beside = threading.Thread(target=stop.wait)
    beside.start()
    try:
        with CapReadPool(1, min_documents=2) as pool:
            assert list(pool.read(docs)) == expected
            assert {type(child).__name__ for child in multiprocessing.active_children()} == {"SpawnProcess"}
    finally:
        stop.set()
        beside.join()
    # And in a process of one thread (a fresh interpreter: this one may run others' threads), forked.
    kinds = in_fresh_interpreter(
        "with CapReadPool(1, min_documents=2) as pool:\n"
        "    list(pool.read(docs))\n"
        "    print({type(c).__name__ for c in multiprocessing.active_children()})\n"
    )
    assert kinds == "{'ForkProcess'}"


def test_few_but_large_documents_are_worth_workers() -> None:
    from tests.test_ingest_duplicates import with_big_polygon

    big = with_big_polygon(6000)
    docs = [(big, f"national-{n}.xml") for n in range(MIN_BYTES // len(big) + 1)]
    assert len(docs) < MIN_DOCUMENTS and sum(len(data) for data, _ in docs) >= MIN_BYTES
    with CapReadPool(1, share_work=False, start_method="fork") as pool:
        assert list(pool.read(docs)) == [read_cap(data, source=source) for data, source in docs]
        assert pool.pooled_documents == len(docs)
        assert list(pool.read(docs[:2])) == [read_cap(data, source=source) for data, source in docs[:2]]
        assert pool.pooled_documents == len(docs)  # two of them are too few and too small: read here


def test_a_later_read_ends_an_earlier_batch_and_the_earlier_generator_says_so(tmp_path: Path) -> None:
    docs = documents(make_folder(tmp_path)) * 4
    expected = [read_cap(data, source=source) for data, source in docs]
    with CapReadPool(1, min_documents=2, start_method="fork") as pool:
        first = pool.read(docs)
        assert [next(first) for _ in range(3)] == expected[:3]
        second = pool.read(docs)
        assert next(second) == expected[0]  # its batch begins: the first one's is over
        with pytest.raises(RuntimeError, match="ended by a later read"):
            list(first)
        assert [expected[0], *second] == expected
        third = pool.read(docs)
        assert next(third) == expected[0]
    with pytest.raises(RuntimeError, match="or by close"):
        list(third)


def test_a_worker_killed_holding_the_claims_lock_costs_no_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = documents(make_folder(tmp_path)) * 4
    expected = [read_cap(data, source=source) for data, source in docs]
    parent = os.getpid()
    real_front = pool_worker.Claims.front

    def front_then_die(self: pool_worker.Claims, batch: int) -> int | None:
        if os.getpid() != parent:
            self._locked()  # and never released
            os.kill(os.getpid(), signal.SIGKILL)
        return real_front(self, batch)

    monkeypatch.setattr(pool_worker, "LOCK_SECONDS", 1.0)
    monkeypatch.setattr(pool_worker.Claims, "front", front_then_die)
    with CapReadPool(1, min_documents=2, start_method="fork") as pool:
        assert list(pool.read(docs)) == expected
        assert pool.broken
        assert list(pool.read(docs)) == expected


def test_an_early_stop_then_close_is_prompt_and_workers_end_cleanly(tmp_path: Path) -> None:
    docs = documents(make_folder(tmp_path)) * 12  # workers run far ahead of a consumer that stops
    with CapReadPool(2, min_documents=2, share_work=False, start_method="fork") as pool:
        results = pool.read(docs)
        next(results)
        time.sleep(0.5)
        results.close()
        children = multiprocessing.active_children()
        started = time.monotonic()
    assert time.monotonic() - started < 3
    assert children and all(child.exitcode == 0 for child in children)


def test_forked_workers_end_when_the_storing_process_is_killed(tmp_path: Path) -> None:
    script = FRESH_PRELUDE + (
        "pool = CapReadPool(2, min_documents=2, start_method='fork')\n"
        "list(pool.read(docs))\n"
        "print(' '.join(str(w.process.pid) for w in pool._workers), flush=True)\n"
        "time.sleep(60)\n"
    )
    # Killed, it cannot remove its batch folder: let that be in this test's own folder.
    with subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as storing:
        try:
            assert storing.stdout is not None
            workers = [int(pid) for pid in storing.stdout.readline().split()]
            assert len(workers) == 2
        finally:
            storing.kill()
            storing.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(running(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(running(pid) for pid in workers)


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (an unreaped zombie is not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_cpus_this_process_keeps_busy_itself_do_not_count_against_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pool_module, "available_cpus", lambda: 2)
    for average, runnable, workers in (
        (0.0, 1, 1),  # idle machine
        (1.0, 1, 1),  # this process has been busy for a minute, nobody else is: the other core is free
        (1.0, 2, 0),  # another task runs beside this one, and has been
        (0.2, 2, 1),  # a task that just woke up: the minute's average says the core is mostly free
        (1.0, None, 0),  # no /proc/loadavg: the average is all there is
    ):
        monkeypatch.setattr(os, "getloadavg", lambda average=average: (average, average, average))
        monkeypatch.setattr(pool_module, "runnable_tasks", lambda runnable=runnable: runnable)
        assert spare_workers() == workers, (average, runnable)
    monkeypatch.undo()
    if sys.platform == "linux":
        now = pool_module.runnable_tasks()
        assert now is not None and now >= 1  # this test's own process is running


def test_a_pool_never_closed_leaves_no_folder_behind() -> None:
    folder = Path(
        in_fresh_interpreter(
            "pool = CapReadPool(1, min_documents=2, start_method='fork')\n"
            "list(pool.read(docs))\n"
            "print(pool._folder)\n"
        )
    )
    assert folder.name.startswith("alertcast-reading-")
    assert not folder.exists()


def test_a_worker_that_finds_its_batch_gone_takes_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch can end (its file removed) before a worker opens it; the worker must still be counted idle
    and be handed the next batch, not be taken for busy from then on."""
    docs = documents(make_folder(tmp_path)) * 4
    expected = [read_cap(data, source=source) for data, source in docs]
    parent = os.getpid()
    real = pool_worker._batch_chunks
    missed: list[str] = []  # per process: a forked worker starts with its own empty copy

    def first_one_gone(path: str) -> object:
        if os.getpid() != parent and not missed:
            missed.append(path)
            return None
        return real(path)

    monkeypatch.setattr(pool_worker, "_batch_chunks", first_one_gone)
    with CapReadPool(1, min_documents=2, start_method="fork") as pool:
        assert list(pool.read(docs)) == expected  # read here: the worker took no part
        before = pool.pooled_documents
        time.sleep(0.5)  # the worker has long said it is done with the first batch
        assert list(pool.read(docs)) == expected
        assert pool.pooled_documents > before
        assert not pool.broken
