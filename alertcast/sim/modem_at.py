"""The AT command interpreter of one simulated GSM modem: the subset of 3GPP TS 27.007 / 27.005 a careful
client uses, with the awkward parts real modems have.

It knows nothing of pseudo-terminals: bytes come in through :meth:`SimulatedModem.feed`, go out through the
``write`` callable given to :meth:`attach`, and delays run on a :class:`Scheduler`. What makes it worth
testing against: echo until ``ATE0``, errors as plain ``ERROR`` until ``AT+CMEE=1``, a SIM that wants its PIN
and locks after three wrong ones, a ``> `` prompt without a line end, sends that take seconds, unsolicited
lines (``RING``, ``^RSSI``, ``+CMTI``, ``+CDS``) written between a command and its answer, and PDUs that
are decoded, not trusted.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from alertcast.sim.modem_commands import (
    AtError,
    ModemSettings,
    Scheduler,
    StoredMessage,
    cme_text,
    cms_text,
    set_int,
    split_command_line,
)
from alertcast.sim.modem_sms import SmsCommands
from alertcast.sim.modem_stats import ModemStats

CTRL_Z = 0x1A
ESC = 0x1B
NOISE_LINES = ("RING", "^RSSI: {rssi}", "^MODE: 5,4", "^DSFLOWRPT: 0000001A,00000000,00000000")
_MAX_LINE = 4096


class SimulatedModem(SmsCommands):
    """One modem's state and command handling; driven by a single thread (the simulator's loop)."""

    def __init__(self, index: int, settings: ModemSettings, scheduler: Scheduler, rng: random.Random) -> None:
        self.index = index
        self.settings = settings
        self.stats = ModemStats(modem=index)
        self._scheduler = scheduler
        self._rng = rng
        self._write: Callable[[bytes], None] | None = None
        self._generation = 0
        self._inbuf = bytearray()
        self._busy = False
        self._fed_at = 0.0
        self._prompt: tuple[str, int | str, list[bytes]] | None = None
        self._next_mr = rng.randrange(256)
        self._next_concat_reference = rng.randrange(256)
        self.pin_attempts = 3
        self.storage: dict[int, StoredMessage] = {}
        self.fail_codes: list[int | None] = []
        """CMS error codes for the next sends, one each (error injection)."""
        self.fail_fraction: tuple[int, float] | None = None
        self._reset_volatile()

    # Power and cable -------------------------------------------------------------------------------------

    def attach(self, write: Callable[[bytes], None]) -> None:
        """Plugged in (or powered on): settings a real modem forgets go back to their defaults."""
        self._generation += 1
        self._write = write
        self._inbuf.clear()
        self._busy = False
        self._prompt = None
        self._reset_volatile()

    def detach(self) -> None:
        self._generation += 1
        self._write = None

    def _reset_volatile(self) -> None:
        self.echo = True
        self.cmee = 0
        self.cmgf = 0
        self.cscs = "IRA"
        self.cnmi = (0, 0, 0, 0, 0)
        self.csmp = (17, 167, 0, 0)
        self.creg_n = 0
        self.csca = self.settings.smsc
        self.sim_state = "SIM PIN" if self.settings.pin else "READY"
        if self.pin_attempts == 0:
            self.sim_state = "SIM PUK"

    @property
    def busy(self) -> bool:
        return self._busy

    # Output ----------------------------------------------------------------------------------------------

    def _emit(self, data: bytes) -> None:
        if self._write is not None and not self.settings.mute:
            self._write(data)

    def maybe_noise(self) -> None:
        if self.settings.noise > 0 and self._rng.random() < self.settings.noise:
            line = self._rng.choice(NOISE_LINES).format(rssi=self._rng.randint(5, 31))
            self._emit(f"\r\n{line}\r\n".encode())

    def unsolicited(self, line: str | bytes) -> None:
        data = line.encode("latin-1") if isinstance(line, str) else line
        self._emit(b"\r\n" + data + b"\r\n")

    def _respond(self, lines: list[bytes], final: str) -> None:
        self.maybe_noise()
        # Information lines of one answer follow each other directly, as modems print them: a header such
        # as +CMGR is immediately followed by its PDU line.
        out = b"\r\n" + b"\r\n".join(lines) + b"\r\n" if lines else b""
        self._emit(out + b"\r\n" + final.encode("latin-1") + b"\r\n")

    def cme(self, code: int) -> str:
        if self.cmee == 0:
            return "ERROR"
        return f"+CME ERROR: {cme_text(code) if self.cmee == 2 else code}"

    def cms(self, code: int) -> str:
        if self.cmee == 0:
            return "ERROR"
        return f"+CMS ERROR: {cms_text(code) if self.cmee == 2 else code}"

    # Input -----------------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.settings.mute:
            return
        self._fed_at = time.monotonic()
        self._inbuf += data
        self._process()

    def _process(self) -> None:
        while self._inbuf and not self._busy:
            if self._prompt is not None:
                if not self._take_body():
                    return
                continue
            end = self._inbuf.find(b"\r")
            if end < 0:
                if len(self._inbuf) > _MAX_LINE:
                    self._inbuf.clear()
                return
            # In command mode a modem discards Ctrl-Z and ESC (clients send ESC to leave a stale prompt).
            line = bytes(self._inbuf[:end]).translate(None, b"\x1a\x1b\n")
            del self._inbuf[: end + 1]
            if self.echo:
                self._emit(line + b"\r")
            self._execute_line(line)

    def _take_body(self) -> bool:
        """Collect the message body after ``> ``; False when the terminator has not arrived yet."""
        assert self._prompt is not None
        mode, argument, collected = self._prompt
        for index, byte in enumerate(self._inbuf):
            if byte in (CTRL_Z, ESC):
                chunk = bytes(self._inbuf[:index])
                del self._inbuf[: index + 1]
                collected.append(chunk)
                if self.echo:
                    self._emit(chunk)
                self._prompt = None
                if byte == ESC:
                    self.stats.cancelled += 1
                    self._respond([], "OK")
                else:
                    self._submit(mode, argument, b"".join(collected))
                return True
            if byte == 0x0D and mode == "text":
                collected.append(bytes(self._inbuf[:index]) + b"\n")
                del self._inbuf[: index + 1]
                self._emit(b"\r\n> ")
                return True
        return False

    def _execute_line(self, line: bytes) -> None:
        text = line.decode("latin-1").strip()
        if len(text) < 2 or text[:2].upper() != "AT":
            return
        info: list[bytes] = []
        try:
            for command in split_command_line(text[2:]):
                result = self._execute(command)
                if result is None:
                    return  # the > prompt is out; the answer comes after the body
                info.extend(result)
        except AtError as error:
            self._respond(info, error.final)
            return
        self._respond(info, "OK")

    def _execute(self, command: str) -> list[bytes] | None:
        upper = command.upper()
        if not upper.startswith(("+", "^")):
            return self._basic(upper)
        name, _, rest = _split_name(command)
        handler = getattr(self, f"_at_{name[1:].lower()}", None)
        if handler is None:
            raise AtError("ERROR")
        result: list[bytes] | None = handler(rest)
        return result

    def _basic(self, command: str) -> list[bytes]:
        """Basic commands (``E0``, ``Z``, ``I``...); several may follow each other without separators."""
        info: list[bytes] = []
        index = 0
        while index < len(command):
            letter = command[index]
            index += 1
            if letter == "&":
                index += 2
                continue
            digits = ""
            while index < len(command) and command[index].isdigit():
                digits += command[index]
                index += 1
            if letter == "E":
                self.echo = digits != "0" and digits != ""
            elif letter == "Z":
                self._reset_volatile()
            elif letter == "I":
                info.append(b"Alertcast Simulated GSM Modem")
            elif letter not in "VQS":
                raise AtError("ERROR")
        return info

    # General commands (TS 27.007) ------------------------------------------------------------------------

    def _at_cmee(self, rest: str) -> list[bytes]:
        if rest == "?":
            return [f"+CMEE: {self.cmee}".encode()]
        value = set_int(rest, 0, 2)
        self.cmee = value
        return []

    def _at_cgsn(self, rest: str) -> list[bytes]:
        return [self.settings.imei.encode()]

    def _at_cgmi(self, rest: str) -> list[bytes]:
        return [b"alertcast"]

    def _at_cgmm(self, rest: str) -> list[bytes]:
        return [b"SIM-900"]

    def _at_cpin(self, rest: str) -> list[bytes]:
        if self.settings.sim_error is not None:
            raise AtError(self.cme(self.settings.sim_error))
        if rest == "?":
            return [f"+CPIN: {self.sim_state}".encode()]
        if not rest.startswith("="):
            raise AtError(self.cme(4))
        if self.sim_state == "SIM PUK":
            raise AtError(self.cme(12))
        if self.sim_state == "READY":
            raise AtError(self.cme(3))
        pin = rest[1:].split(",")[0].strip().strip('"')
        if pin != self.settings.pin:
            self.pin_attempts -= 1
            if self.pin_attempts == 0:
                self.sim_state = "SIM PUK"
            raise AtError(self.cme(16))
        self.pin_attempts = 3
        self.sim_state = "READY"
        return []

    def registration(self) -> int:
        if self.sim_state != "READY" or self.settings.sim_error is not None:
            return 0
        return self.settings.registration

    def registered(self) -> bool:
        return self.registration() in (1, 5)

    def _at_creg(self, rest: str) -> list[bytes]:
        if rest == "?":
            return [f"+CREG: {self.creg_n},{self.registration()}".encode()]
        self.creg_n = set_int(rest, 0, 2)
        return []

    def _at_cgreg(self, rest: str) -> list[bytes]:
        if rest == "?":
            return [f"+CGREG: 0,{self.registration()}".encode()]
        set_int(rest, 0, 2)
        return []

    def _at_csq(self, rest: str) -> list[bytes]:
        rssi = self.settings.signal if self.registered() else 99
        return [f"+CSQ: {rssi},99".encode()]

    def _at_cscs(self, rest: str) -> list[bytes]:
        if rest == "?":
            return [f'+CSCS: "{self.cscs}"'.encode()]
        charset = rest.lstrip("=").strip().strip('"').upper()
        if charset not in ("GSM", "IRA", "UCS2", "8859-1"):
            raise AtError(self.cme(4))
        self.cscs = charset
        return []


def _split_name(command: str) -> tuple[str, str, str]:
    for index, char in enumerate(command):
        if char in "=?":
            return command[:index].upper(), "", command[index:]
    return command.upper(), "", ""
