"""Running the simulator on its own event loop in a background thread, for synchronous code (benchmarks,
scripts, tests that drive a blocking client). Every call on the handle hops onto the simulator's loop, so
the simulator keeps its single-threaded world."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from alertcast.sim.smsc import SmscSimulator

T = TypeVar("T")


class SmscThread:
    """A handle on a simulator running in its own thread; every call hops onto the simulator's loop."""

    def __init__(self, sim: SmscSimulator, loop: asyncio.AbstractEventLoop) -> None:
        self.sim = sim
        self.loop = loop

    @property
    def port(self) -> int:
        return self.sim.port

    @property
    def http_port(self) -> int | None:
        return self.sim.http_port

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(func(*args, **kwargs))
            except Exception as error:
                future.set_exception(error)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def stats(self, *, with_messages: bool = False) -> dict[str, Any]:
        return self.call(lambda: self.sim.stats.to_dict(with_messages=with_messages))

    def inject_mo(self, sender: str, recipient: str, text: str, *, system_id: str | None = None) -> int:
        return self.call(self.sim.inject_mo, sender, recipient, text, system_id=system_id)

    def disconnect_all(self) -> int:
        return self.call(self.sim.disconnect_all)


@contextlib.contextmanager
def run_in_thread(sim: SmscSimulator) -> Iterator[SmscThread]:
    loop = asyncio.new_event_loop()
    started: Future[None] = Future()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            await sim.start()
        except Exception as error:
            started.set_exception(error)
            return
        started.set_result(None)
        await stop.wait()
        await sim.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="smsc-sim", daemon=True)
    thread.start()
    try:
        started.result(timeout=10)
        yield SmscThread(sim, loop)
    finally:
        if thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()
