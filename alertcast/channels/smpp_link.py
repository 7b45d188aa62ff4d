"""The owner thread of one SMPP connection: the window, the pacing, and every message's fate.

Why one owner thread doing both reading and writing (with ``select``) rather than a reader and a writer
thread: smpplib is not thread-safe (``send_pdu`` has no lock, ``read_once`` writes answers on its own), and a
submit's bookkeeping (sequence → message) is touched by both directions. With one owner nothing is shared,
nothing is locked, and everything read in one wake-up is answered in one ``sendall`` together with the next
submits. The window bounds what we write, so a blocking write cannot deadlock against an SMSC that is
itself waiting for us to read.

smpplib opens and binds the connection and parses any deliver_sm out of the ordinary; the PDUs every
message needs go through :mod:`smpp_fastpath` (byte-identical to smpplib's, tested so, six times cheaper).
smpplib's ``read_once`` is not used: it raises on any error status before a handler sees it, never answers
an SMSC's ``unbind``, and turns a read timeout into an ``enquire_link``. The owner dispatches whole PDUs
itself (:mod:`smpp_connection` frames them), and error statuses are data: throttling slows the bind,
other errors go by the table in :mod:`smpp_wire`. Sequence numbers come from one generator per link, kept
across reconnects, and are recorded before their PDU is on the wire.

The link is the only place messages live between ``SmppChannel.send`` and their result. Whatever it holds
when the connection drops or the channel stops is reported REQUEUE (``possible_duplicate`` when any part
went on the wire), so nothing is ever lost in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import smpplib.consts

from alertcast.channels.base import InboundMessage, OutboundMessage, RouteState, SendResult
from alertcast.channels.smpp_config import SmppBindConfig
from alertcast.channels.smpp_connection import BindRefused, LinkLost, SequenceGenerator, SmppConnection
from alertcast.channels.smpp_fastpath import (
    DELIVER_SM,
    ENQUIRE_LINK,
    GENERIC_NACK,
    RESPONSE_BIT,
    SUBMIT_SM_RESP,
    UNBIND,
    Unusual,
    decode_deliver_sm,
    encode_deliver_sm_resp,
    encode_pdu,
    encode_submit_sm,
    submit_sm_resp_message_id,
)
from alertcast.channels.smpp_inbound import read_deliver_sm
from alertcast.channels.smpp_outgoing import LinkReport, Outgoing, ReadyParts, prepare, requeue_unsent
from alertcast.channels.smpp_rate import AdaptiveRate
from alertcast.channels.smpp_receipts import RawReceipt
from alertcast.channels.smpp_wire import (
    CREDENTIAL_ERRORS,
    ESME_ROK,
    THROTTLING,
    MoAssembler,
    describe_status,
    outcome_for_status,
)

log = logging.getLogger(__name__)

SESSION_PROVEN_AFTER = 5.0
"""A session that lasted this long, or got a submit accepted, resets the reconnect back-off."""


class SmppLink:
    """Owner of one connection: ``role`` is ``transceiver``, ``transmitter`` or ``receiver``."""

    def __init__(
        self,
        channel_name: str,
        config: SmppBindConfig,
        role: str,
        loop: asyncio.AbstractEventLoop,
        sink: Callable[[SmppLink, LinkReport], None],
    ) -> None:
        self.channel_name = channel_name
        self.config = config
        self.role = role
        self.label = config.label if role == "transceiver" else f"{config.label} ({role})"
        self.sends = role != "receiver"
        self.loop = loop
        self.done: asyncio.Future[None] = loop.create_future()
        self._sink = sink
        self._inbox: deque[OutboundMessage] = deque()
        self._stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._run, name=f"smpp {self.label}", daemon=True)
        # Owner-thread state from here on.
        self._sequences = SequenceGenerator()
        self._conn: SmppConnection | None = None
        self._out: list[bytes] = []
        self._ready = ReadyParts()
        self._outstanding: dict[int, tuple[Outgoing, int, float]] = {}
        """sequence → (message, part, sent at) for submits on the wire; insertion order is sending order."""
        self._active: dict[int, Outgoing] = {}
        self._rate = AdaptiveRate(config.max_rate, config.burst)
        self._report = LinkReport()
        self._state = RouteState(False, "connecting")
        self._mo = MoAssembler()
        self._concat_reference = random.randrange(256)
        self._ping_sent_at: float | None = None
        self._session_proven = False

    # -- called from the event loop ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    def submit(self, messages: list[OutboundMessage]) -> None:
        self._inbox.extend(messages)
        self._wake()

    def request_stop(self) -> None:
        self._stopping = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # BlockingIOError: already woken; OSError: closing
            self._wake_w.send(b"\0")

    # -- the owner thread: connect, serve, reconnect ---------------------------------------------------------

    def _run(self) -> None:
        config = self.config
        backoff = config.reconnect_initial
        try:
            while not self._stopping:
                try:
                    self._conn = SmppConnection.open(config, self.role, self._sequences)
                except BindRefused as refused:
                    slow = refused.status in CREDENTIAL_ERRORS
                    wait = config.auth_retry_interval if slow else backoff
                    hint = "; check system_id and password" if slow else ""
                    self._set_state(
                        False, f"bind refused: {refused} — {self.label}{hint}; retrying in {wait:g} s"
                    )
                    self._idle(wait)
                    backoff = min(backoff * 2, config.reconnect_max)
                    continue
                except (OSError, LinkLost) as error:
                    self._set_state(False, f"cannot connect to {self.label}: {error or type(error).__name__}")
                    self._idle(backoff)
                    backoff = min(backoff * 2, config.reconnect_max)
                    continue
                log.info("SMPP %s: bound", self.label)
                started = time.monotonic()
                self._session_proven = False
                self._ping_sent_at = None
                self._set_state(True, "")
                try:
                    self._serve(self._conn)
                    reason = "stopped"
                except LinkLost as lost:
                    reason = str(lost)
                except Exception as error:  # a bug met on this session: start a fresh one, never die
                    log.exception("SMPP %s: unexpected error; reconnecting", self.label)
                    reason = f"internal error: {error!r}"
                if self._stopping:
                    break  # the finally clause hands everything back as "channel stopping"
                self._drop_connection(reason)
                if self._session_proven or time.monotonic() - started >= SESSION_PROVEN_AFTER:
                    backoff = config.reconnect_initial
                log.warning("SMPP %s: %s; reconnecting in %g s", self.label, reason, backoff)
                self._report.reconnects += 1
                self._idle(backoff)
                backoff = min(backoff * 2, config.reconnect_max)
        except Exception as error:  # a bug must not strand messages: report them, and the route as down
            log.exception("SMPP %s: owner thread failed", self.label)
            self._set_state(False, f"internal error in {self.label}: {error!r}")
        finally:
            self._close_connection()
            self._requeue_all("channel stopping")
            self._report.finished = True
            self._flush()
            self._wake_r.close()
            self._wake_w.close()

    def _serve(self, conn: SmppConnection) -> None:
        while not self._stopping:
            now = time.monotonic()
            self._take_inbox()
            self._read_pdus(conn)
            if self.sends:
                self._send_parts(conn, now)
            self._keepalive(conn, now)
            self._write(conn)
            self._flush()
            conn.wait(self._wake_r, self._timeout(conn, now))
        self._finish_gracefully(conn)

    def _timeout(self, conn: SmppConnection, now: float) -> float:
        config = self.config
        timeout = 1.0
        if self._ping_sent_at is None:
            timeout = min(timeout, config.enquire_link_interval - (now - conn.last_received))
        if self._ready and len(self._outstanding) < config.window:
            timeout = min(timeout, self._rate.wait(now))
        return max(0.0, timeout)

    def _idle(self, seconds: float) -> None:
        """Wait while the link is down, handing back whatever the channel gives meanwhile."""
        deadline = time.monotonic() + seconds
        while not self._stopping:
            self._requeue_inbox(f"route down: {self._state.reason}")
            self._flush()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            readable, _, _ = select.select([self._wake_r], [], [], remaining)
            if readable:
                self._wake_r.recv(4096)

    def _finish_gracefully(self, conn: SmppConnection) -> None:
        """Stop sending; give submits already on the wire a moment to be answered, then unbind."""
        deadline = time.monotonic() + self.config.stop_grace
        while self._outstanding and time.monotonic() < deadline:
            self._read_pdus(conn)
            self._write(conn)
            self._flush()
            conn.wait(self._wake_r, max(0.0, min(0.1, deadline - time.monotonic())))
        self._read_pdus(conn)
        self._request(UNBIND)
        self._write(conn)

    # -- outgoing --------------------------------------------------------------------------------------------

    def _take_inbox(self) -> None:
        while self._inbox:
            message = self._inbox.popleft()
            self._concat_reference = (self._concat_reference + 1) % 256
            prepared = prepare(message, self.config, self._concat_reference)
            if isinstance(prepared, SendResult):
                self._report.results.append(prepared)
                continue
            self._active[message.delivery_id] = prepared
            self._ready.add(prepared)

    def _send_parts(self, conn: SmppConnection, now: float) -> None:
        window = self.config.window
        while len(self._outstanding) < window:
            head = self._ready.peek()
            if head is None or not self._rate.take(now):
                return
            outgoing, index = head
            self._ready.pop()
            sequence = self._sequences.next_sequence()
            try:
                data = encode_submit_sm(sequence, outgoing.parts[index])
            except (ValueError, UnicodeError) as error:
                self._finish(outgoing, outgoing.failed(f"cannot build submit_sm: {error}", permanent=True))
                continue
            self._outstanding[sequence] = (outgoing, index, now)  # recorded before it is on the wire
            outgoing.sent_any = True
            self._out.append(data)

    def _write(self, conn: SmppConnection) -> None:
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            conn.send(data)

    def _request(self, command_id: int) -> None:
        self._out.append(encode_pdu(command_id, ESME_ROK, self._sequences.next_sequence()))

    def _keepalive(self, conn: SmppConnection, now: float) -> None:
        config = self.config
        if self._ping_sent_at is not None:
            if now - self._ping_sent_at > config.response_timeout:
                raise LinkLost(f"no enquire_link_resp within {config.response_timeout:g} s")
        elif now - conn.last_received >= config.enquire_link_interval:
            self._ping_sent_at = now
            self._request(ENQUIRE_LINK)
        if self._outstanding:
            _, _, sent_at = next(iter(self._outstanding.values()))
            if now - sent_at > config.response_timeout:
                raise LinkLost(f"no submit_sm_resp within {config.response_timeout:g} s")

    # -- incoming --------------------------------------------------------------------------------------------

    def _read_pdus(self, conn: SmppConnection) -> None:
        for raw in conn.frames():
            self._dispatch(conn, raw)

    def _dispatch(self, conn: SmppConnection, raw: bytes) -> None:
        command_id, status, sequence = struct.unpack_from(">III", raw, 4)
        if command_id == SUBMIT_SM_RESP:
            self._on_submit_resp(
                sequence, status, submit_sm_resp_message_id(raw) if status == ESME_ROK else None
            )
        elif command_id == DELIVER_SM:
            status = self._on_deliver(conn, raw)
            self._out.append(encode_deliver_sm_resp(sequence, status))
        elif command_id == ENQUIRE_LINK:
            self._out.append(encode_pdu(ENQUIRE_LINK | RESPONSE_BIT, ESME_ROK, sequence))
        elif command_id == ENQUIRE_LINK | RESPONSE_BIT:
            self._ping_sent_at = None
        elif command_id == GENERIC_NACK:
            if sequence in self._outstanding:  # the SMSC could not read that submit_sm
                self._on_submit_resp(sequence, status or smpplib.consts.SMPP_ESME_RUNKNOWNERR, None)
            else:
                log.warning("SMPP %s: generic_nack %s", self.label, describe_status(status))
        elif command_id == UNBIND:
            self._out.append(encode_pdu(UNBIND | RESPONSE_BIT, ESME_ROK, sequence))
            self._write(conn)
            raise LinkLost("the SMSC unbound")
        elif command_id & RESPONSE_BIT:
            log.debug("SMPP %s: ignored response 0x%08X status 0x%X", self.label, command_id, status)
        else:
            status = smpplib.consts.SMPP_ESME_RINVCMDID
            self._out.append(encode_pdu(GENERIC_NACK, status, sequence))

    def _on_submit_resp(self, sequence: int, status: int, message_id: bytes | str | None) -> None:
        entry = self._outstanding.pop(sequence, None)
        if entry is None:
            log.debug("SMPP %s: response for unknown sequence %d", self.label, sequence)
            return
        outgoing, index, sent_at = entry
        if outgoing.finished:
            return
        if status == ESME_ROK:
            if isinstance(message_id, bytes):
                message_id = message_id.decode("latin-1")
            outgoing.ids[index] = (message_id or "").strip("\x00 \t")
            self._session_proven = True
            if all(part_id is not None for part_id in outgoing.ids):
                result, part_ids = outgoing.submitted()
                self._finish(outgoing, result)
                if part_ids:
                    self._report.accepted.append(part_ids)
        elif status in THROTTLING:
            self._report.throttled += 1
            self._rate.throttled(sent_at, time.monotonic())
            self._ready.put_back(outgoing, index)
        else:
            error = describe_status(status)
            self._finish(
                outgoing, outgoing.failed(error, permanent=False, outcome=outcome_for_status(status))
            )

    def _on_deliver(self, conn: SmppConnection, raw: bytes) -> int:
        """A receipt or a message from a phone; returns the deliver_sm_resp status. One that cannot be read
        at all is refused with ESME_RSYSERR; one read but not understood is logged and acknowledged, since
        refusing it would only make the SMSC send it again, forever."""
        try:
            pdu: Any = decode_deliver_sm(raw)
        except Unusual:
            try:
                pdu = conn.parse(raw)
            except Exception as error:  # smpplib's parsers raise many kinds on malformed bodies
                log.warning("SMPP %s: unreadable deliver_sm: %r", self.label, error)
                return smpplib.consts.SMPP_ESME_RSYSERR
        item = read_deliver_sm(pdu, self._mo, self.channel_name, self.label)
        if isinstance(item, RawReceipt):
            self._report.receipts.append(item)
        elif isinstance(item, InboundMessage):
            self._report.inbound.append(item)
        return ESME_ROK

    # -- endings and reports ---------------------------------------------------------------------------------

    def _finish(self, outgoing: Outgoing, result: SendResult) -> None:
        outgoing.finished = True
        self._active.pop(outgoing.message.delivery_id, None)
        self._report.results.append(result)

    def _drop_connection(self, reason: str) -> None:
        self._close_connection()
        self._set_state(False, f"{self.label}: {reason}")
        self._requeue_all(f"connection to {self.label} lost ({reason})")

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._outstanding.clear()
        self._out.clear()

    def _requeue_all(self, reason: str) -> None:
        for outgoing in list(self._active.values()):
            self._finish(outgoing, outgoing.requeue(reason))
        self._ready.clear()
        self._requeue_inbox(reason)

    def _requeue_inbox(self, reason: str) -> None:
        while self._inbox:
            self._report.results.append(requeue_unsent(self._inbox.popleft(), reason))

    def _set_state(self, up: bool, reason: str) -> None:
        state = RouteState(up, reason)
        if state != self._state:
            self._state = state
            self._report.state = state
            if not up and not self._stopping:
                log.warning("SMPP %s", reason)

    def _flush(self) -> None:
        report = self._report
        if not report:
            return
        self._report = LinkReport()
        try:
            self.loop.call_soon_threadsafe(self._sink, self, report)
            if report.finished:
                self.loop.call_soon_threadsafe(self._mark_done)
        except RuntimeError:  # the event loop is gone: nobody is left to tell
            log.warning(
                "SMPP %s: event loop closed; %d result(s) undelivered", self.label, len(report.results)
            )

    def _mark_done(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
