"""Throughput of the SMPP channel alone against the simulator on loopback; prints the figures.

1. Unthrottled, window 50: submit_sm/s sustained over 20,000 messages (target ≥ 3,000/s), and every
   receipt matched.
2. Simulator capped at 100/s, channel rate 100/s: achieved rate (target within 2 % of the cap) and the
   share of submits answered ESME_RTHROTTLED (target < 1 %).

The simulator runs in its own process (``SimulatorProcess``), as an SMSC would: in the same process it would
share the interpreter lock with the channel and the benchmark would measure both at once.

3. End to end: a broadcast of ``--count`` recipients created in an SQLite store and carried by the engine
   over one SMPP route, timed from the start of creating it to the last submit_sm_resp recorded (target
   ≥ 2,000 deliveries/s); the simulator sends each receipt 0.2 s after the submit, so receipts compete
   with submits for the engine as they would in a real broadcast.

Run: ``uv run python bench/smpp.py [--count 20000] [--capped-count 1000] [--window 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections import deque
from collections.abc import Sequence
from typing import Any

from alertcast.channels.base import InboundMessage, OutboundMessage, Outcome, Receipt, RouteState, SendResult
from alertcast.channels.smpp import SmppBindConfig, SmppChannel
from alertcast.sim.smsc import SmscConfig

_CHILD = """
import asyncio, json, sys
from alertcast.sim.smsc import SmscConfig, serve
config = SmscConfig(**json.loads(sys.argv[1]))
ready = lambda sim: print(json.dumps({"port": sim.port, "http_port": sim.http_port}), flush=True)
try:
    asyncio.run(serve(config, on_ready=ready))
except KeyboardInterrupt:
    pass
