"""The ack link server: ``GET /a/<token>`` shows a confirmation page, ``POST /a/<token>`` acknowledges.

A GET never acknowledges: mail scanners and link previews fetch every link in a message, and a person who
never read the alert must not show as having confirmed it. The page's button POSTs, which those robots do
not do. An unknown or forged token gets the same 404 as a malformed one, revealing nothing; each client
address is rate-limited (a token bucket), and requests must arrive whole within a few seconds.

A deliberately small HTTP/1.1 server on asyncio streams (one request per connection, no keep-alive): no
dependency, and nothing here needs more. Put it behind the site's reverse proxy for TLS; the proxy's
address is then the client address, so size the rate limit for it or let the proxy limit per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine

from alertcast.config import Config, ConfigError
from alertcast.core.ack_codes import ack_link_url, with_ack_link
from alertcast.engine.ratelimit import TokenBucket
from alertcast.store.ack_links import ack_by_token, link_info, link_token
from alertcast.store.ack_records import AckOutcome
from alertcast.store.outbox_escalation import stop_for_acknowledged

log = logging.getLogger(__name__)
T = TypeVar("T")

_PATH = re.compile(r"^/a/([^/?#]{1,120})/?(?:\?.*)?$")
MAX_LINE = 4096
MAX_HEADERS = 64
MAX_BODY = 4096


@dataclass(frozen=True)
class AckLinkSettings:
    """``[ack_links]`` in the configuration. Off unless ``enabled``; ``base_url`` is what people click."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8089
    base_url: str = ""
    """The public address of this server, e.g. ``https://alerts.example.org`` (links are ``<base>/a/<token>``)."""
    requests_per_minute: float = 20.0
    """Per client address, sustained."""
    burst: int = 10
    read_timeout: float = 10.0

    @classmethod
    def from_config(cls, config: Config) -> AckLinkSettings:
        raw = config.section("ack_links")
        where = f"{config.path or 'configuration'}: ack_links"
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        d = cls()
        values: dict[str, Any] = {}
        for key, kind in (("enabled", bool), ("host", str), ("base_url", str)):
            value = raw.get(key, getattr(d, key))
            if not isinstance(value, kind):
                raise ConfigError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
            values[key] = value
        for key, low, high in (("port", 0, 65535), ("burst", 1, 10_000)):
            value = raw.get(key, getattr(d, key))
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{where}.{key}: expected a whole number {low}..{high}, got {value!r}")
            values[key] = value
        for key in ("requests_per_minute", "read_timeout"):
            value = raw.get(key, getattr(d, key))
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{where}.{key}: expected a number > 0, got {value!r}")
            values[key] = float(value)
        settings = cls(**values)
        if settings.enabled:
            try:
                ack_link_url(settings.base_url, "t")
            except ValueError as exc:
                raise ConfigError(f"{where}.base_url: {exc}") from None
        return settings

    def link_for(self, delivery_id: int, ack_code: str | None) -> str | None:
        """The link of one delivery (its ``ack_code`` from :func:`assign_link_tokens`), or None."""
        if not self.enabled or not ack_code:
            return None
        return ack_link_url(self.base_url, link_token(delivery_id, ack_code))

    def body_with_link(self, body: str, delivery_id: int, ack_code: str | None, language: str = "en") -> str:
        """A long-form body with the delivery's link line added (unchanged when links are off)."""
        url = self.link_for(delivery_id, ack_code)
        return with_ack_link(body, url, language) if url else body


_STYLE = "body{font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em}button{font-size:1.2em}"
_STATUS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
}


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title><style>{_STYLE}</style>'
        f"</head><body>{body}</body></html>"
    ).encode()


NOT_FOUND = _page("Link not valid", "<h1>This link is not valid</h1><p>Nothing was recorded.</p>")


def _confirm_page(token: str, title: str, acknowledged: bool) -> bytes:
    heading = f"<h1>{html.escape(title)}</h1>"
    if acknowledged:
        return _page("Confirmed", heading + "<p>You have already confirmed this message. Thank you.</p>")
    form = (
        f'<form method="post" action="/a/{html.escape(token)}">'
        '<button type="submit">I received this message</button></form>'
    )
    return _page("Confirm", heading + "<p>Please confirm that you received this alert.</p>" + form)


THANKS = _page("Thank you", "<h1>Thank you</h1><p>Your confirmation has been recorded.</p>")


class _BadRequest(Exception):
    pass


