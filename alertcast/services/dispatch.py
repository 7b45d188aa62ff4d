"""Running the engine: build the dispatcher from the configuration and run it until stopped or idle.

``alertcast run`` calls :func:`run_engine` (its own event loop, stopped gracefully by SIGINT/SIGTERM); the
console calls :func:`run_engine_async` from a worker with its own stop event and event bus.

Whatever hosts it, the engine matches replies to broadcasts (``[acks]``), runs the fallback sweep
(``[[fallback]]``) and, when ``[ack_links] enabled``, serves the acknowledgement links its e-mails carry.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace

from alertcast.config import ConfigError
from alertcast.engine.ack_link import AckLinkSettings, start_ack_link_server
from alertcast.engine.config import EngineConfig, load_engine_config
from alertcast.engine.dispatcher import Dispatcher
from alertcast.engine.escalation import load_fallback
from alertcast.engine.events import Event, EventBus
from alertcast.engine.inbound import InboundHandler, ReplyMatcher
from alertcast.engine.routes import build_channel
from alertcast.engine.runner import RunSummary, run_dispatcher
from alertcast.services.context import AppContext
from alertcast.store.acks import AckSettings

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
    """The engine's configuration, with every section it reads checked (errors name the key)."""
    load_fallback(ctx.config)
    AckSettings.from_config(ctx.config)
    AckLinkSettings.from_config(ctx.config)
    return load_engine_config(ctx.config)


def build_dispatcher(
    ctx: AppContext,
    *,
    events: EventBus | None = None,
    owner: str | None = None,
    inbound: InboundHandler | None = None,
) -> Dispatcher:
    """The dispatcher with every configured route's channel built (not started). ``inbound`` takes replies
    from people (default: matched to broadcasts per ``[acks]``)."""
    config = engine_config(ctx)
    settings = config.engine
    if owner:
        settings = replace(settings, owner=owner)
    routes = [(route, build_channel(route)) for route in config.routes]
    handler = inbound or ReplyMatcher(AckSettings.from_config(ctx.config))
    links = AckLinkSettings.from_config(ctx.config)
    return Dispatcher(ctx.engine, settings, routes, events=events, inbound=handler, links=links)


async def run_engine_async(
    ctx: AppContext,
    options: RunOptions = RunOptions(),
    *,
    stop: asyncio.Event | None = None,
    events: EventBus | None = None,
    inbound: InboundHandler | None = None,
) -> RunSummary:
    """Run until ``stop`` is set (or idle, per ``options``); for hosts with their own event loop thread.
    Hosts the ack link server for as long as the engine runs, when ``[ack_links]`` enables it."""
    dispatcher = build_dispatcher(ctx, events=events, owner=options.owner, inbound=inbound)
    links = AckLinkSettings.from_config(ctx.config)
    server = None
    if links.enabled:
        try:
            server = await start_ack_link_server(
                ctx.engine,
                links.host,
                links.port,
                requests_per_minute=links.requests_per_minute,
                burst=links.burst,
                read_timeout=links.read_timeout,
            )
        except OSError as exc:
            raise ConfigError(
                f"ack_links: cannot listen on {links.host}:{links.port}: {exc.strerror}"
            ) from exc
    try:
        return await run_dispatcher(
            dispatcher, until_idle=options.until_idle, receipt_timeout=options.receipt_timeout, stop=stop
        )
    finally:
        if server is not None:
            await server.close()


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
