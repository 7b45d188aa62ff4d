"""A bank of GSM modems behind one channel: every healthy modem busy at once.

A modem sends an SMS every 6–10 s, so throughput comes from many modems working in parallel, each with its
own owner thread (:class:`alertcast.channels.modem.ModemChannel`). The bank itself lives on the event
loop: it hands each message to the healthy modem holding the least work, counts what each modem holds, and
forwards what the modems report. All of its state is touched on the loop thread only; the owner threads
reach it through ``loop.call_soon_threadsafe``.

Capacity is ``queue_per_modem`` (default 2) messages per healthy modem: the one being sent and the next.
With one slot, a modem that finishes a message sits idle until the result has crossed to the loop, the
engine has decided and handed over the next message; with two, the next message is already waiting in the
modem's queue and the hand-off overlaps the send. The price is small: when a modem is pulled, at most one
message that had not started is handed back besides the one in flight.

A modem that fails is taken out and its messages are handed back as REQUEUE; the bank goes down (so the
engine fails over) only when no modem is in service, with every modem's reason in the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alertcast.channels.base import (
    Channel,
    ChannelEvents,
    ChannelKind,
    InboundMessage,
    OutboundMessage,
    Outcome,
    Receipt,
    RouteState,
    SendResult,
)
from alertcast.channels.modem import ModemChannel
from alertcast.channels.modem_config import ModemBankConfig

__all__ = ["ModemBank", "ModemBankConfig", "ModemStatus"]


@dataclass(frozen=True, slots=True)
class ModemStatus:
    """One modem as a status screen shows it."""

    port: str
    in_service: bool
    reason: str
    held: int
    submitted: int
    signal: int
    """+CSQ RSSI 0–31, 99 unknown."""


class _Crossing:
    """The owner threads' view of the bank: every call is carried to the loop thread."""

    def __init__(self, bank: ModemBank, loop: asyncio.AbstractEventLoop) -> None:
        self._bank = bank
        self._loop = loop

    def _post(self, callback: object, *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is listening any more
            self._loop.call_soon_threadsafe(callback, *args)  # type: ignore[arg-type]

    def result(self, port: str, result: SendResult) -> None:
        self._post(self._bank._on_result, port, result)

    def receipts(self, receipts: list[Receipt]) -> None:
        self._post(self._bank._on_receipts, receipts)

    def inbound(self, messages: list[InboundMessage]) -> None:
        self._post(self._bank._on_inbound, messages)

    def health(self, port: str, healthy: bool, reason: str) -> None:
        self._post(self._bank._on_health, port, healthy, reason)


class ModemBank(Channel):
    """The modem bank channel. Ports may be globs; new matching ports are picked up while running."""

    kind = ChannelKind.SMS

    def __init__(self, name: str, config: ModemBankConfig, *, drill_route: bool = False) -> None:
        super().__init__(name, drill_route=drill_route)
        self.config = config
        self._events: ChannelEvents | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._crossing: _Crossing | None = None
        self._workers: dict[str, ModemChannel] = {}
        self._held: dict[str, dict[int, OutboundMessage]] = {}
        self._health: dict[str, tuple[bool, str]] = {}
        self._first_report: dict[str, asyncio.Event] = {}
        self._submitted: Counter[str] = Counter()
        self._turn = 0
        self._running = False
        self._stopped = False
        self._state = RouteState(False, "not started")
        self._results: list[SendResult] = []
        self._flush_scheduled = False
        self._rescan: asyncio.Task[None] | None = None

    # Channel interface ------------------------------------------------------------------------------------

    async def start(self, events: ChannelEvents) -> None:
        """Open every port and wait (bounded) until each modem is in service or has said why not."""
        self._events = events
        self._loop = asyncio.get_running_loop()
        self._crossing = _Crossing(self, self._loop)
        self._running = True
        for port in self._discover():
            self._add(port)
        timeout = self.config.start_timeout or self.config.modem.registration_timeout + 30.0
        waits = [event.wait() for event in self._first_report.values()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        self._rescan = self._loop.create_task(self._rescan_ports())
        self._update_state(force=True)

    async def stop(self) -> None:
        """Stop every modem; what they still hold comes back as REQUEUE before this returns."""
        if not self._running:
            return
        self._running = False
        if self._rescan is not None:
            self._rescan.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rescan
        for worker in self._workers.values():
            worker.request_stop()
        limit = self.config.modem.stop_grace + self.config.modem.command_timeout + 5.0
        await asyncio.gather(*(asyncio.to_thread(worker.join, limit) for worker in self._workers.values()))
        await asyncio.sleep(0)  # let results the threads posted on their way out arrive
        for port, held in self._held.items():
            for message in held.values():
                self._results.append(
                    SendResult(
                        message.delivery_id,
                        Outcome.REQUEUE,
                        error=f"modem {Path(port).name} did not stop in time",
                        possible_duplicate=True,
                    )
                )
                self.stats.requeued += 1
            held.clear()
        self._flush()
        self._stopped = True
        self._update_state(force=True)

    def capacity(self) -> int:
        if not self._running:
            return 0
        limit = self.config.queue_per_modem
        return sum(max(0, limit - len(self._held[port])) for port in self._in_service())

    def send(self, messages: Sequence[OutboundMessage]) -> None:
        for message in messages:
            self.stats.handed += 1
            port = self._pick()
            if port is None:
                self.stats.requeued += 1
                self._queue_result(SendResult(message.delivery_id, Outcome.REQUEUE, error="no modem free"))
                continue
            self._held[port][message.delivery_id] = message
            self._workers[port].submit(message)

    @property
    def state(self) -> RouteState:
        return self._state

    def modems(self) -> list[ModemStatus]:
        return [
            ModemStatus(
                port=port,
                in_service=self._health.get(port, (False, ""))[0],
                reason=self._health.get(port, (False, "starting"))[1],
                held=len(self._held[port]),
                submitted=self._submitted[port],
                signal=worker.signal,
            )
            for port, worker in self._workers.items()
        ]

    # Ports ----------------------------------------------------------------------------------------------

    def _discover(self) -> list[str]:
        found: list[str] = []
        for pattern in self.config.ports:
            if glob.has_magic(pattern):
                found.extend(sorted(glob.glob(pattern)))
            else:
                found.append(pattern)
        known = {os.path.realpath(port) for port in self._workers if os.path.exists(port)}
        fresh: list[str] = []
        for port in dict.fromkeys(found):
            if port in self._workers:
                continue
            real = os.path.realpath(port) if os.path.exists(port) else port
            if real in known:
                continue  # the same modem under another name (by-id link and ttyUSB path)
            known.add(real)
            fresh.append(port)
        return fresh

    def _add(self, port: str) -> None:
        assert self._crossing is not None
        worker = ModemChannel(port, self.config.modem, self._crossing, channel=self.name)
        self._workers[port] = worker
        self._held[port] = {}
        self._first_report[port] = asyncio.Event()
        worker.start()

    async def _rescan_ports(self) -> None:
        while self._running:
            await asyncio.sleep(self.config.rescan_interval)
            for port in self._discover():
                self._add(port)
            self._update_state()

    # Work distribution ------------------------------------------------------------------------------------

    def _in_service(self) -> list[str]:
        return [port for port in self._workers if self._health.get(port, (False, ""))[0]]

    def _pick(self) -> str | None:
        """The in-service modem holding the least work; ties go round-robin so shares stay even."""
        limit = self.config.queue_per_modem
        candidates = [port for port in self._in_service() if len(self._held[port]) < limit]
        if not candidates:
            return None
        self._turn += 1
        ordered = candidates[self._turn % len(candidates) :] + candidates[: self._turn % len(candidates)]
        return min(ordered, key=lambda port: len(self._held[port]))

    # Reports from the owner threads (run on the loop thread) ----------------------------------------------

    def _on_result(self, port: str, result: SendResult) -> None:
        if self._held.get(port, {}).pop(result.delivery_id, None) is None:
            return  # already reported (the stop sweep gave up on this modem)
        if result.outcome is Outcome.SUBMITTED:
            self.stats.submitted += 1
            self._submitted[port] += 1
        elif result.outcome is Outcome.FAILED:
            self.stats.failed += 1
        elif result.outcome is Outcome.RETRY:
            self.stats.retried += 1
        else:
            self.stats.requeued += 1
        self._queue_result(result)

    def _on_receipts(self, receipts: list[Receipt]) -> None:
        self.stats.receipts += len(receipts)
        if self._events is not None:
            self._events.on_receipts(receipts)

    def _on_inbound(self, messages: list[InboundMessage]) -> None:
        self.stats.inbound += len(messages)
        if self._events is not None:
            self._events.on_inbound(messages)

    def _on_health(self, port: str, healthy: bool, reason: str) -> None:
        self._health[port] = (healthy, reason)
        event = self._first_report.get(port)
        if event is not None:
            event.set()
        self._update_state()

    def _update_state(self, *, force: bool = False) -> None:
        if self._stopped:
            state = RouteState(False, "stopped")
        elif not self._workers:
            state = RouteState(False, f"no modem port matches {', '.join(self.config.ports)}")
        elif self._in_service():
            state = RouteState(True)
        else:
            reasons = "; ".join(
                f"{Path(port).name}: {self._health.get(port, (False, 'starting'))[1]}"
                for port in self._workers
            )
            state = RouteState(False, f"no modem in service ({reasons})")
        if state != self._state or force:
            self._state = state
            if self._events is not None:
                self._events.on_state(self.name, state)

    def _queue_result(self, result: SendResult) -> None:
        """Results that arrive together go to the engine as one batch."""
        self._results.append(result)
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._results and self._events is not None:
            results, self._results = self._results, []
            self._events.on_results(self.name, results)
