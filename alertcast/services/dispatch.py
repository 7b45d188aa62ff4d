"""Running the engine: build the dispatcher from the configuration and run it until stopped or idle.

``alertcast run`` calls :func:`run_engine` (its own event loop, stopped gracefully by SIGINT/SIGTERM); the
console calls :func:`run_engine_async` from a worker with its own stop event and event bus.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace

from alertcast.config import ConfigError
from alertcast.engine.config import EngineConfig, load_engine_config
from alertcast.engine.dispatcher import Dispatcher
from alertcast.engine.events import Event, EventBus
from alertcast.engine.inbound import InboundHandler
from alertcast.engine.routes import build_channel
from alertcast.engine.runner import RunSummary, run_dispatcher
from alertcast.services.context import AppContext

ENGINE_ERRORS: tuple[type[Exception], ...] = (ConfigError,)


@dataclass(frozen=True)
class RunOptions:
    until_idle: bool = False
    """Stop once nothing is queued that a configured route could carry and nothing is claimed."""
    receipt_timeout: float = 0.0
    """With ``until_idle``: then wait up to this many seconds for receipts of what was submitted."""
    owner: str | None = None
    """Lease owner name (default ``host/pid/random``)."""


def engine_config(ctx: AppContext) -> EngineConfig:
    return load_engine_config(ctx.config)


def build_dispatcher(
    ctx: AppContext,
    *,
    events: EventBus | None = None,
    owner: str | None = None,
    inbound: InboundHandler | None = None,
) -> Dispatcher:
    """The dispatcher with every configured route's channel built (not started). ``inbound`` takes replies
    from people (default: kept as unmatched acks)."""
    config = engine_config(ctx)
    settings = config.engine
    if owner:
        settings = replace(settings, owner=owner)
    routes = [(route, build_channel(route)) for route in config.routes]
    return Dispatcher(ctx.engine, settings, routes, events=events, inbound=inbound)


async def run_engine_async(
    ctx: AppContext,
    options: RunOptions = RunOptions(),
    *,
    stop: asyncio.Event | None = None,
    events: EventBus | None = None,
    inbound: InboundHandler | None = None,
) -> RunSummary:
    """Run until ``stop`` is set (or idle, per ``options``); for hosts with their own event loop thread."""
    dispatcher = build_dispatcher(ctx, events=events, owner=options.owner, inbound=inbound)
    return await run_dispatcher(
        dispatcher, until_idle=options.until_idle, receipt_timeout=options.receipt_timeout, stop=stop
    )


def run_engine(
    ctx: AppContext, options: RunOptions = RunOptions(), *, on_event: Callable[[Event], None] | None = None
) -> RunSummary:
    """Run in a new event loop until idle (with ``until_idle``) or until SIGINT/SIGTERM, then stop gracefully."""
    engine_config(ctx)  # configuration errors surface before anything starts

    async def main() -> RunSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        events = EventBus()
        if on_event is not None:
            events.subscribe_callback(on_event)
        try:
            return await run_engine_async(ctx, options, stop=stop, events=events)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    return asyncio.run(main())
