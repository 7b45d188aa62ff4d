"""The engine's one database thread.

Every outbox call is blocking (SQLite waits on its lock, PostgreSQL on the network), so the engine never
makes one on the event loop: channels keep reporting while the database works. One thread, not a pool:
the engine's own writes never contend with each other, and claims and result batches keep their order.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")


class StoreWorker:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alertcast-store")

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function(engine, *args, **kwargs)`` on the store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, functools.partial(function, self.engine, *args, **kwargs)
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True)
