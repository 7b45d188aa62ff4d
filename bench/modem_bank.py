"""Throughput of the modem bank over 1, 2, 4 and 8 simulated modems.

Each simulated modem takes a fixed time per SMS (50 ms by default, where a real one takes 6–10 s), so a
bank of N modems can at best send N / 0.05 messages a second. The gap between that and what the bank
achieves is its own cost per message: the AT exchange on the pseudo-terminal, the owner thread's wake-ups
and the hand-offs through the event loop. The target is scaling within 3 % of linear at 8 modems.

    uv run python bench/modem_bank.py [--messages 400] [--delay-ms 50] [--counts 1,2,4,8]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType

from alertcast.channels.base import InboundMessage, OutboundMessage, Outcome, Receipt, RouteState, SendResult
from alertcast.channels.modem_bank import ModemBank
from alertcast.channels.modem_config import ModemBankConfig, ModemConfig
from alertcast.sim.modem import ModemBankSimulator, ModemSettings


class Counter:
    """The smallest engine stand-in: counts results and remembers which ones need sending again."""

    def __init__(self) -> None:
        self.submitted = 0
        self.other: list[SendResult] = []
        self.requeue: list[int] = []
        self.changed = asyncio.Event()

    def on_results(self, channel: str, results: Sequence[SendResult]) -> None:
        for result in results:
            if result.outcome is Outcome.SUBMITTED:
                self.submitted += 1
            elif result.outcome is Outcome.REQUEUE:
                self.requeue.append(result.delivery_id)
            else:
                self.other.append(result)
        self.changed.set()

    def on_receipts(self, receipts: Sequence[Receipt]) -> None:
        pass

    def on_inbound(self, messages: Sequence[InboundMessage]) -> None:
        pass

    def on_state(self, channel: str, state: RouteState) -> None:
        pass


@dataclass(frozen=True)
class Run:
    modems: int
    messages: int
    seconds: float
    delay: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def ideal(self) -> float:
        return self.modems / self.delay

    @property
    def efficiency(self) -> float:
        return self.rate / self.ideal

    @property
    def overhead_ms(self) -> float:
        """Time per message per modem beyond the modem's own send time."""
        return (self.seconds * self.modems / self.messages - self.delay) * 1000


def _serve_simulator(modems: int, delay: float, ports: Queue, stop: EventType) -> None:
    """Runs in a child process: real modems are separate devices, so the simulator must not compete with
    the bank for the interpreter lock, or its work would be counted as the bank's overhead."""
    simulator = ModemBankSimulator(modems, settings=ModemSettings(send_delay=delay, report_delay=delay))
    threading.Thread(target=lambda: (stop.wait(), simulator.stop()), daemon=True).start()
    simulator.serve(ready=ports.put)
    ports.put(simulator.stats().sent)


async def run_once(modems: int, count: int, delay: float) -> Run:
    context = multiprocessing.get_context("spawn")
    channel: Queue = context.Queue()
    stop = context.Event()
    child = context.Process(target=_serve_simulator, args=(modems, delay, channel, stop), daemon=True)
    child.start()
    try:
        ports = await asyncio.to_thread(channel.get, True, 30)
        config = ModemBankConfig(
            ports=tuple(ports), modem=ModemConfig(registration_timeout=5.0, status_reports=False)
        )
        bank = ModemBank("bench", config)
        counter = Counter()
        await bank.start(counter)
        if not bank.state.up:
            raise SystemExit(f"modem bank did not come up: {bank.state.reason}")
        by_id = {i: OutboundMessage(i, f"+1555{i:07d}", f"Bench message {i}") for i in range(count)}
        pending = list(by_id.values())
        started = time.perf_counter()
        while counter.submitted < count:
            pending.extend(by_id[i] for i in counter.requeue)
            counter.requeue.clear()
            if counter.other:
                raise SystemExit(f"unexpected result: {counter.other[0]}")
            free = bank.capacity()
            if free and pending:
                batch, pending = pending[:free], pending[free:]
                bank.send(batch)
            counter.changed.clear()
            await counter.changed.wait()
        seconds = time.perf_counter() - started
        await bank.stop()
        stop.set()
        sent = await asyncio.to_thread(channel.get, True, 30)
    finally:
        stop.set()
        child.join(10)
    if sent != count:
        raise SystemExit(f"the simulator saw {sent} messages, expected {count}")
    return Run(modems, count, seconds, delay)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--counts", default="1,2,4,8")
    args = parser.parse_args()
    delay = args.delay_ms / 1000
    counts = [int(part) for part in args.counts.split(",")]
    print(f"modem bank: {args.messages} messages per run, {args.delay_ms:.0f} ms per message per modem\n")
    print(
        f"{'modems':>6} {'seconds':>8} {'msg/s':>8} {'ideal':>7} {'vs ideal':>9} {'scaling':>8} "
        f"{'overhead ms/msg':>16}"
    )
    single: float | None = None
    for modems in counts:
        run = await run_once(modems, args.messages, delay)
        if modems == 1:
            single = run.rate
        scaling = f"{run.rate / (modems * single):.1%}" if single else "-"
        print(
            f"{run.modems:>6} {run.seconds:>8.2f} {run.rate:>8.1f} {run.ideal:>7.1f} {run.efficiency:>9.1%} "
            f"{scaling:>8} {run.overhead_ms:>16.2f}"
        )
    print(
        "\nideal: modems / delay. vs ideal: achieved / ideal. scaling: achieved / (modems x the one-modem rate),"
        "\nthe linear-scaling figure (target within 3 % at 8 modems). overhead: time per message per modem"
        "\nbeyond the modem's own send time (AT exchange, pty, thread hand-offs)."
    )


if __name__ == "__main__":
    asyncio.run(main())
