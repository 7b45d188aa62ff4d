"""A bank of simulated GSM modems, each on its own pseudo-terminal, for the demo, drills and the tests.

A client opens a modem exactly as it would open a USB modem: a serial port path, through pyserial. The
simulator owns the pty master side; one selector thread serves every modem, so the AT engines
(:mod:`alertcast.sim.modem_at`) never need locks. Other threads talk to it by posting calls onto that
thread.

Pulling a USB modem is the hard case a modem bank must survive, so it is simulated faithfully: ``unplug``
closes the pty master, which makes the client's reads and writes fail with an I/O error, and removes the
port's path; ``replug`` creates a new pty. A pty's own path (``/dev/pts/N``) changes when it is re-created,
just as ``/dev/ttyUSB0`` may become ``/dev/ttyUSB1``; real installations use the stable names udev keeps in
``/dev/serial/by-id``. The simulator keeps the same kind of stable name: one symlink per modem in a folder of
its own, re-pointed on replug. Clients open those paths.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import random
import selectors
import tempfile
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from alertcast.sim.modem_at import SimulatedModem
from alertcast.sim.modem_commands import ModemSettings, StoredMessage
from alertcast.sim.modem_stats import ModemStatsSnapshot, ReceivedMessage

__all__ = ["ModemBankSimulator", "ModemSettings", "ModemStatsSnapshot", "ReceivedMessage"]

T = TypeVar("T")
_IDLE_NOISE_INTERVAL = 0.25
_CALL_TIMEOUT = 10.0
_MAX_EARLY_WAKE = 0.002


@dataclass
class _Port:
    """One plugged-in pty. The simulator keeps a slave fd open too, so the master never sees a hang-up
    between two clients and nothing the client wrote is lost while it reconnects."""

    master: int
    slave: int
    device: str
    out: bytearray = field(default_factory=bytearray)
    writing: bool = False


class ModemBankSimulator:
    """N simulated modems on pseudo-terminals, reachable at :attr:`port_paths`.

    Use as a context manager or call :meth:`start` / :meth:`stop`. Every public method may be called from
    any thread; it runs on the simulator's thread and waits for the result.
    """

    def __init__(
        self,
        count: int = 4,
        *,
        settings: ModemSettings | Sequence[ModemSettings] | None = None,
        folder: str | Path | None = None,
        seed: int = 0,
    ) -> None:
        if count < 1:
            raise ValueError(f"a modem bank needs at least one modem, got count={count}")
        if isinstance(settings, Sequence):
            if len(settings) != count:
                raise ValueError(f"{len(settings)} settings given for {count} modems")
            per_modem = [replace(item) for item in settings]
        else:
            per_modem = [replace(settings or ModemSettings()) for _ in range(count)]
        for index, item in enumerate(per_modem):
            if not item.imei:
                item.imei = f"35{seed % 1000:03d}0000{index:06d}"
        self._rng = random.Random(seed)
        self._modems = [
            SimulatedModem(index, item, self, random.Random(self._rng.random()))
            for index, item in enumerate(per_modem)
        ]
        self._folder_given = Path(folder) if folder is not None else None
        self._folder: Path | None = None
        self._ports: dict[int, _Port] = {}
        self._selector: selectors.BaseSelector | None = None
        self._wake_r = self._wake_w = -1
        self._calls: deque[Callable[[], None]] = deque()
        self._calls_lock = threading.Lock()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._oversleep = 0.0
        self._thread: threading.Thread | None = None
        self._running = False
        self._stopped = threading.Event()

    # Life cycle ------------------------------------------------------------------------------------------

    def __enter__(self) -> ModemBankSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the modem simulator is already running")
        if self._folder_given is not None:
            self._folder_given.mkdir(parents=True, exist_ok=True)
            self._folder = self._folder_given
        else:
            self._folder = Path(tempfile.mkdtemp(prefix="alertcast-modems-"))
        # select() takes its timeout in microseconds (epoll in whole milliseconds): timers fire on time.
        self._selector = selectors.SelectSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        for index in range(len(self._modems)):
            self._plug(index)
        self._running = True
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name="modem-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close every pty and remove the port links (and the folder when it was ours)."""
        if self._thread is None:
            return
        self._running = False
        self._wake()
        self._thread.join(timeout=_CALL_TIMEOUT)
        self._thread = None
        for index in list(self._ports):
            self._unplug_now(index)
        assert self._selector is not None
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        if self._folder is not None and self._folder_given is None:
            with contextlib.suppress(OSError):
                self._folder.rmdir()
        self._stopped.set()

    def serve(self, *, ready: Callable[[list[str]], None] | None = None) -> None:
        """Run until :meth:`stop` is called from another thread (or KeyboardInterrupt); for the CLI."""
        self.start()
        try:
            if ready is not None:
                ready(self.port_paths)
            while not self._stopped.wait(0.5):
                pass
        finally:
            self.stop()

    # Public controls -------------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return len(self._modems)

    @property
    def folder(self) -> Path:
        if self._folder is None:
            raise RuntimeError("the modem simulator is not started")
        return self._folder

    @property
    def port_paths(self) -> list[str]:
        """Stable port paths, one per modem, valid across unplug/replug (like /dev/serial/by-id)."""
        return [str(self._link(index)) for index in range(len(self._modems))]

    def settings(self, modem: int) -> ModemSettings:
        """A copy of a modem's settings."""
        return self._on_loop(lambda: replace(self._modems[modem].settings))

    def configure(self, modem: int, **changes: Any) -> None:
        """Change a modem's settings while it runs, e.g. ``configure(1, registration=2)`` (lose network)."""
        settings = self._modems[modem].settings
        for name in changes:
            if not hasattr(settings, name):
                raise ValueError(f"modem simulator has no setting {name!r}")
        self._on_loop(lambda: [setattr(settings, name, value) for name, value in changes.items()])

    def configure_all(self, **changes: Any) -> None:
        for index in range(len(self._modems)):
            self.configure(index, **changes)

    def inject_sms(self, modem: int, sender: str, text: str) -> None:
        """A phone sends ``text`` to the SIM in ``modem``."""
        self._on_loop(lambda: self._modems[modem].inject_sms(sender, text))

    def fail_next(self, modem: int, code: int, count: int = 1, *, after: int = 0) -> None:
        """After ``after`` good sends, the next ``count`` sends on ``modem`` end in ``+CMS ERROR: <code>``."""
        self._on_loop(lambda: self._modems[modem].fail_codes.extend([None] * after + [code] * count))

    def fail_fraction(self, modem: int, code: int, fraction: float) -> None:
        """A share of sends on ``modem`` (chosen at random, seeded) end in ``+CMS ERROR: <code>``."""
        if not 0 <= fraction <= 1:
            raise ValueError(f"fraction must be within 0..1, got {fraction}")
        self._on_loop(
            lambda: setattr(self._modems[modem], "fail_fraction", (code, fraction) if fraction else None)
        )

    def unplug(self, modem: int) -> None:
        """Pull the modem: the client's port fails with an I/O error and the port path disappears."""
        self._on_loop(lambda: self._unplug_now(modem))

    def replug(self, modem: int) -> None:
        """Plug the modem back in: a fresh pty behind the same stable path, the modem freshly powered on."""
        self._on_loop(lambda: self._plug(modem) if modem not in self._ports else None)

    def stored(self, modem: int) -> list[StoredMessage]:
        """What is in the SIM storage of ``modem`` (copies)."""
        return self._on_loop(lambda: [replace(item) for item in self._modems[modem].storage.values()])

    def pin_attempts_left(self, modem: int) -> int:
        return self._on_loop(lambda: self._modems[modem].pin_attempts)

    def busy_modems(self) -> int:
        """Modems with a send between Ctrl-Z and its answer."""
        return self._on_loop(lambda: sum(engine.busy for engine in self._modems))

    def plugged(self, modem: int) -> bool:
        return self._on_loop(lambda: modem in self._ports)

    def stats(self, modem: int | None = None) -> ModemStatsSnapshot:
        """Counters of one modem, or of the whole bank when ``modem`` is None."""
        if modem is not None:
            return self._on_loop(lambda: self._modems[modem].stats.snapshot())
        return self._on_loop(
            lambda: ModemStatsSnapshot.combine([engine.stats.snapshot() for engine in self._modems])
        )

    # Scheduler (used by the AT engines, on the simulator thread) ---------------------------------------

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + max(delay, 0.0), next(self._timer_seq), callback))

    # Internals -------------------------------------------------------------------------------------------

    def _link(self, index: int) -> Path:
        return self.folder / f"sim-modem-{index}"

    def _plug(self, index: int) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        device = os.ttyname(slave)
        port = _Port(master=master, slave=slave, device=device)
        self._ports[index] = port
        assert self._selector is not None
        self._selector.register(master, selectors.EVENT_READ, index)
        link = self._link(index)
        temporary = link.with_name(f".{link.name}.new")  # hidden: a glob on the folder never sees it
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(device)
        temporary.replace(link)
        self._modems[index].attach(lambda data: self._write(index, data))

    def _unplug_now(self, index: int) -> None:
        port = self._ports.pop(index, None)
        if port is None:
            return
        self._modems[index].detach()
        with contextlib.suppress(FileNotFoundError):
            self._link(index).unlink()
        assert self._selector is not None
        self._selector.unregister(port.master)
        os.close(port.master)
        os.close(port.slave)

    def _write(self, index: int, data: bytes) -> None:
        port = self._ports.get(index)
        if port is None:
            return
        port.out += data
        self._flush(index, port)

    def _flush(self, index: int, port: _Port) -> None:
        while port.out:
            try:
                written = os.write(port.master, port.out)
            except BlockingIOError:
                break
            except OSError:
                port.out.clear()
                break
            del port.out[:written]
        wants_write = bool(port.out)
        if wants_write != port.writing:
            port.writing = wants_write
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wants_write else 0)
            assert self._selector is not None
            self._selector.modify(port.master, events, index)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    def _on_loop(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the simulator thread and return its result (directly when not running)."""
        if self._thread is None or threading.current_thread() is self._thread:
            return function()
        done = threading.Event()
        outcome: list[Any] = []

        def call() -> None:
            try:
                outcome.append((True, function()))
            except BaseException as error:
                outcome.append((False, error))
            done.set()

        with self._calls_lock:
            self._calls.append(call)
        self._wake()
        if not done.wait(_CALL_TIMEOUT):
            raise TimeoutError("the modem simulator did not answer")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def _run(self) -> None:
        selector = self._selector
        assert selector is not None
        self.call_later(_IDLE_NOISE_INTERVAL, self._idle_noise)
        while self._running:
            timeout = 0.5
            if self._timers:
                # Wake early by the usual oversleep (timer slack, scheduling), so a modem that takes 50 ms
                # to send answers after 50 ms, not 50.4.
                due = self._timers[0][0] - self._oversleep
                timeout = min(timeout, max(0.0, due - time.monotonic()))
            for key, mask in selector.select(timeout):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                    continue
                self._serve_port(key.data, mask)
            self._run_timers()
            self._run_calls()
        self._run_calls()

    def _serve_port(self, index: int, mask: int) -> None:
        port = self._ports.get(index)
        if port is None:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(index, port)
        if mask & selectors.EVENT_READ:
            try:
                data = os.read(port.master, 4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if data:
                self._modems[index].feed(data)

    def _run_timers(self) -> None:
        now = time.monotonic()
        if self._timers and self._timers[0][0] <= now:
            late = now - self._timers[0][0]
            self._oversleep = min(0.9 * self._oversleep + 0.1 * (self._oversleep + late), _MAX_EARLY_WAKE)
        elif self._timers and self._timers[0][0] - now < 0.002:
            # Woke a moment early: wait out the rest with short sleeps rather than a timer that oversleeps.
            self._oversleep = max(self._oversleep - 0.00002, 0.0)
            return
        while self._timers and self._timers[0][0] <= now:
            _, _, callback = heapq.heappop(self._timers)
            callback()

    def _run_calls(self) -> None:
        while True:
            with self._calls_lock:
                if not self._calls:
                    return
                call = self._calls.popleft()
            call()

    def _idle_noise(self) -> None:
        for index, engine in enumerate(self._modems):
            if index in self._ports and not engine.busy:
                engine.maybe_noise()
        self.call_later(_IDLE_NOISE_INTERVAL, self._idle_noise)
