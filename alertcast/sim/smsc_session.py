"""One ESME connection to the simulator: framing, bind state, throttling, and the PDUs it answers.

A protocol rather than streams so that everything that arrived in one read is answered in one write: at
thousands of submits a second the simulator must stay cheaper than the client it measures. Answers gathered
for a read are dropped when a disconnect is injected during it, which is exactly what a real link failure
does to responses still in flight (the SMSC took the message, the ESME never heard).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alertcast.sim import smsc_codec as wire

if TYPE_CHECKING:
    from alertcast.sim.smsc import SmscSimulator

log = logging.getLogger(__name__)

DELIVER_WINDOW = 100
"""deliver_sm PDUs the simulator keeps outstanding per receiving session, as a real SMSC's window does."""
DELIVER_ATTEMPTS = 3
"""A deliver_sm the ESME refuses this many times is dropped (logged), so a faulty client cannot loop it."""


@dataclass(slots=True)
class Delivery:
    """A deliver_sm waiting for a receiving session: a receipt or a mobile-originated message."""

    body: bytes
    kind: str
    attempts: int = 0


class TokenBucket:
    """``rate`` tokens a second, holding at most ``capacity``; one token per submit_sm."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class SmppSession(asyncio.Protocol):
    def __init__(self, sim: SmscSimulator) -> None:
        self.sim = sim
        self.mode: str | None = None
        self.system_id = ""
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.accepted = 0
        """Submits this session got accepted (to see how a client spreads load over binds)."""
        self.outstanding: dict[int, Delivery] = {}
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self._bucket: TokenBucket | None = None
        self._sequence = 0
        self._last_received = time.monotonic()
        self._ping_sent_at: float | None = None
        self._keepalive: asyncio.TimerHandle | None = None

    # -- connection life cycle ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sim.sessions.add(self)
        self._schedule_keepalive()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._keepalive is not None:
            self._keepalive.cancel()
        self.sim.session_closed(self)

    def abort(self) -> None:
        """Drop the connection at once, discarding answers not yet written."""
        if not self.closed and self.transport is not None:
            self.closed = True
            self._out.clear()
            self.transport.abort()

    @property
    def receives(self) -> bool:
        return self.mode in ("rx", "trx") and not self.closed

    # -- reading --------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._last_received = time.monotonic()
        self._buffer += data
        buffer = self._buffer
        while len(buffer) >= 4 and not self.closed:
            length = int.from_bytes(buffer[:4], "big")
            if length < wire.HEADER_SIZE or length > wire.MAX_PDU_LENGTH:
                self._garbage(length)
                return
            if len(buffer) < length:
                break
            header = wire.Header(*wire.HEADER.unpack_from(buffer))
            body = bytes(buffer[wire.HEADER_SIZE : length])
            del buffer[:length]
            self._handle(header, body)
        self._flush()

    def _garbage(self, length: int) -> None:
        """A length no PDU can have: the stream cannot be resynchronised, so nack and hang up."""
        log.warning(
            "simulated SMSC: command_length %d from %s is impossible; closing", length, self.system_id
        )
        self.sim.stats.generic_nacks += 1
        self._reply(wire.GENERIC_NACK, wire.ESME_RINVCMDLEN, 0)
        self._flush()
        self.closed = True
        assert self.transport is not None
        self.transport.close()

    def _flush(self) -> None:
        if self._out and not self.closed and self.transport is not None:
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def _reply(self, command_id: int, status: int, sequence: int, body: bytes = b"") -> None:
        self._out.append(wire.encode(command_id, status, sequence, body))

    def _handle(self, header: wire.Header, body: bytes) -> None:
        command_id = header.command_id
        if command_id & wire.RESPONSE_BIT:
            self._handle_response(header)
        elif command_id == wire.SUBMIT_SM:
            self._handle_submit(header.sequence, body)
        elif command_id == wire.ENQUIRE_LINK:
            self.sim.stats.enquire_links += 1
            self._reply(command_id | wire.RESPONSE_BIT, wire.ESME_ROK, header.sequence)
        elif command_id in wire.BIND_COMMANDS:
            self._handle_bind(header, body)
        elif command_id == wire.UNBIND:
            self._reply(wire.UNBIND | wire.RESPONSE_BIT, wire.ESME_ROK, header.sequence)
            self._flush()
            self.mode = None
            self.closed = True
            assert self.transport is not None
            self.transport.close()
        else:
            self.sim.stats.generic_nacks += 1
            self._reply(wire.GENERIC_NACK, wire.ESME_RINVCMDID, header.sequence)

    def _handle_response(self, header: wire.Header) -> None:
        if header.command_id == wire.DELIVER_SM | wire.RESPONSE_BIT:
            delivery = self.outstanding.pop(header.sequence, None)
            if delivery is not None:
                self.sim.delivery_answered(self, delivery, header.status)
        elif header.command_id == wire.ENQUIRE_LINK | wire.RESPONSE_BIT:
            self._ping_sent_at = None

    def _handle_bind(self, header: wire.Header, body: bytes) -> None:
        response_id = header.command_id | wire.RESPONSE_BIT
        if self.mode is not None:
            self._reply(response_id, wire.ESME_RALYBND, header.sequence)
            return
        try:
            request = wire.parse_bind(header.command_id, body)
            status = self.sim.authenticate(request)
        except wire.PduError as error:
            status = error.status
            log.info("simulated SMSC: malformed bind: %s", error)
        if status != wire.ESME_ROK:
            self.sim.stats.bind_refusals += 1
            self._reply(response_id, status, header.sequence)
            return
        self.mode, self.system_id = request.mode, request.system_id
        config = self.sim.config
        if config.throughput is not None:
            burst = config.throughput_burst or max(1.0, config.throughput / 10)
            self._bucket = TokenBucket(config.throughput, burst)
        self.sim.stats.binds += 1
        interface_version = wire.encode_tlv(wire.TAG_SC_INTERFACE_VERSION, b"\x34")
        self._reply(
            response_id,
            wire.ESME_ROK,
            header.sequence,
            wire.encode_cstring(config.system_id) + interface_version,
        )
        self._flush()
        self.sim.session_bound(self)

    def _handle_submit(self, sequence: int, body: bytes) -> None:
        sim = self.sim
        if self.mode not in ("tx", "trx"):
            self._submit_resp(sequence, wire.ESME_RINVBNDSTS)
            return
        sim.stats.submits += 1
        if self._bucket is not None and not self._bucket.take():
            sim.stats.throttled += 1
            self._reply(wire.SUBMIT_SM | wire.RESPONSE_BIT, wire.ESME_RTHROTTLED, sequence)
            return
        try:
            submit = wire.parse_submit_sm(body)
            status = sim.judge_submit(submit)
            if status == wire.ESME_ROK:
                sim.stats.record_accepted(submit)
        except wire.PduError as error:
            log.info("simulated SMSC: submit_sm refused: %s", error)
            status = error.status
        if status != wire.ESME_ROK:
            self._submit_resp(sequence, status)
            return
        self.accepted += 1
        message_id, early_receipt = sim.message_accepted(self, submit)
        if sim.disconnect_due():
            sim.disconnect_all()
            return
        if early_receipt is not None:
            self._flush()  # answers gathered so far keep their order; the receipt overtakes only its own
            waiting = deque([early_receipt])
            self.send_deliveries(waiting)
            if waiting:  # window full: it waits its turn like any other
                sim.enqueue(self.system_id, waiting.popleft())
        self._reply(
            wire.SUBMIT_SM | wire.RESPONSE_BIT, wire.ESME_ROK, sequence, wire.encode_cstring(message_id)
        )

    def _submit_resp(self, sequence: int, status: int) -> None:
        self.sim.stats.rejected[wire.STATUS_NAMES.get(status, f"0x{status:08X}")] += 1
        self._reply(wire.SUBMIT_SM | wire.RESPONSE_BIT, status, sequence)

    # -- writing on the simulator's own initiative ----------------------------------------------------------

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        return self._sequence

    def send_deliveries(self, pending: deque[Delivery]) -> None:
        """Send queued deliver_sm PDUs while this session's window has room."""
        chunks = []
        while pending and len(self.outstanding) < DELIVER_WINDOW and self.receives:
            delivery = pending.popleft()
            delivery.attempts += 1
            sequence = self._next_sequence()
            self.outstanding[sequence] = delivery
            chunks.append(wire.encode(wire.DELIVER_SM, wire.ESME_ROK, sequence, delivery.body))
        if chunks and self.transport is not None:
            self.transport.write(b"".join(chunks))

    def _schedule_keepalive(self) -> None:
        interval = self.sim.config.enquire_link_interval
        if interval:
            loop = asyncio.get_running_loop()
            self._keepalive = loop.call_later(interval, self._keepalive_check, interval)

    def _keepalive_check(self, interval: float) -> None:
        """Ping an idle bound session; drop one that left a ping unanswered for a whole interval."""
        if self.closed or self.transport is None:
            return
        now = time.monotonic()
        if self._ping_sent_at is not None and now - self._ping_sent_at >= interval:
            log.info("simulated SMSC: %s did not answer enquire_link; dropping it", self.system_id or "peer")
            self.abort()
            return
        if self.mode is not None and self._ping_sent_at is None and now - self._last_received >= interval:
            self._ping_sent_at = now
            self.transport.write(wire.encode(wire.ENQUIRE_LINK, wire.ESME_ROK, self._next_sequence()))
        self._schedule_keepalive()
