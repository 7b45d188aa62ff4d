"""Hosting the engine beside a user interface: its own thread, its own event loop.

The console must keep drawing while the engine writes to the store and talks to transports, so the
engine never shares the UI's loop: it runs in a background thread with a loop of its own, events leave
it through a callback (the console turns them into Textual messages), and stopping it is one thread-safe
call. The headless demo uses the same host, so both behave alike.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from alertcast.engine.events import Event, EventBus
from alertcast.engine.runner import RunSummary
from alertcast.services.context import AppContext
from alertcast.services.dispatch import RunOptions, run_engine_async


@dataclass
class EngineHost:
    ctx: AppContext
    options: RunOptions = field(default_factory=RunOptions)
    on_event: Callable[[Event], None] | None = None
    """Called on the engine's thread for every event; must not block (post a message, append, ...)."""
    summary: RunSummary | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _started: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._started.clear()
        self.summary = self.error = None
        self._thread = threading.Thread(target=self._main, name="alertcast-engine", daemon=True)
        self._thread.start()
        self._started.wait(10)

    def _main(self) -> None:
        async def run() -> RunSummary:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            bus = EventBus()
            if self.on_event is not None:
                bus.subscribe_callback(self.on_event)
            self._started.set()
            return await run_engine_async(self.ctx, self.options, stop=self._stop, events=bus)

        try:
            self.summary = asyncio.run(run())
        except BaseException as exc:  # reported to the UI; the thread must not die silently
            self.error = exc
        finally:
            self._started.set()

    def stop(self, timeout: float = 30.0) -> RunSummary | None:
        """Ask the engine to stop gracefully (channels hand back what they hold) and wait for it."""
        loop, stop = self._loop, self._stop
        if self.running and loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> RunSummary | None:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.summary
