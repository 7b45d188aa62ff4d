"""A tiny HTTP control for the simulator, so a demo, a drill or a script in another process can drive it.

``POST /mo`` with ``{"from": ..., "to": ..., "text": ...}`` (optional ``"system_id"``) injects a reply from a
phone; ``GET /stats`` returns the counters (``?texts=1`` adds every reassembled text); ``POST /disconnect``
drops every SMPP connection abruptly. It listens on 127.0.0.1 only by default and speaks just enough
HTTP/1.1 for curl and httpx: one request per connection, JSON in and out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alertcast.sim.smsc import SmscSimulator

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 8 * 1024
MAX_BODY_BYTES = 64 * 1024
REQUEST_TIMEOUT = 10.0
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
}


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlServer:
    def __init__(self, sim: SmscSimulator) -> None:
        self.sim = sim
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve_client, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and let requests in progress finish (their connections are cut after a second).

        Handler tasks are never cancelled: asyncio's stream server logs a spurious traceback for a
        cancelled handler (CPython 3.11), so a stuck client has its connection aborted instead.
        """
        if self._server is None:
            return
        self._server.close()
        if self._clients:
            _, stuck = await asyncio.wait([task for task, _ in self._clients.items()], timeout=1.0)
            for task in stuck:
                self._clients[task].transport.abort()
            if stuck:
                await asyncio.wait(stuck, timeout=1.0)
        await self._server.wait_closed()

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = writer
        try:
            try:
                status, payload = await asyncio.wait_for(self._answer(reader), REQUEST_TIMEOUT)
            except HttpError as error:
                status, payload = error.status, {"error": str(error)}
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            body = json.dumps(payload).encode()
            head = (
                f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._clients.pop(task, None)

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEADER_BYTES:
            raise HttpError(413, "request headers too large")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise HttpError(400, f"malformed request line {lines[0]!r}")
        method, target, _ = parts
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as error:
            raise HttpError(400, "Content-Length is not a number") from error
        if not 0 <= length <= MAX_BODY_BYTES:
            raise HttpError(413, f"body of {length} bytes; at most {MAX_BODY_BYTES} accepted")
        body = await reader.readexactly(length) if length else b""
        path, _, query = target.partition("?")
        return self._route(method, path, query, body)

    def _route(self, method: str, path: str, query: str, body: bytes) -> tuple[int, dict[str, Any]]:
        routes = {"/mo": "POST", "/stats": "GET", "/disconnect": "POST"}
        if path not in routes:
            raise HttpError(404, f"no such path {path!r}; use POST /mo, GET /stats or POST /disconnect")
        if method != routes[path]:
            raise HttpError(405, f"{path} takes {routes[path]}, not {method}")
        if path == "/stats":
            return 200, self.sim.stats.to_dict(with_messages="texts=1" in query.split("&"))
        if path == "/disconnect":
            return 200, {"disconnected": self.sim.disconnect_all()}
        return 200, self._inject_mo(body)

    def _inject_mo(self, body: bytes) -> dict[str, Any]:
        try:
            request = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            raise HttpError(400, f"body is not JSON: {error}") from error
        if not isinstance(request, dict):
            raise HttpError(400, 'body must be a JSON object {"from": ..., "to": ..., "text": ...}')
        for name in ("from", "to", "text"):
            if not isinstance(request.get(name), str):
                raise HttpError(400, f"field {name!r} is required and must be a string")
        system_id = request.get("system_id")
        if system_id is not None and not isinstance(system_id, str):
            raise HttpError(400, "field 'system_id' must be a string when given")
        try:
            parts = self.sim.inject_mo(request["from"], request["to"], request["text"], system_id=system_id)
        except ValueError as error:
            raise HttpError(400, str(error)) from error
        return {"queued": True, "parts": parts}
