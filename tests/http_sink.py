"""A real HTTP server for tests that keeps every JSON web hook it is sent, on 127.0.0.1 (ephemeral port).

The first path segment picks the answer: ``/200/…`` succeeds, ``/500/…`` fails with 500, ``/404/…`` and
``/401/…`` with those codes, ``/slow/…`` answers 200 after ``slow_seconds``. Anything else gets 200.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Hook:
    path: str
    headers: dict[str, str]
    payload: Any


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            payload: Any = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        sink = self.server.sink
        with sink.lock:
            sink.hooks.append(Hook(self.path, dict(self.headers.items()), payload))
        first = self.path.strip("/").split("/", 1)[0]
        if first == "slow":
            time.sleep(sink.slow_seconds)
        status = int(first) if first.isdigit() else 200
        body = b'{"ok": true}' if status < 300 else b'{"error": "test"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    sink: HttpSink


class HttpSink:
    def __init__(self, *, slow_seconds: float = 1.0) -> None:
        self.slow_seconds = slow_seconds
        self.hooks: list[Hook] = []
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.sink = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http"
        )

    def url(self, path: str, scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def hooks_at(self, path: str) -> list[Hook]:
        with self.lock:
            return [h for h in self.hooks if h.path.startswith("/" + path.lstrip("/"))]

    def __enter__(self) -> HttpSink:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
