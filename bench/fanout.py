"""Fan-out benchmark: one broadcast to 100,000 recipients through the drill sink, no rate limit.

Prints, for SQLite (in-process engine) and PostgreSQL (a throw-away cluster; in-process, then one and two
engine processes): the time to create the deliveries, the time from creation to the first hand-off, the
sustained deliveries per second end to end (handed to the sink and recorded in the database), and the peak
resident memory of the process running the engine.

Targets on 2 cores: creation < 3 s, first hand-off < 100 ms, >= 5,000 deliveries/s, < 400 MB.

    uv run python bench/fanout.py [--recipients 100000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from alertcast.channels.base import OutboundMessage  # noqa: E402
from alertcast.channels.drill import DrillChannel  # noqa: E402
from alertcast.engine.config import EngineSettings, RouteSettings  # noqa: E402
from alertcast.engine.dispatcher import Dispatcher  # noqa: E402
from alertcast.engine.runner import run_dispatcher  # noqa: E402
from alertcast.store import outbox as ob  # noqa: E402
from alertcast.store.db import create_db_engine  # noqa: E402
from alertcast.store.models import Delivery  # noqa: E402
from tests.pg import PostgresCluster, find_bindir  # noqa: E402

TEXT = "EXERCISE: Flood warning for the river district until 18:00. Move to higher ground. Reply OK."


class TimedSink(DrillChannel):
    """The drill sink, noting when the first message reached it."""

    first: float | None = None

    def send(self, messages: Sequence[OutboundMessage]) -> None:
        if self.first is None and messages:
            self.first = time.time()
        super().send(messages)


def create_elsewhere(url: str, n: int) -> tuple[float, float]:
    """Create the broadcast from another process, as an operator's console would (and so that this
    process's engine does not share its interpreter lock with the creation)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from bench.fanout import create;"
        "from alertcast.store.db import create_db_engine;"
        "print(*create(create_db_engine(sys.argv[2]), int(sys.argv[3])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), url, str(n)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "FANOUT_REPORT_COMMIT": "1"},
    )
    print(f"{'':<34} ({done.stderr.strip().splitlines()[-1]})", flush=True)
    seconds, committed = done.stdout.split()
    return float(seconds), float(committed)


def create(engine: Engine, n: int) -> tuple[float, float]:
    """Create the broadcast; returns (seconds taken, wall-clock time just before the commit).

    The first hand-off is timed from the start of the commit, so the figure includes the commit itself:
    an upper bound (timing from the commit's return is unreliable: the engine often hands out the first
    message before the creating process is scheduled again)."""
    spec = ob.BroadcastSpec(
        operator="bench",
        title="fan-out",
        messages={"en": ob.MessageText(TEXT)},
        recipients=[(None, f"+1555{i:07d}", "sms", "en") for i in range(n)],
        priority=3,
        drill=True,
    )
    started = time.perf_counter()
    with Session(engine) as session:
        ob.create_broadcast(session, spec)
        committing = time.time()
        session.commit()
        committed = time.time()
    if os.environ.get("FANOUT_REPORT_COMMIT"):
        print(f"commit took {(committed - committing) * 1000:.0f} ms", file=sys.stderr)
    return time.perf_counter() - started, committing


def delivered(engine: Engine) -> int:
    with Session(engine) as session:
        query = select(func.count()).where(Delivery.state == "delivered")  # type: ignore[arg-type]
        return int(session.execute(query).scalar_one())


async def in_process(url: str, n: int) -> dict[str, float]:
    """An idle engine, then a broadcast: creation, first hand-off and sustained rate."""
    engine = create_db_engine(url)
    sink = TimedSink("sink", window=2000)
    route = RouteSettings(name="sink", type="drill", kinds=("sms",), drill=True, live=False)
    dispatcher = Dispatcher(engine, EngineSettings(), [(route, sink)])
    stop = asyncio.Event()
    task = asyncio.create_task(run_dispatcher(dispatcher, stop=stop))
    await asyncio.sleep(1.0)  # the engine is up and polling an empty queue
    creation, created = await asyncio.to_thread(create_elsewhere, url, n)
    while dispatcher.writer.counters.applied < n:  # noqa: ASYNC110 - polling a counter, not an event
        await asyncio.sleep(0.01)
    finished = time.time()
    stop.set()
    await task
    engine.dispose()
    return {
        "creation_s": creation,
        "first_handoff_ms": ((sink.first or finished) - created) * 1000,
        "rate_per_s": n / (finished - (sink.first or created)),
    }


def engine_processes(url: str, n: int, count: int, work: Path) -> dict[str, float]:
    """``count`` engine processes on one database; the rate is measured from the database."""
    engine = create_db_engine(url)
    procs = []
    for i in range(count):
        config = work / f"engine-{count}-{i}.toml"
        config.write_text(
            '[[routes]]\nname = "sink"\ntype = "drill"\nkind = "sms"\nwindow = 2000\n', encoding="utf-8"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTCAST_")}
        procs.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("alertcast")),
                    "--config",
                    str(config),
                    "--db",
                    url,
                    "run",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        time.sleep(3.0)  # let them start and go idle
        creation, _ = create(engine, n)
        start = time.perf_counter()
        first = None
        while (done := delivered(engine)) < n:
            if first is None and done > 0:
                first = time.perf_counter()
            time.sleep(0.05)
        finished = time.perf_counter()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
        engine.dispose()
    return {"creation_s": creation, "rate_per_s": n / (finished - (first or start))}


def show(label: str, figures: dict[str, float]) -> None:
    parts = []
    for key, value in figures.items():
        parts.append(f"{key}={value:,.0f}" if key == "rate_per_s" else f"{key}={value:.3f}")
    print(f"{label:<34} " + "  ".join(parts), flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    n = args.recipients
    print(f"fan-out of {n:,} deliveries through the drill sink, no rate limit, {os.cpu_count()} cpu(s)")
    with tempfile.TemporaryDirectory(prefix="alertcast-bench-") as tmp:
        work = Path(tmp)
        show("sqlite, in-process engine", asyncio.run(in_process(f"sqlite:///{work / 'bench.db'}", n)))
        print(f"{'peak RSS (sqlite run)':<34} {peak_rss_mb():.0f} MB", flush=True)
        if args.no_postgres:
            return
        bindir = find_bindir()
        if bindir is None:
            print("postgresql: server binaries not found; skipped")
            return
        cluster = PostgresCluster(bindir)
        try:
            cluster.start()
            show(
                "postgresql, in-process engine", asyncio.run(in_process(cluster.create_database("bench"), n))
            )
            for count in (1, 2):
                figures = engine_processes(cluster.create_database("bench"), n, count, work)
                show(f"postgresql, {count} engine process(es)", figures)
        finally:
            cluster.stop()
    print(f"{'peak RSS (this process)':<34} {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
