"""Real engine processes sharing one store (SQLite file, PostgreSQL database): no delivery is handed out
twice by two engines, and an engine killed with SIGKILL mid-broadcast loses nobody when restarted.

The drill sinks write each message they 'send' to a JSON-lines file: that file, not the database, is the
witness of what left the engine. PostgreSQL runs as a throw-away cluster (tests/pg.py); without its server
binaries these tests skip, except under CI, where they must run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from alertcast.store.db import create_db_engine
from alertcast.store.models import Delivery
from tests.conftest import REPO
from tests.engine_helpers import broadcast

ALERTCAST = str(Path(sys.executable).with_name("alertcast"))
WINDOW = 100
BATCH = 200


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = request.getfixturevalue("pg_cluster").create_database("scale")
    engine = create_db_engine(url)
    yield url, engine
    engine.dispose()


def config(tmp_path: Path, name: str) -> tuple[Path, Path]:
    record = tmp_path / f"sent-{name}.jsonl"
    path = tmp_path / f"engine-{name}.toml"
    path.write_text(
        f"""
[engine]
lease_seconds = 30
batch_size = {BATCH}
idle_poll_seconds = 0.02
flush_seconds = 0.01
cancel_poll_seconds = 0.1

[[routes]]
name = "sink"
type = "drill"
kind = "sms"
latency = 0.02
window = {WINDOW}
record_path = "{record}"
""",
        encoding="utf-8",
    )
    return path, record


class EngineProcess:
    """``alertcast run`` in a child process, its standard error collected by a thread."""

    def __init__(self, url: str, config_path: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTCAST_")}
        self.proc = subprocess.Popen(
            [ALERTCAST, "--config", str(config_path), "--db", url, "run", "-v", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.err: list[str] = []
        self.out = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    def wait_running(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any("running with routes" in line for line in self.err):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"engine did not start: {''.join(self.err)}")
            time.sleep(0.05)

    def finish(self, timeout: float = 60) -> int:
        assert self.proc.stdout is not None
        try:
            self.out = self.proc.stdout.read() if self.proc.wait(timeout=timeout) is not None else ""
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=10)
            self.proc.stdout.close()
            assert self.proc.stderr is not None
            self.proc.stderr.close()
        return self.proc.returncode


def state_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        query = select(Delivery.state, func.count()).group_by(Delivery.state)  # type: ignore[call-overload]
        return dict(session.execute(query).all())


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def sent(record: Path) -> list[int]:
    if not record.exists():
        return []
    return [json.loads(line)["delivery"] for line in record.read_text(encoding="utf-8").splitlines()]


def test_two_engines_on_one_store_never_hand_out_the_same_delivery(
    store: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = store
    (config_a, record_a), (config_b, record_b) = config(tmp_path, "a"), config(tmp_path, "b")
    engines = [EngineProcess(url, config_a), EngineProcess(url, config_b)]
    try:
        for e in engines:
            e.wait_running()
        broadcast_id = broadcast(engine, 4_000)
        wait_until(lambda: state_counts(engine).get("delivered", 0) == 4_000, 90, "4,000 deliveries")
    finally:
        for e in engines:
            if e.proc.poll() is None:
                e.proc.send_signal(signal.SIGTERM)
        codes = [e.finish() for e in engines]
    assert codes == [0, 0], [e.err for e in engines]
    a, b = sent(record_a), sent(record_b)
    assert a and b, "one engine did all the work: the test proves nothing"
    handed = Counter(a + b)
    assert len(handed) == 4_000 and max(handed.values()) == 1
    with Session(engine) as session:
        flagged = session.execute(
            select(func.count()).where(Delivery.broadcast_id == broadcast_id, Delivery.possible_duplicate)  # type: ignore[arg-type]
        ).scalar_one()
    assert flagged == 0


def test_an_engine_killed_mid_broadcast_resumes_without_losing_anyone(
    store: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = store
    (config_a, record_a), (config_b, record_b) = config(tmp_path, "a"), config(tmp_path, "b")
    broadcast_id = broadcast(engine, 5_000)
    first = EngineProcess(url, config_a, "--until-idle")
    try:
        wait_until(lambda: state_counts(engine).get("delivered", 0) >= 1_500, 90, "1,500 deliveries")
        first.proc.send_signal(signal.SIGKILL)
    finally:
        first.finish()
    assert first.proc.returncode == -signal.SIGKILL
    in_flight = state_counts(engine).get("claimed", 0)
    assert 0 < in_flight <= WINDOW + BATCH

    second = EngineProcess(url, config_b, "--until-idle", "--json")
    assert second.finish(timeout=120) == 0, "".join(second.err)
    summary = json.loads(second.out)
    assert summary["recovered"] == in_flight  # taken back at once: the dead engine was on this host

    assert state_counts(engine) == {"delivered": 5_000}
    with Session(engine) as session:
        flagged = set(
            session.execute(
                select(Delivery.id).where(Delivery.broadcast_id == broadcast_id, Delivery.possible_duplicate)  # type: ignore[arg-type]
            ).scalars()
        )
    handed = Counter(sent(record_a) + sent(record_b))
    assert len(handed) == 5_000, "someone was never sent"
    twice = {d for d, n in handed.items() if n > 1}
    assert max(handed.values()) <= 2
    assert twice <= flagged, "a delivery went out twice without being flagged"
    assert len(flagged) == in_flight