"""


class SimulatorProcess:
    """The SMSC simulator in a child process: ``with SimulatorProcess(SmscConfig(...)) as smsc: smsc.port``.

    Its figures come through the HTTP control (``stats()``); ``config.http_port`` is forced to a free port.
    """

    def __init__(self, config: SmscConfig) -> None:
        settings = dataclasses.asdict(dataclasses.replace(config, http_port=0))
        settings.pop("ssl_context")  # not serialisable; benchmarks run plain TCP
        self._settings = settings
        self._process: subprocess.Popen[str] | None = None
        self.port = 0
        self.http_port = 0

    def __enter__(self) -> SimulatorProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, json.dumps(self._settings)], stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator process exited with {self._process.wait()} before listening")
        ports = json.loads(line)
        self.port, self.http_port = ports["port"], ports["http_port"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/stats", timeout=10) as response:
            return dict(json.loads(response.read()))


class _Events:
    def __init__(self) -> None:
        self.results: list[SendResult] = []
        self.receipts: list[Receipt] = []
        self.state = RouteState(False, "not started")
        self.event = asyncio.Event()

    def on_results(self, channel: str, results: Sequence[SendResult]) -> None:
        self.results += results
        self.event.set()

    def on_receipts(self, receipts: Sequence[Receipt]) -> None:
        self.receipts += receipts
        self.event.set()

    def on_inbound(self, messages: Sequence[InboundMessage]) -> None:
        pass

    def on_state(self, channel: str, state: RouteState) -> None:
        self.state = state
        self.event.set()

    async def tick(self) -> None:
        self.event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), 0.05)


@dataclasses.dataclass(frozen=True)
class ChannelFigures:
    messages: int
    seconds: float
    """From the first result to the last: ``messages - 1`` intervals (no fencepost error at low rates)."""
    rate: float
    submits_at_smsc: int
    throttled: int
    receipts_matched: int
    duplicates: int

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.submits_at_smsc if self.submits_at_smsc else 0.0


async def measure_channel(
    smsc: SimulatorProcess, count: int, *, wait_receipts: bool = True, **bind: Any
) -> ChannelFigures:
    """Send ``count`` messages through a fresh channel bound to ``smsc``, as an engine would (capacity-driven,
    REQUEUEs resent), and count what happened at both ends."""
    config = SmppBindConfig(**{"host": "127.0.0.1", "port": smsc.port, "system_id": "alertcast", "password": "secret",
                               **bind})  # fmt: skip
    events = _Events()
    channel = SmppChannel("bench", [config])
    await channel.start(events)
    try:
        while not events.state.up:
            await events.tick()
        messages = {
            n: OutboundMessage(n, f"+1555{n:07d}", f"Boil water notice {n}: use bottled water.")
            for n in range(count)
        }
        pending, finished, seen = deque(messages.values()), 0, 0
        first_result = last_result = 0.0
        while finished < count:
            for result in events.results[seen:]:
                if result.outcome is Outcome.REQUEUE:
                    pending.append(messages[result.delivery_id])
                else:
                    finished += 1
                    last_result = time.perf_counter()
                    first_result = first_result or last_result
            seen = len(events.results)
            room = min(channel.capacity(), len(pending))
            if room:
                channel.send([pending.popleft() for _ in range(room)])
            await events.tick()
        seconds = last_result - first_result
        provider_ids = {r.provider_id for r in events.results if r.outcome is Outcome.SUBMITTED}
        deadline = time.perf_counter() + 30
        while wait_receipts and len(events.receipts) < count and time.perf_counter() < deadline:
            await events.tick()
        matched = sum(1 for r in events.receipts if r.provider_ids[0] in provider_ids)
    finally:
        await channel.stop()
    stats = smsc.stats()
    return ChannelFigures(
        count, seconds, count / seconds, stats["submits"], stats["throttled"], matched, stats["duplicates"]
    )


async def measure_end_to_end(smsc: SimulatorProcess, count: int, *, window: int) -> dict[str, float]:
    """A broadcast of ``count`` through the store, the engine and one SMPP route to the simulator.

    Timed from the start of creating the broadcast to the last submit_sm_resp recorded in the store; the
    engine runs in this process with an SQLite store in WAL mode, as ``alertcast run`` would.
    """
    import tempfile
    from datetime import UTC, datetime

    from sqlalchemy import func, select
    from sqlmodel import Session

    from alertcast.channels.smpp_route import smpp_channel
    from alertcast.engine.config import EngineSettings, RouteSettings
    from alertcast.engine.dispatcher import Dispatcher
    from alertcast.engine.runner import run_dispatcher
    from alertcast.store import outbox as ob
    from alertcast.store.db import create_db_engine
    from alertcast.store.models import Delivery

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(f"sqlite:///{tmp}/e2e.db")
        settings = {"host": "127.0.0.1", "port": smsc.port, "system_id": "alertcast", "password": "secret",
                    "window": window, "max_rate": 1_000_000.0}  # fmt: skip
        route = RouteSettings(
            name="smsc", type="smpp", kinds=("sms",), drill=False, live=True, settings=settings
        )
        dispatcher = Dispatcher(engine, EngineSettings(), [(route, smpp_channel("smsc", settings))])
        stop = asyncio.Event()
        task = asyncio.create_task(run_dispatcher(dispatcher, stop=stop))
        await asyncio.sleep(1.0)  # bound and idle before the broadcast exists
        spec = ob.BroadcastSpec(
            operator="bench",
            title="end to end",
            messages={"en": ob.MessageText("Boil water notice for zone SL-03 until further notice.")},
            recipients=[(None, f"+1575{i:07d}", "sms", "en") for i in range(count)],
            priority=2,
        )
        started = datetime.now(UTC)

        def create() -> None:
            with Session(engine) as session:
                ob.create_broadcast(session, spec)
                session.commit()

        await asyncio.to_thread(create)
        submitted = select(func.count()).where(Delivery.state.in_(("submitted", "delivered")))  # type: ignore[attr-defined]
        last = select(func.max(Delivery.submitted_at))

        def finished_at() -> datetime | None:
            with Session(engine) as session:
                if session.execute(submitted).scalar_one() < count:
                    return None
                return session.execute(last).scalar_one()

        for _ in range(int(600 / 0.1)):
            await asyncio.sleep(0.1)
            # Watched from a thread, as another process would: the engine's event loop is what is measured.
            finished = await asyncio.to_thread(finished_at)
            if finished is not None:
                break
        else:
            raise RuntimeError("the broadcast did not finish within 10 minutes")
        stop.set()
        await task
        engine.dispose()
    seconds = (finished - started).total_seconds()
    return {"seconds": seconds, "rate": count / seconds}


async def main(count: int, capped_count: int, window: int) -> None:
    print("SMPP channel alone; simulator in its own process on 127.0.0.1")
    with SimulatorProcess(SmscConfig(enquire_link_interval=None)) as smsc:
        figures = await measure_channel(smsc, count, window=window, max_rate=1_000_000.0)
    print(
        f"  unthrottled, window {window}: {figures.messages:,} messages in {figures.seconds:.2f} s = "
        f"{figures.rate:,.0f} submit_sm/s (target >= 3,000); receipts matched {figures.receipts_matched:,}"
    )
    with SimulatorProcess(SmscConfig(enquire_link_interval=None, receipt_delay=0.2)) as smsc:
        e2e = await measure_end_to_end(smsc, count, window=window)
    print(
        f"  end to end (store + engine + channel), {count:,} recipients: {e2e['seconds']:.2f} s from creation "
        f"to the last submit_sm_resp recorded = {e2e['rate']:,.0f} deliveries/s (target >= 2,000)"
    )
    with SimulatorProcess(SmscConfig(throughput=100.0, enquire_link_interval=None)) as smsc:
        figures = await measure_channel(
            smsc, capped_count, window=window, max_rate=100.0, wait_receipts=False
        )
    print(
        f"  SMSC capped at 100/s, channel at 100/s: {figures.rate:.1f} msg/s achieved "
        f"({(figures.rate / 100 - 1) * 100:+.1f} % of the cap; target within 2 %); "
        f"throttled {figures.throttled} of {figures.submits_at_smsc:,} submits "
        f"({figures.throttled_share:.2%}; target < 1 %)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--capped-count", type=int, default=1_000)
    parser.add_argument("--window", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.count, arguments.capped_count, arguments.window))
