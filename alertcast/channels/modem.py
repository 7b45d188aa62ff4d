"""One GSM modem, driven by one owner thread that alone touches its serial port.

The thread opens the port, initialises the modem (:mod:`alertcast.channels.modem_setup`), then loops:
send the next message it was handed, read replies and status reports the modem announced, check the
modem's health when idle. Results, receipts, replies and health changes go to a :class:`ModemReports`
(the bank), which carries them to the event loop.

A modem that vanishes (I/O error, port removed) or stops answering is closed; what it held is handed back
as REQUEUE, ``possible_duplicate`` when the message had passed Ctrl-Z (the network may have it), and the
thread looks for the port again until it reappears. Serial ports are opened with no use of DTR/RTS/CTS:
a pseudo-terminal has none, and GSM modems do not need them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Protocol

import serial

from alertcast.channels.base import InboundMessage, OutboundMessage, Outcome, Receipt, SendResult
from alertcast.channels.modem_config import ModemConfig
from alertcast.channels.modem_inbound import (
    InboundAssembler,
    ReceiptTracker,
    StatusReport,
    parse_status_report,
)
from alertcast.channels.modem_link import (
    AtCommandError,
    AtLink,
    AtTimeout,
    Interrupted,
    ModemGone,
    Unsolicited,
)
from alertcast.channels.modem_receive import MessageReader
from alertcast.channels.modem_send import SendFailure, send_message
from alertcast.channels.modem_setup import (
    REGISTERED,
    SetupFailed,
    initialise,
    registration_status,
    registration_words,
    signal_quality,
    wait_for_registration,
)

log = logging.getLogger(__name__)
_MAX_COOLDOWN = 15 * 60.0


class ModemReports(Protocol):
    """Where a modem's owner thread reports. Called on that thread; implementations cross to the loop."""

    def result(self, port: str, result: SendResult) -> None: ...

    def receipts(self, receipts: list[Receipt]) -> None: ...

    def inbound(self, messages: list[InboundMessage]) -> None: ...

    def health(self, port: str, healthy: bool, reason: str) -> None: ...


