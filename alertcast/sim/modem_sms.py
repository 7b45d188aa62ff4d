"""The message service of a simulated modem (3GPP TS 27.005): settings, sending, status reports, storage.

A mixin of :class:`alertcast.sim.modem_at.SimulatedModem`, kept apart so each file stays readable; it uses
the engine's state and output methods declared below.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

from alertcast.core.pdu import DecodedSubmit, build_deliver_pdus, build_status_report_pdu, decode_submit_pdu
from alertcast.core.sms import gsm7_decode, gsm7_encode
from alertcast.sim.modem_commands import (
    CMS_INVALID_INDEX,
    CMS_INVALID_PDU_PARAMETER,
    CMS_INVALID_TEXT_PARAMETER,
    CMS_NO_NETWORK,
    CMS_OPERATION_NOT_SUPPORTED,
    CMS_SIM_NOT_INSERTED,
    CMS_SIM_PIN_REQUIRED,
    AtError,
    ModemSettings,
    Scheduler,
    StoredMessage,
    parse_number_argument,
    set_int,
)
from alertcast.sim.modem_stats import ModemStats


class SmsCommands:
    """``+CMGF``, ``+CNMI``, ``+CSMP``, ``+CSCA``, ``+CMGS``, ``+CMGR``, ``+CMGL``, ``+CMGD`` and the
    unsolicited ``+CMTI``/``+CMT``/``+CDS``/``+CDSI`` they lead to."""

    settings: ModemSettings
    stats: ModemStats
    storage: dict[int, StoredMessage]
    fail_codes: list[int | None]
    fail_fraction: tuple[int, float] | None
    cmgf: int
    cscs: str
    cnmi: tuple[int, int, int, int, int]
    csmp: tuple[int, int, int, int]
    csca: str
    _rng: random.Random
    _scheduler: Scheduler
    _write: Callable[[bytes], None] | None
    _generation: int
    _fed_at: float
    _busy: bool
    _prompt: tuple[str, int | str, list[bytes]] | None
    _next_mr: int
    _next_concat_reference: int

    def _emit(self, data: bytes) -> None:
        raise NotImplementedError

    def maybe_noise(self) -> None:
        raise NotImplementedError

    def unsolicited(self, line: str | bytes) -> None:
        raise NotImplementedError

    def _respond(self, lines: list[bytes], final: str) -> None:
        raise NotImplementedError

    def _process(self) -> None:
        raise NotImplementedError

    def cms(self, code: int) -> str:
        raise NotImplementedError

    def registered(self) -> bool:
        raise NotImplementedError

    def _at_cmgf(self, rest: str) -> list[bytes]:
        if rest == "?":
            return [f"+CMGF: {self.cmgf}".encode()]
        self.cmgf = set_int(rest, 0, 1)
        return []

    def _at_cnmi(self, rest: str) -> list[bytes]:
        if rest == "?":
            return [("+CNMI: " + ",".join(map(str, self.cnmi))).encode()]
        values = [int(v) if v.strip() else 0 for v in rest.lstrip("=").split(",")] if rest != "=" else []
        padded = (*values, 0, 0, 0, 0, 0)[:5]
        if len(values) > 5 or padded[0] > 3 or padded[1] > 3 or padded[3] > 2:
            raise AtError(self.cms(CMS_OPERATION_NOT_SUPPORTED))
        self.cnmi = (padded[0], padded[1], padded[2], padded[3], padded[4])
        return []

    def _at_csmp(self, rest: str) -> list[bytes]:
        if rest == "?":
            return [("+CSMP: " + ",".join(map(str, self.csmp))).encode()]
        values = [int(v) for v in rest.lstrip("=").split(",") if v.strip()]
        merged = list(self.csmp)
        merged[: len(values)] = values
        self.csmp = (merged[0], merged[1], merged[2], merged[3])
        return []

    def _at_csca(self, rest: str) -> list[bytes]:
        if rest == "?":
            return [f'+CSCA: "{self.csca}",{145 if self.csca.startswith("+") else 129}'.encode()]
        self.csca = parse_number_argument(rest.lstrip("="))
        return []

    def _at_csdh(self, rest: str) -> list[bytes]:
        return [b"+CSDH: 0"] if rest == "?" else []

    def _at_cpms(self, rest: str) -> list[bytes]:
        used, size = len(self.storage), self.settings.storage_size
        return [f'+CPMS: "SM",{used},{size},"SM",{used},{size},"SM",{used},{size}'.encode()]

    def _at_cmgs(self, rest: str) -> list[bytes] | None:
        if self.settings.sim_error is not None:
            raise AtError(self.cms(CMS_SIM_NOT_INSERTED))
        if self.sim_state != "READY":
            raise AtError(self.cms(CMS_SIM_PIN_REQUIRED))
        if not rest.startswith("="):
            raise AtError(self.cms(CMS_INVALID_PDU_PARAMETER))
        argument: int | str
        if self.cmgf == 0:
            try:
                argument = int(rest[1:])
            except ValueError:
                raise AtError(self.cms(CMS_INVALID_PDU_PARAMETER)) from None
            if not 7 <= argument <= 164:
                raise AtError(self.cms(CMS_INVALID_PDU_PARAMETER))
        else:
            try:
                argument = parse_number_argument(rest[1:])
            except ValueError:
                raise AtError(self.cms(CMS_INVALID_TEXT_PARAMETER)) from None
        self._prompt = ("pdu" if self.cmgf == 0 else "text", argument, [])
        self._emit(b"\r\n> ")
        self.maybe_noise()
        return None

    def _submit(self, mode: str, argument: int | str, body: bytes) -> None:
        """Decide the answer now, give it after the send delay (the modem is busy until then)."""
        self._busy = True
        code: int | None = None
        decoded = None
        text_message: tuple[str, str] | None = None
        if not self.registered():
            code = CMS_NO_NETWORK
        elif mode == "pdu":
            assert isinstance(argument, int)
            try:
                decoded = decode_submit_pdu(body.decode("ascii").strip(), tpdu_length=argument)
            except (ValueError, UnicodeDecodeError):
                self.stats.bad_pdus += 1
                code = CMS_INVALID_PDU_PARAMETER
        else:
            assert isinstance(argument, str)
            try:
                text_message = (argument, self._decode_text(body))
            except ValueError:
                code = CMS_INVALID_TEXT_PARAMETER
        if code is None:
            code = self._injected_fault()
        generation = self._generation
        if self.settings.noise and self.settings.send_delay > 0:
            self._scheduler.call_later(self.settings.send_delay / 2, self._noise_if(generation))
        # The send time runs from Ctrl-Z's arrival, not from when decoding it finished.
        self._scheduler.call_later(
            self.settings.send_delay - (time.monotonic() - self._fed_at),
            lambda: self._finish_submit(generation, code, decoded, text_message),
        )

    def _noise_if(self, generation: int) -> Callable[[], None]:
        return lambda: self.maybe_noise() if generation == self._generation else None

    def _injected_fault(self) -> int | None:
        if self.fail_codes:
            return self.fail_codes.pop(0)
        if self.fail_fraction is not None:
            code, fraction = self.fail_fraction
            if self._rng.random() < fraction:
                return code
        return None

    def _decode_text(self, body: bytes) -> str:
        if self.cscs == "GSM":
            text = gsm7_decode(body)
        elif self.cscs == "UCS2":
            text = bytes.fromhex(body.decode("ascii")).decode("utf-16-be")
        elif self.cscs == "IRA":
            text = body.decode("ascii")
        else:
            text = body.decode("latin-1")
        if len(gsm7_encode(text)) > 160:
            raise ValueError("text too long for one SMS")
        return text

    def _finish_submit(
        self,
        generation: int,
        code: int | None,
        decoded: DecodedSubmit | None,
        text_message: tuple[str, str] | None,
    ) -> None:
        attached = generation == self._generation
        if code is not None:
            self.stats.send_errors += 1
            if attached:
                self._busy = False
                self._respond([], self.cms(code))
                self._process()
            return
        if not attached and not self.settings.unplug_completes_send:
            return
        reference = self._next_mr
        self._next_mr = (self._next_mr + 1) % 256
        if decoded is not None:
            self.stats.record_submit(decoded)
            number, wants_report = decoded.number, decoded.status_report_requested
        else:
            assert text_message is not None
            number, text = text_message
            wants_report = bool(self.csmp[0] & 0x20)
            self.stats.record_text_submit(number, text, wants_report)
        submitted_at = datetime.now(UTC)
        if wants_report:
            self._scheduler.call_later(
                self.settings.report_delay,
                lambda: self._status_report(generation, reference, number, submitted_at),
            )
        if attached:
            self._busy = False
            self._respond([f"+CMGS: {reference}".encode()], "OK")
            self._process()

    def _status_report(self, generation: int, reference: int, number: str, submitted_at: datetime) -> None:
        if generation != self._generation:
            return
        status = self.settings.report_status_for(number)
        pdu = build_status_report_pdu(
            reference, number, status, service_centre_time=submitted_at, discharge_time=datetime.now(UTC)
        )
        self.stats.status_reports += 1
        mode = self.cnmi[3]
        if mode == 1:
            if self.cmgf == 0:
                self._emit(f"\r\n+CDS: {pdu.tpdu_length}\r\n{pdu.hex}\r\n".encode())
            else:
                tora = 145 if number.startswith("+") else 129
                stamp = _text_time(submitted_at)
                self.unsolicited(f'+CDS: 6,{reference},"{number}",{tora},"{stamp}","{_text_time()}",{status}')
        elif mode == 2:
            index = self._store(StoredMessage("report", pdu.hex, pdu.tpdu_length, number, "", submitted_at))
            if index is not None:
                self.unsolicited(f'+CDSI: "SM",{index}')

    # Incoming messages -----------------------------------------------------------------------------------

    def inject_sms(self, sender: str, text: str) -> None:
        """A message from a phone arrives: stored (``+CMTI``) or routed straight out (``+CMT``) per CNMI."""
        reference = self._next_concat_reference
        self._next_concat_reference = (reference + 1) % 256
        now = datetime.now(UTC)
        self.stats.inbound_injected += 1
        for pdu in build_deliver_pdus(sender, text, timestamp=now, reference=reference):
            if self.cnmi[1] == 2 and self.cmgf == 0 and self._write is not None:
                self._emit(f"\r\n+CMT: ,{pdu.tpdu_length}\r\n{pdu.hex}\r\n".encode())
                continue
            index = self._store(StoredMessage("deliver", pdu.hex, pdu.tpdu_length, sender, text, now))
            if index is not None and self.cnmi[1] == 1:
                self.unsolicited(f'+CMTI: "SM",{index}')

    def _store(self, message: StoredMessage) -> int | None:
        for index in range(1, self.settings.storage_size + 1):
            if index not in self.storage:
                self.storage[index] = message
                return index
        self.stats.storage_overflow += 1
        return None

    def _at_cmgr(self, rest: str) -> list[bytes]:
        try:
            index = int(rest.lstrip("="))
        except ValueError:
            raise AtError(self.cms(CMS_INVALID_INDEX)) from None
        message = self.storage.get(index)
        if message is None:
            raise AtError(self.cms(CMS_INVALID_INDEX))
        lines = self._listing(message, None)
        message.unread = False
        return lines

    def _at_cmgd(self, rest: str) -> list[bytes]:
        values = [v.strip() for v in rest.lstrip("=").split(",")]
        if len(values) > 1 and values[1] and int(values[1]) == 4:
            self.storage.clear()
        elif values[0]:
            self.storage.pop(int(values[0]), None)
        return []

    def _at_cmgl(self, rest: str) -> list[bytes]:
        wanted = rest.lstrip("=").strip().strip('"').upper() or ("0" if self.cmgf == 0 else "REC UNREAD")
        lines: list[bytes] = []
        for index in sorted(self.storage):
            message = self.storage[index]
            status_name = "REC UNREAD" if message.unread else "REC READ"
            status_code = "0" if message.unread else "1"
            if wanted in ("4", "ALL") or wanted in (status_name, status_code):
                lines.extend(self._listing(message, index))
                message.unread = False
        return lines

    def _listing(self, message: StoredMessage, index: int | None) -> list[bytes]:
        """``+CMGR`` (index None) or ``+CMGL`` lines for a stored message, in the current CMGF format."""
        prefix = "+CMGR: " if index is None else f"+CMGL: {index},"
        if self.cmgf == 0:
            stat = 0 if message.unread else 1
            return [f"{prefix}{stat},,{message.tpdu_length}".encode(), message.pdu_hex.encode()]
        status = '"REC UNREAD"' if message.unread else '"REC READ"'
        if message.kind == "report":
            return [f'{prefix}{status},6,0,"{message.number}",145,"{_text_time(message.timestamp)}"'.encode()]
        head = f'{prefix}{status},"{message.number}",,"{_text_time(message.timestamp)}"'.encode()
        return [head, self._encode_text(message.text)]

    def _encode_text(self, text: str) -> bytes:
        try:
            if self.cscs == "GSM":
                return gsm7_encode(text)
            if self.cscs in ("IRA", "8859-1"):
                return text.encode("ascii" if self.cscs == "IRA" else "latin-1")
        except (ValueError, UnicodeEncodeError):
            pass
        return text.encode("utf-16-be").hex().upper().encode()


def _text_time(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.strftime("%y/%m/%d,%H:%M:%S") + "+00"
