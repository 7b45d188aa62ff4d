"""One bound SMPP socket: opening and binding it with smpplib, framing what arrives, writing what leaves.

Only the owner thread of a :class:`~alertcast.channels.smpp_link.SmppLink` touches a connection. Reads go
into a buffer and come out as whole PDUs, so a read never blocks half-way through one (a socket timeout in
the middle of a PDU would leave smpplib's own reader out of step with the stream).
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
from smpplib import smpp

from alertcast.channels.smpp_config import SmppBindConfig
from alertcast.channels.smpp_wire import describe_status

MAX_PDU_LENGTH = 64 * 1024
"""No real PDU comes near this; a larger command_length means the stream is garbage."""
READ_SIZE = 64 * 1024


class BindRefused(Exception):
    """The SMSC answered the bind with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(describe_status(status))
        self.status = status


class LinkLost(Exception):
    """The connection is unusable (closed, timed out, garbled); the owner reconnects."""


class SequenceGenerator:
    """smpplib's sequence generator interface. One per link, kept across reconnects, so a response that
    arrives late can never be taken for the answer to a newer PDU."""

    MAX = 0x7FFFFFFF

    def __init__(self) -> None:
        self._sequence = 0

    @property
    def sequence(self) -> int:
        return self._sequence

    def next_sequence(self) -> int:
        self._sequence = self._sequence % self.MAX + 1
        return self._sequence


class SmppConnection:
    def __init__(self, client: smpplib.client.Client, sock: socket.socket) -> None:
        self.client = client
        self.sock = sock
        self.last_received = time.monotonic()
        """When the SMSC last sent anything: the idleness enquire_link measures."""
        self._buffer = bytearray()

    @classmethod
    def open(cls, config: SmppBindConfig, role: str, sequences: SequenceGenerator) -> SmppConnection:
        """Connect (TCP_NODELAY, TLS checked against ``config.host``) and bind as ``role``.

        The socket is opened here rather than by smpplib so that a refused or timed-out connect keeps its
        reason, and TLS gets the server name hostname checking needs. Raises :class:`BindRefused` with the
        SMSC's status, :class:`LinkLost`, or ``OSError``.
        """
        sock = socket.create_connection((config.host, config.port), timeout=config.connect_timeout)
        client = smpplib.client.Client(
            config.host,
            config.port,
            timeout=config.connect_timeout,
            sequence_generator=sequences,
            allow_unknown_opt_params=True,
        )
        try:
            # Without TCP_NODELAY a deliver_sm_resp followed by a submit_sm waits ~25 ms on Nagle's algorithm.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if config.ssl_context is not None:
                sock = config.ssl_context.wrap_socket(sock, server_hostname=config.host)
            client._socket = sock
            client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN
            bind = getattr(client, f"bind_{role}")
            try:
                bind(system_id=config.system_id, password=config.password, system_type=config.system_type)
            except smpplib.exceptions.PDUError as error:
                raise BindRefused(int(error.args[1]) if len(error.args) > 1 else 0xFF) from error
            except smpplib.exceptions.ConnectionError as error:
                raise LinkLost("connection closed or timed out during bind") from error
            if client.state == smpplib.consts.SMPP_CLIENT_STATE_OPEN:
                raise LinkLost("the SMSC answered the bind with something other than a bind response")
        except BaseException:
            client._socket = None
            client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED
            sock.close()
            raise
        sock.settimeout(config.response_timeout)
        return cls(client, sock)

    def close(self) -> None:
        self.sock.close()
        self.client._socket = None  # smpplib's destructor warns about a socket it thinks is still open
        self.client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED
        self._buffer.clear()

    def parse(self, raw: bytes) -> Any:
        """An smpplib PDU object for one frame; raises on commands or bodies smpplib cannot read."""
        return smpp.parse_pdu(raw, client=self.client, allow_unknown_opt_params=True)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise LinkLost(f"connection lost while sending: {error or type(error).__name__}") from error

    def wait(self, wake: socket.socket, timeout: float) -> bool:
        """Wait for input or a wake-up; read what arrived. Returns whether ``wake`` fired."""
        sock = self.sock
        tls = isinstance(sock, ssl.SSLSocket)
        if tls and sock.pending():  # type: ignore[attr-defined]
            timeout = 0.0
        readable, _, _ = select.select([sock, wake], [], [], timeout)
        woken = wake in readable
        if woken:
            wake.recv(4096)
        if sock in readable or (tls and sock.pending()):  # type: ignore[attr-defined]
            try:
                data = sock.recv(READ_SIZE)
            except (TimeoutError, ssl.SSLWantReadError):
                return woken
            except OSError as error:
                raise LinkLost(f"connection lost: {error}") from error
            if not data:
                raise LinkLost("connection closed by the SMSC")
            self._buffer += data
            self.last_received = time.monotonic()
        return woken

    def frames(self) -> Iterator[bytes]:
        """Whole PDUs received so far, in order."""
        buffer = self._buffer
        pos = 0
        try:
            while len(buffer) - pos >= 4:
                length = int.from_bytes(buffer[pos : pos + 4], "big")
                if length < 16 or length > MAX_PDU_LENGTH:
                    raise LinkLost(f"garbled stream from the SMSC (command_length {length})")
                if len(buffer) - pos < length:
                    break
                frame = bytes(buffer[pos : pos + length])
                pos += length
                yield frame
        finally:
            del buffer[:pos]
