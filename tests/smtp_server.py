"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, on an ephemeral port, in a thread of its own.

aiosmtpd's ``Controller`` cannot take port 0 (it connects to the port it was given to check the server is
up), so the server is created with ``loop.create_server`` directly: the port is the one the kernel chose,
with no window for another process to take it.

Recipients are refused by prefix, as real servers do at RCPT time: ``bad…`` with 550 (no such mailbox),
``busy…`` with 451 (try later). With ``login`` set, the server wants AUTH with that user and password.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

REFUSALS = {"bad": "550 5.1.1 no such mailbox", "busy": "451 4.7.1 mailbox busy, try later"}


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        for prefix, reply in REFUSALS.items():
            if address.startswith(prefix):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        mail = ReceivedMail(str(envelope.mail_from), tuple(envelope.rcpt_tos), parsed)
        with self.server.lock:
            self.server.received.append(mail)
        return "250 OK: queued"


class SmtpServer:
    def __init__(self, *, login: tuple[str, str] | None = None) -> None:
        self.login = login
        self.received: list[ReceivedMail] = []
        self.lock = threading.Lock()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, name="test-smtp", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._sessions: list[SMTP] = []

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.login
        return AuthResult(success=ok, handled=False)

    def _factory(self) -> SMTP:
        kwargs: dict[str, Any] = {"hostname": "smtp.test", "ident": "alertcast test SMTP"}
        if self.login is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=False)
        session = SMTP(_Handler(self), **kwargs)
        self._sessions.append(session)
        return session

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                self._loop.create_server(self._factory, "127.0.0.1", 0)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> SmtpServer:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"test SMTP server did not start: {self._error!r}")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            for session in self._sessions:  # a client that never said QUIT still holds a socket
                if session.transport is not None:
                    session.transport.close()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def mails_to(self, address: str) -> list[ReceivedMail]:
        with self.lock:
            return [m for m in self.received if address in m.recipients]