def _acknowledge(engine: Engine, token: str) -> AckOutcome | None:
    """Record the acknowledgement, then send nothing more to that person for that broadcast (queued
    deliveries, fallback steps)."""
    outcome = ack_by_token(engine, token)
    if outcome is not None and outcome.broadcast_id is not None and outcome.contact_id is not None:
        stop_for_acknowledged(engine, [(outcome.broadcast_id, outcome.contact_id)])
    return outcome


@dataclass(frozen=True)
class _Request:
    method: str
    path: str


class AckLinkServer:
    """A running server; ``await close()`` stops it (hosted by the engine for as long as it runs)."""

    def __init__(
        self,
        engine: Engine,
        *,
        requests_per_minute: float,
        burst: int,
        read_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self._rate = requests_per_minute / 60.0
        self._burst = burst
        self._read_timeout = read_timeout
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._db = ThreadPoolExecutor(max_workers=2, thread_name_prefix="alertcast-acklink")
        self._server: asyncio.Server | None = None
        self.host = ""
        self.port = 0
        self.served = 0
        self.acknowledged = 0
        self.limited = 0

    async def _start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, host, port, limit=MAX_LINE)
        self.host, self.port = self._server.sockets[0].getsockname()[:2]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._db.shutdown(wait=True)

    async def _db_call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, function, self.engine, *args)

    def _allow(self, client: str) -> bool:
        if len(self._buckets) > 10_000:  # forget clients whose bucket has refilled: they are idle
            self._buckets = {k: b for k, b in self._buckets.items() if b.available() < self._burst}
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = TokenBucket(self._rate, self._burst, self._clock)
        return bucket.try_take(1)

    async def _read(self, reader: asyncio.StreamReader) -> _Request:
        try:
            line = (await reader.readline()).decode("latin-1").strip()
            parts = line.split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                raise _BadRequest
            length = 0
            for _ in range(MAX_HEADERS + 1):
                header = (await reader.readline()).decode("latin-1").strip()
                if not header:
                    break
                name, _, value = header.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            else:
                raise _BadRequest
            if not 0 <= length <= MAX_BODY:
                raise _BadRequest
            if length:
                await reader.readexactly(length)
        except (ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError) as exc:
            raise _BadRequest from exc
        return _Request(parts[0].upper(), parts[1])

    async def _respond(self, client: str, request: _Request) -> tuple[int, bytes, dict[str, str]]:
        if not self._allow(client):
            self.limited += 1
            return (
                429,
                _page("Slow down", "<h1>Too many requests</h1><p>Try again in a minute.</p>"),
                {"Retry-After": "60"},
            )
        match = _PATH.match(request.path)
        if request.method not in ("GET", "HEAD", "POST"):
            return 405, NOT_FOUND, {"Allow": "GET, HEAD, POST"}
        if match is None:
            return 404, NOT_FOUND, {}
        token = match.group(1)
        if request.method == "POST":
            outcome = await self._db_call(_acknowledge, token)
            if outcome is None:
                return 404, NOT_FOUND, {}
            self.acknowledged += 1
            return 200, THANKS, {}
        info = await self._db_call(link_info, token)
        if info is None:
            return 404, NOT_FOUND, {}
        return 200, _confirm_page(token, info.title, info.acknowledged), {}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "?"
        method = ""
        try:
            try:
                async with asyncio.timeout(self._read_timeout):
                    request = await self._read(reader)
            except (_BadRequest, TimeoutError):
                status, body, extra = 400, _page("Bad request", "<h1>Bad request</h1>"), {}
            else:
                method = request.method
                status, body, extra = await self._respond(client, request)
            self.served += 1
            head = [
                f"HTTP/1.1 {status} {_STATUS[status]}",
                "Content-Type: text/html; charset=utf-8",
                f"Content-Length: {len(body)}",
                "Cache-Control: no-store",
                "Referrer-Policy: no-referrer",
                "X-Content-Type-Options: nosniff",
                "X-Frame-Options: DENY",
                "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                "Connection: close",
                *(f"{k}: {v}" for k, v in extra.items()),
            ]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except ConnectionError:
            pass
        except Exception:
            log.exception("ack link server: request failed")  # never the token: it is a secret
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def start_ack_link_server(
    engine: Engine,
    host: str = "127.0.0.1",
    port: int = 8089,
    *,
    requests_per_minute: float = 20.0,
    burst: int = 10,
    read_timeout: float = 10.0,
) -> AckLinkServer:
    """Listen on ``host:port`` (0 picks a free port; see ``server.port``) until ``await server.close()``."""
    server = AckLinkServer(
        engine, requests_per_minute=requests_per_minute, burst=burst, read_timeout=read_timeout
    )
    await server._start(host, port)
    log.info("ack link server listening on %s:%d", server.host, server.port)
    return server