class ModemChannel:
    """One modem on ``port``. The bank calls :meth:`start`, :meth:`submit`, :meth:`request_stop` and
    :meth:`join` from the event loop thread; everything else runs on the owner thread."""

    def __init__(self, port: str, config: ModemConfig, reports: ModemReports, *, channel: str) -> None:
        self.port = port
        self.label = Path(port).name
        self.config = config
        self._reports = reports
        self._jobs: deque[OutboundMessage] = deque()
        self._unreported: list[SendResult] = []
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name=f"modem {self.label}", daemon=True)
        self._serial: serial.Serial | None = None
        self._link: AtLink | None = None
        self._healthy = False
        self._reported: tuple[bool, str] | None = None
        self._pin_refused = False
        self._fault_until = 0.0
        self._cooldown = config.fault_cooldown
        self._next_send_at = 0.0
        self._last_check = 0.0
        self.modem_id = self.label
        self.signal = 99
        self.parts_sent = 0
        self._receipts = ReceiptTracker(channel)
        self._reader = MessageReader(
            InboundAssembler(channel, config.inbound_part_timeout), config, reports.inbound, self._on_report
        )

    # Called from the event loop thread --------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, message: OutboundMessage) -> None:
        self._jobs.append(message)
        self._wake()

    def request_stop(self) -> None:
        self._stopping.set()
        self._wake()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1
        return True

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    # Owner thread -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                retry_after = self._connect_and_serve()
                if retry_after:
                    self._wait_out(retry_after)
        finally:
            self._flush_results()
            self._close()
            self._requeue_jobs("modem channel stopped")

    def _connect_and_serve(self) -> float:
        """One life of the connection; returns how long to wait before trying again (0: at once)."""
        try:
            if not self._open():
                return self.config.reopen_interval
            self._setup()
            self._serve()
        except SetupFailed as failure:
            self._flush_results()
            self._pin_refused = self._pin_refused or failure.pin_refused
            self._set_health(False, failure.reason)
            self._close()
            return failure.retry_after
        except AtCommandError as error:
            # A command every modem should accept was refused (initialisation, health check): say which.
            self._flush_results()
            self._set_health(False, f"{error.command} refused: {error.error.reason}")
            self._requeue_jobs(f"modem {self.label} out of service")
            self._close()
            return max(self.config.reopen_interval, 30.0)
        except ModemGone as error:
            self._lost(f"port failed ({error})")
        except AtTimeout as error:
            self._lost(f"stopped answering ({error})")
        except Interrupted:
            pass
        except Exception as error:  # a bug must not strand the messages this modem holds
            log.exception("modem %s: unexpected error", self.label)
            self._lost(f"internal error: {error!r}")
            return self.config.reopen_interval
        finally:
            self._flush_results()
        return 0.0 if self._stopping.is_set() else self.config.reopen_interval

    def _open(self) -> bool:
        if not os.path.exists(self.port):
            self._set_health(False, "port not present (unplugged?)")
            return False
        try:
            self._serial = serial.Serial(
                self.port,
                self.config.baud,
                timeout=0,
                write_timeout=self.config.command_timeout,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as error:
            self._set_health(False, f"cannot open the port: {error}")
            return False
        self._link = AtLink(
            self._serial,
            on_unsolicited=self._on_unsolicited,
            wake_fd=self._wake_r,
            should_stop=self._stopping.is_set,
        )
        return True

    def _setup(self) -> None:
        link = self._require_link()
        imei = initialise(link, self.config, pin_refused_before=self._pin_refused)
        self.modem_id = imei or self.label
        self._reader.pick_up_stored(link)
        deadline = time.monotonic() + self.config.registration_timeout
        status = wait_for_registration(link, self.config, deadline, link.pump, self._stopping.is_set)
        self._last_check = time.monotonic()
        if status not in REGISTERED:
            self._set_health(False, f"not registered on the network ({registration_words(status)})")
            return
        self.signal = signal_quality(link, self.config)
        self._set_health(True, "")

    def _serve(self) -> None:
        link = self._require_link()
        while not self._stopping.is_set():
            self._reader.process(link)
            if self._healthy and self._jobs:
                self._send_next(link)
                continue
            self._flush_results()
            if not self._healthy:
                self._requeue_jobs(f"modem {self.label} out of service")
            interval = self.config.health_interval if self._healthy else self.config.reopen_interval
            wait = self._last_check + interval - time.monotonic()
            if wait <= 0:
                self._health_check(link)
                continue
            link.pump(min(wait, 1.0))

    def _send_next(self, link: AtLink) -> None:
        delay = self._next_send_at - time.monotonic()
        if delay > 0:
            self._flush_results()
            link.pump(delay)  # replies keep flowing while the per-modem rate holds the next send
            return
        message = self._jobs.popleft()
        passed_ctrl_z = False

        def sent() -> None:
            nonlocal passed_ctrl_z
            passed_ctrl_z = True

        try:
            outcome = send_message(
                link,
                self.config,
                message,
                on_sent=sent,
                concat_reference=self._concat_reference(),
                pause=self._pause,
                after_command=self._flush_results,
            )
        except (ModemGone, AtTimeout, Interrupted) as error:
            reason = "stopped" if isinstance(error, Interrupted) else str(error)
            self._flush_results()
            self._reports.result(
                self.port,
                SendResult(
                    message.delivery_id,
                    Outcome.REQUEUE,
                    error=f"modem {self.label}: {reason} while sending",
                    possible_duplicate=passed_ctrl_z,
                ),
            )
            raise
        self._last_check = time.monotonic()
        if self.config.rate_per_minute > 0:
            self._next_send_at = (
                time.monotonic() + max(outcome.parts_tried, 1) * 60.0 / self.config.rate_per_minute
            )
        if isinstance(outcome, SendFailure):
            self._report(outcome.as_result(message.delivery_id, self.label))
            if outcome.kind == "modem":
                self._fault(outcome.reason)
            return
        self.parts_sent += len(outcome.references)
        self._cooldown = self.config.fault_cooldown
        provider = self._receipts.sent(self.modem_id, outcome.references, message.address)
        self._report(
            SendResult(
                message.delivery_id, Outcome.SUBMITTED, provider_id=provider, parts=len(outcome.references)
            )
        )

    def _report(self, result: SendResult) -> None:
        """Post a result, or hold it briefly when the next message is already waiting.

        The owner thread and the event loop share the interpreter lock. Posting a result wakes the loop,
        and if the next ``AT+CMGS`` is written after that, it waits until the loop has done its work. So a
        held result is posted just after the next command is written, while the modem prepares its
        prompt: the loop's work overlaps the modem's instead of delaying it.
        """
        self._unreported.append(result)
        if not (self._healthy and self._jobs):
            self._flush_results()

    def _flush_results(self) -> None:
        while self._unreported:
            self._reports.result(self.port, self._unreported.pop(0))

    def _pause(self, seconds: float) -> None:
        """Wait while still reading what the modem says; a stop ends the wait."""
        deadline = time.monotonic() + seconds
        link = self._require_link()
        while (remaining := deadline - time.monotonic()) > 0:
            if self._stopping.is_set():
                raise Interrupted("stopping")
            link.pump(remaining)

    def _concat_reference(self) -> int:
        return int.from_bytes(os.urandom(1), "big")

    def _health_check(self, link: AtLink) -> None:
        self._last_check = time.monotonic()
        status = registration_status(link, self.config)
        if status not in REGISTERED:
            self._set_health(False, f"lost network registration ({registration_words(status)})")
            return
        self.signal = signal_quality(link, self.config)
        if time.monotonic() < self._fault_until:
            return
        self._set_health(True, "")

    def _fault(self, reason: str) -> None:
        """A fault of the modem itself (no network, SIM): out of service for a while, growing if it repeats."""
        self._fault_until = time.monotonic() + self._cooldown
        self._cooldown = min(self._cooldown * 2, _MAX_COOLDOWN)
        self._last_check = time.monotonic()
        self._set_health(False, f"{reason}; out of service for a check")

    def _on_unsolicited(self, urc: Unsolicited) -> None:
        """Runs inside any exchange: only records, never sends a command."""
        line = urc.line
        try:
            if line.startswith("+CDS:"):
                self._on_report(parse_status_report(urc))
            elif line.startswith(("+CMTI:", "+CDSI:")):
                self._reader.announced(line)
            elif line.startswith("+CMT:"):
                self._reader.direct(urc)
        except ValueError as error:
            log.warning("modem %s: unreadable unsolicited %r: %s", self.label, line, error)

    def _on_report(self, report: StatusReport) -> None:
        receipt = self._receipts.report(self.modem_id, report)
        if receipt is not None:
            self._reports.receipts([receipt])

    def _lost(self, reason: str) -> None:
        self._flush_results()
        self._close()
        self._set_health(False, reason)
        self._requeue_jobs(f"modem {self.label}: {reason}")

    def _close(self) -> None:
        self._link = None
        if self._serial is not None:
            with contextlib.suppress(Exception):
                self._serial.close()
            self._serial = None

    def _wait_out(self, seconds: float) -> None:
        """Sleep before the next attempt, handing back any work that arrives meanwhile."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            self._requeue_jobs(f"modem {self.label} out of service")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._stopping.wait(min(remaining, 0.05))

    def _requeue_jobs(self, reason: str) -> None:
        while self._jobs:
            message = self._jobs.popleft()
            self._reports.result(self.port, SendResult(message.delivery_id, Outcome.REQUEUE, error=reason))

    def _set_health(self, healthy: bool, reason: str) -> None:
        self._healthy = healthy
        if self._reported != (healthy, reason):
            self._reported = (healthy, reason)
            self._reports.health(self.port, healthy, reason)

    def _require_link(self) -> AtLink:
        if self._link is None:
            raise ModemGone("port not open")
        return self._link
