"""A built-in SMPP 3.4 SMSC: enough of an operator's message centre to test a sender against.

It authenticates binds, answers submit_sm with message ids (hex or decimal, and receipts may use the other
form, as real SMSCs do), throttles each bind to a purchased rate with ESME_RTHROTTLED, rejects chosen
destinations, fails a fraction of submits with ESME_RSYSERR, sends delivery receipts after a delay, injects
mobile-originated replies, and drops connections on demand or every N submits. Everything it accepted is
reassembled and decoded into :class:`~alertcast.sim.smsc_stats.SmscStats`, so a test can see duplicates and
mangled texts the way a subscriber would.

Use it in three ways: ``async with SmscSimulator(config) as sim`` on a running loop (tests);
``with SmscSimulator(config).run_in_thread() as handle`` from synchronous code; or ``await serve(config)``
for a standalone process (the ``alertcast sim smsc`` command, benchmarks). An optional HTTP control on
127.0.0.1 (``POST /mo``, ``GET /stats``, ``POST /disconnect``) drives it from outside the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from alertcast.core.sms import concat_udh, plan_sms
from alertcast.sim import smsc_codec as wire
from alertcast.sim.smsc_http import ControlServer
from alertcast.sim.smsc_session import DELIVER_ATTEMPTS, Delivery, SmppSession
from alertcast.sim.smsc_stats import SmscStats, decode_user_data
from alertcast.sim.smsc_thread import SmscThread, run_in_thread

log = logging.getLogger(__name__)


@dataclass
class SmscConfig:
    """How the simulated SMSC behaves. Defaults: a healthy, unthrottled SMSC on an ephemeral local port."""

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port; read it back from :attr:`SmscSimulator.port`."""
    accounts: dict[str, str] = field(default_factory=lambda: {"alertcast": "secret"})
    """system_id → password. An unknown system_id gets ESME_RINVSYSID, a wrong password ESME_RINVPASWD."""
    max_binds_per_account: int | None = None
    """Binds above this per system_id get ESME_RBINDFAIL."""
    system_id: str = "alertsim"
    """The SMSC's own name in bind responses."""
    throughput: float | None = None
    """submit_sm per second allowed per bind; above it the answer is ESME_RTHROTTLED. None: no cap."""
    throughput_burst: float | None = None
    """Token bucket size; default a tenth of a second's worth (at least 1)."""
    message_id_format: Literal["hex", "decimal"] = "hex"
    message_id_width: int = 8
    """Zero padding of hex message ids (``000f4240``); decimal ids are not padded."""
    receipt_id_format: Literal["same", "hex", "decimal"] = "same"
    """The form of the id in receipts: the notes' hex/decimal mismatch is ``hex`` + ``decimal``."""
    first_message_id: int = 1_000_000
    receipt_tlvs: bool = True
    """Send receipted_message_id and message_state TLVs; False leaves only the receipt text."""
    receipt_delay: float = 0.05
    """Seconds from an accepted submit to its delivery receipt."""
    receipts_before_response: bool = False
    """Send the receipt on the submitting session *before* the submit_sm_resp, as some SMSCs manage to."""
    undeliverable_fraction: float = 0.0
    undeliverable_prefixes: tuple[str, ...] = ()
    """Destinations starting with one of these get an UNDELIV receipt (leading '+' ignored)."""
    reject_prefixes: tuple[str, ...] = ()
    """Destinations starting with one of these are refused with ESME_RINVDSTADR."""
    syserr_fraction: float = 0.0
    """This share of submits (chosen at random with ``seed``) is refused with ESME_RSYSERR."""
    disconnect_every: int | None = None
    """Drop every connection abruptly on each Nth accepted submit (accepted, never answered)."""
    disconnect_limit: int | None = None
    """Stop injecting disconnects after this many."""
    enquire_link_interval: float | None = 30.0
    """Ping sessions idle this long; drop those that leave a ping unanswered as long again."""
    http_port: int | None = None
    """Port of the HTTP control on ``host``: None for none, 0 for a free one."""
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    """Serve SMPP over TLS with this server context (the HTTP control stays plain, on 127.0.0.1)."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("undeliverable_fraction", "syserr_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SmscConfig.{name} must be between 0 and 1, got {value}")
        if self.throughput is not None and self.throughput <= 0:
            raise ValueError(f"SmscConfig.throughput must be positive or None, got {self.throughput}")
        if self.disconnect_every is not None and self.disconnect_every < 1:
            raise ValueError(f"SmscConfig.disconnect_every must be at least 1, got {self.disconnect_every}")
        self.undeliverable_prefixes = tuple(p.lstrip("+") for p in self.undeliverable_prefixes)
        self.reject_prefixes = tuple(p.lstrip("+") for p in self.reject_prefixes)


def _ascii(text: str) -> str:
    return text.encode("ascii", errors="replace").decode("ascii")


class SmscSimulator:
    """The simulated SMSC. All methods run on the event loop that called :meth:`start`."""

    def __init__(self, config: SmscConfig | None = None) -> None:
        self.config = config or SmscConfig()
        self.stats = SmscStats()
        self.sessions: set[SmppSession] = set()
        self.port = 0
        self.http_port: int | None = None
        self._rng = random.Random(self.config.seed)
        self._next_id = self.config.first_message_id
        self._pending: dict[str, deque[Delivery]] = {}
        self._receipts_due: deque[tuple[float, str, Delivery]] = deque()
        self._receipts_waiting = asyncio.Event()
        self._mo_reference = 0
        self._server: asyncio.Server | None = None
        self._control: ControlServer | None = None
        self._scheduler: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SmscSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        self._server = await loop.create_server(
            lambda: SmppSession(self), config.host, config.port, ssl=config.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._scheduler = loop.create_task(self._release_receipts())
        if config.http_port is not None:
            self._control = ControlServer(self)
            self.http_port = await self._control.start(config.host, config.http_port)
        log.info("simulated SMSC listening on %s:%d", config.host, self.port)

    async def stop(self) -> None:
        if self._control is not None:
            await self._control.close()
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.abort()
        if self._server is not None:
            await self._server.wait_closed()
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
        await asyncio.sleep(0)  # let connection_lost callbacks run before the loop may close

    # -- decisions the sessions ask for ---------------------------------------------------------------------

    def authenticate(self, request: wire.BindRequest) -> int:
        config = self.config
        expected = config.accounts.get(request.system_id)
        if expected is None:
            log.info("simulated SMSC: bind refused, unknown system_id %r", request.system_id)
            return wire.ESME_RINVSYSID
        if request.password != expected:
            log.info("simulated SMSC: bind refused, wrong password for %r", request.system_id)
            return wire.ESME_RINVPASWD
        if config.max_binds_per_account is not None:
            bound = sum(1 for s in self.sessions if s.mode is not None and s.system_id == request.system_id)
            if bound >= config.max_binds_per_account:
                return wire.ESME_RBINDFAIL
        return wire.ESME_ROK

    def judge_submit(self, submit: wire.SubmitSm) -> int:
        destination = submit.destination_addr.lstrip("+")
        if not destination:
            return wire.ESME_RINVDSTADR
        if self.config.reject_prefixes and destination.startswith(self.config.reject_prefixes):
            return wire.ESME_RINVDSTADR
        if self.config.syserr_fraction and self._rng.random() < self.config.syserr_fraction:
            return wire.ESME_RSYSERR
        return wire.ESME_ROK

    def _format_id(self, number: int, form: str) -> str:
        if form == "hex":
            return f"{number:0{self.config.message_id_width}x}"
        return str(number)

    def message_accepted(self, session: SmppSession, submit: wire.SubmitSm) -> tuple[str, Delivery | None]:
        """Allocate the message id and schedule the receipt the ESME asked for. Returns the id, and the
        receipt itself when it is to overtake the response (``receipts_before_response``)."""
        number = self._next_id
        self._next_id += 1
        config = self.config
        message_id = self._format_id(number, config.message_id_format)
        wanted = submit.registered_delivery & 0x03
        if wanted:
            destination = submit.destination_addr.lstrip("+")
            failed = bool(config.undeliverable_prefixes) and destination.startswith(
                config.undeliverable_prefixes
            )
            if not failed and config.undeliverable_fraction:
                failed = self._rng.random() < config.undeliverable_fraction
            if wanted == 1 or (wanted == 2 and failed) or (wanted == 3 and not failed):
                form = (
                    config.message_id_format
                    if config.receipt_id_format == "same"
                    else config.receipt_id_format
                )
                receipt = self._receipt(self._format_id(number, form), submit, delivered=not failed)
                if config.receipts_before_response and session.receives:
                    return message_id, receipt
                due = time.monotonic() + config.receipt_delay
                self._receipts_due.append((due, session.system_id, receipt))
                self._receipts_waiting.set()
        return message_id, None

    def _receipt(self, receipt_id: str, submit: wire.SubmitSm, *, delivered: bool) -> Delivery:
        stamp = time.strftime("%y%m%d%H%M", time.gmtime())
        state, error = ("DELIVRD", "000") if delivered else ("UNDELIV", "001")
        user_data = submit.payload
        if submit.esm_class & wire.ESM_CLASS_UDHI:
            _, user_data = wire.split_udh(user_data)
        excerpt = _ascii(decode_user_data(user_data, submit.data_coding)[:20])
        text = (
            f"id:{receipt_id} sub:001 dlvrd:{'001' if delivered else '000'} submit date:{stamp} "
            f"done date:{stamp} stat:{state} err:{error} text:{excerpt}"
        )
        tlvs = b""
        if self.config.receipt_tlvs:
            message_state = wire.STATE_DELIVERED if delivered else wire.STATE_UNDELIVERABLE
            tlvs = wire.encode_tlv(wire.TAG_RECEIPTED_MESSAGE_ID, wire.encode_cstring(receipt_id))
            tlvs += wire.encode_tlv(wire.TAG_MESSAGE_STATE, bytes((message_state,)))
            if not delivered:
                tlvs += wire.encode_tlv(wire.TAG_NETWORK_ERROR_CODE, b"\x03\x00\x01")
        body = wire.encode_deliver_sm_body(
            source_addr=submit.destination_addr,
            destination_addr=submit.source_addr,
            esm_class=wire.ESM_CLASS_DELIVERY_RECEIPT,
            data_coding=0,
            short_message=text.encode("ascii")[:254],
            tlvs=tlvs,
        )
        return Delivery(body, "receipt")

    def disconnect_due(self) -> bool:
        every, limit = self.config.disconnect_every, self.config.disconnect_limit
        if every is None or self.stats.accepted % every:
            return False
        return limit is None or self.stats.disconnects < limit

    # -- deliver_sm towards ESMEs ---------------------------------------------------------------------------

    async def _release_receipts(self) -> None:
        """Move receipts whose delay is over to their account's queue (delays are equal, so FIFO is due order)."""
        due_queue = self._receipts_due
        while True:
            if not due_queue:
                self._receipts_waiting.clear()
                await self._receipts_waiting.wait()
                continue
            wait = due_queue[0][0] - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            now = time.monotonic()
            touched: set[str] = set()
            while due_queue and due_queue[0][0] <= now:
                _, system_id, delivery = due_queue.popleft()
                self._pending.setdefault(system_id, deque()).append(delivery)
                touched.add(system_id)
            for system_id in touched:
                self.pump(system_id)

    def enqueue(self, system_id: str, delivery: Delivery) -> None:
        self._pending.setdefault(system_id, deque()).append(delivery)
        self.pump(system_id)

    def pump(self, system_id: str) -> None:
        """Hand queued deliver_sm PDUs to the account's receiving sessions; they wait while none is bound."""
        pending = self._pending.get(system_id)
        if not pending:
            return
        for session in [s for s in self.sessions if s.receives and s.system_id == system_id]:
            session.send_deliveries(pending)
            if not pending:
                break

    def delivery_answered(self, session: SmppSession, delivery: Delivery, status: int) -> None:
        if status == wire.ESME_ROK:
            if delivery.kind == "receipt":
                self.stats.receipts_sent += 1
            else:
                self.stats.mo_sent += 1
        elif delivery.attempts < DELIVER_ATTEMPTS:
            self._pending.setdefault(session.system_id, deque()).append(delivery)
        else:
            log.warning(
                "simulated SMSC: %s refused a %s %d times; dropped",
                session.system_id,
                delivery.kind,
                DELIVER_ATTEMPTS,
            )
        self.pump(session.system_id)

    def session_bound(self, session: SmppSession) -> None:
        log.info("simulated SMSC: %s bound as %s", session.system_id, session.mode)
        if session.receives:
            self.pump(session.system_id)

    def session_closed(self, session: SmppSession) -> None:
        self.sessions.discard(session)
        if session.outstanding:
            # Unanswered deliver_sm go back to the front, as an SMSC retries them on the next bind.
            pending = self._pending.setdefault(session.system_id, deque())
            pending.extendleft(reversed(list(session.outstanding.values())))
            session.outstanding.clear()
            self.pump(session.system_id)

    # -- control ---------------------------------------------------------------------------------------------

    def disconnect_all(self) -> int:
        """Drop every connection abruptly (no unbind); returns how many were dropped."""
        dropped = [s for s in self.sessions if not s.closed]
        for session in dropped:
            session.abort()
        self.stats.disconnects += 1
        log.info("simulated SMSC: dropped %d connection(s)", len(dropped))
        return len(dropped)

    def inject_mo(self, sender: str, recipient: str, text: str, *, system_id: str | None = None) -> int:
        """Queue a mobile-originated message (split and encoded as a handset would); returns its part count."""
        for name, value in (("sender", sender), ("recipient", recipient)):
            if not value or len(value) > 20:
                raise ValueError(f"MO {name} must be 1 to 20 characters, got {value!r}")
        account = system_id or self._receiving_account()
        if account not in self.config.accounts:
            raise ValueError(f"MO system_id {account!r} is not a configured account")
        plan = plan_sms(text)
        self._mo_reference = (self._mo_reference + 1) % 256
        pending = self._pending.setdefault(account, deque())
        for index, part in enumerate(plan.parts, start=1):
            short_message, esm_class = part.payload, 0
            if plan.segments > 1:
                short_message = concat_udh(self._mo_reference, plan.segments, index) + part.payload
                esm_class = wire.ESM_CLASS_UDHI
            body = wire.encode_deliver_sm_body(
                source_addr=sender.lstrip("+"),
                destination_addr=recipient.lstrip("+"),
                esm_class=esm_class,
                data_coding=plan.data_coding,
                short_message=short_message,
            )
            pending.append(Delivery(body, "mo"))
        self.pump(account)
        return plan.segments

    def _receiving_account(self) -> str:
        for session in self.sessions:
            if session.receives:
                return session.system_id
        return next(iter(self.config.accounts))

    def run_in_thread(self) -> contextlib.AbstractContextManager[SmscThread]:
        """Run on a private event loop in a background thread, for synchronous tests and benchmarks."""
        return run_in_thread(self)


async def serve(config: SmscConfig, *, on_ready: Callable[[SmscSimulator], None] | None = None) -> None:
    """Run a simulator until cancelled; ``on_ready`` hears when it listens (ports known)."""
    async with SmscSimulator(config) as sim:
        if on_ready is not None:
            on_ready(sim)
        await asyncio.Event().wait()
