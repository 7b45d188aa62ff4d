"""The AT conversation with one modem: write a command, read its answer, set unsolicited lines aside.

A modem writes unsolicited result codes (``+CMTI``, ``+CDS``, ``RING``, ``^RSSI``...) whenever something
happens, including between a command and its answer and between the ``> `` prompt and ``+CMGS``. So an
answer is never "the next line": a command names the prefix of the lines it expects, final result codes
end it, echoes are dropped, and everything else goes to the unsolicited handler. ``+CMT`` and the PDU form
of ``+CDS`` carry their data on a second line; they are paired here, at the line level, so no command ever
mistakes that line for its own answer.

Only the modem's owner thread calls this. It waits with ``select`` on the port and on a wake-up pipe, so
the thread can sleep until the modem speaks or the bank hands it work, without polling.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import serial

from alertcast.channels.modem_errors import ModemError, classify

CTRL_Z = b"\x1a"
ESC = b"\x1b"
_URC_PREFIXES = (
    "+CMTI:",
    "+CDSI:",
    "+CMT:",
    "+CDS:",
    "+CBM:",
    "RING",
    "^",
    "+CRING:",
    "+CLIP:",
    "+CUSD:",
    "+CIEV:",
)
_PAIRED_PREFIXES = ("+CMT:", "+CBM:")
_ERROR_FINALS = (
    "ERROR",
    "+CMS ERROR",
    "+CME ERROR",
    "NO CARRIER",
    "COMMAND NOT SUPPORT",
    "TOO MANY PARAMETERS",
)
_HEADERS_WITH_DATA = ("+CMGR:", "+CMGL:")


class ModemGone(Exception):
    """The port failed (I/O error, port closed or removed): the modem was pulled or powered off."""


class AtTimeout(Exception):
    """The modem did not answer in time."""


class Interrupted(Exception):
    """The channel is stopping; the wait was abandoned."""


class AtCommandError(Exception):
    """A command ended in ``ERROR``, ``+CMS ERROR`` or ``+CME ERROR``."""

    def __init__(self, command: str, final: str) -> None:
        self.command = command
        self.final = final
        self.error: ModemError = classify(final)
        super().__init__(f"{command}: {self.error.reason}")


@dataclass(frozen=True, slots=True)
class Unsolicited:
    """An unsolicited line, with its data line for ``+CMT`` and ``+CDS`` (PDU form)."""

    line: str
    data: str | None = None


def _is_error(line: str) -> bool:
    return line.upper().startswith(_ERROR_FINALS)


def _pairs_with_next_line(line: str) -> bool:
    if line.startswith(_PAIRED_PREFIXES):
        return True
    # "+CDS: <length>" (PDU mode) has its PDU on the next line; the text-mode form is one line of fields.
    return line.startswith("+CDS:") and line[5:].strip().isdigit()


class AtLink:
    """Command/answer exchange over an open pyserial port (``timeout=0``: reads never block)."""

    def __init__(
        self,
        port: serial.Serial,
        *,
        on_unsolicited: Callable[[Unsolicited], None],
        wake_fd: int,
        should_stop: Callable[[], bool],
    ) -> None:
        self._port = port
        self._on_unsolicited = on_unsolicited
        self._wake_fd = wake_fd
        self._should_stop = should_stop
        self._partial = bytearray()
        self._lines: deque[str] = deque()
        self._urc_header: str | None = None
        self._use_select = os.name == "posix"

    # Public API ------------------------------------------------------------------------------------------

    def command(self, command: str, *, expect: str | tuple[str, ...] = (), timeout: float) -> list[str]:
        """Send ``command``; return the answer's information lines (those starting with ``expect``, and
        the data line after a ``+CMGR``/``+CMGL`` header). Raises :class:`AtCommandError` on an error."""
        self.write(command.encode("ascii") + b"\r")
        return self._collect(command, expect, time.monotonic() + timeout, grace=None)

    def submit(
        self,
        command: str,
        body: bytes,
        *,
        prompt_timeout: float,
        answer_timeout: float,
        stop_grace: float,
        on_sent: Callable[[], None],
        after_command: Callable[[], None] = lambda: None,
    ) -> int:
        """``AT+CMGS``: wait for ``> ``, write ``body`` and Ctrl-Z, return the message reference.

        ``on_sent`` is called the moment Ctrl-Z is written: from then on the message may reach the network
        whatever happens to the port. When no prompt comes, ESC takes the modem out of the prompt state.
        ``after_command`` runs once the command is written, while the modem prepares its prompt.
        """
        self.write(command.encode("ascii") + b"\r")
        after_command()
        self._wait_prompt(command, time.monotonic() + prompt_timeout)
        self.write(body + CTRL_Z)
        on_sent()
        lines = self._collect(command, "+CMGS:", time.monotonic() + answer_timeout, grace=stop_grace)
        for line in lines:
            value = line.partition(":")[2].split(",")[0].strip()
            if value.isdigit():
                return int(value)
        raise AtCommandError(command, f"OK without a message reference (answer: {lines})")

    def pump(self, timeout: float) -> None:
        """Read and dispatch unsolicited lines for up to ``timeout`` s; returns early when woken."""
        self._dispatch_pending()
        self._read_once(time.monotonic() + timeout, interruptible=False, idle=True)
        self._dispatch_pending()

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as error:
            raise ModemGone(f"write failed: {error}") from None

    def drain(self, quiet: float = 0.05) -> None:
        """Throw away whatever the modem says until it has been quiet for ``quiet`` s (after open)."""
        give_up = time.monotonic() + 2.0
        while time.monotonic() < give_up:
            before = len(self._partial) + len(self._lines)
            self._read_once(time.monotonic() + quiet, interruptible=True, idle=True)
            if len(self._partial) + len(self._lines) == before:
                break
        self._partial.clear()
        self._lines.clear()
        self._urc_header = None

    # Reading ---------------------------------------------------------------------------------------------

    def _collect(
        self, command: str, expect: str | tuple[str, ...], deadline: float, grace: float | None
    ) -> list[str]:
        info: list[str] = []
        wants_data = False
        while True:
            line = self._next_line(deadline, grace)
            if line is None:
                # Stopping after Ctrl-Z: wait a little for the answer rather than report a possible duplicate.
                assert grace is not None
                deadline = min(deadline, time.monotonic() + grace)
                continue
            if wants_data:
                info.append(line)
                wants_data = False
            elif line == "OK":
                return info
            elif _is_error(line):
                raise AtCommandError(command, line)
            elif expect and line.startswith(expect):
                info.append(line)
                wants_data = line.startswith(_HEADERS_WITH_DATA)
            elif line[:2].upper() != "AT":
                self._on_unsolicited(Unsolicited(line))

    def _wait_prompt(self, command: str, deadline: float) -> None:
        try:
            while True:
                while self._lines:
                    line = self._lines.popleft()
                    if line.startswith(_URC_MARK):
                        self._dispatch_urc(line)
                    elif line.startswith(">"):
                        return
                    elif _is_error(line):
                        raise AtCommandError(command, line)
                    elif line[:2].upper() != "AT":
                        self._on_unsolicited(Unsolicited(line))
                if self._partial.lstrip(b"\r\n").startswith(b">"):
                    self._partial.clear()
                    return
                self._read_once(deadline, interruptible=True)
        except (AtTimeout, Interrupted):
            self.write(ESC)
            raise

    def _next_line(self, deadline: float, grace: float | None) -> str | None:
        """The next line that is not unsolicited (those are dispatched on the way); None when woken while
        stopping during a wait that has a grace period."""
        while True:
            while self._lines:
                line = self._lines.popleft()
                if line.startswith(_URC_MARK):
                    self._dispatch_urc(line)
                else:
                    return line
            woken = self._read_once(deadline, interruptible=grace is None)
            if woken and grace is not None and self._should_stop():
                return None

    def _read_once(self, deadline: float, *, interruptible: bool, idle: bool = False) -> bool:
        """Wait until data arrives (it is split into lines), a wake-up, or ``deadline``; True when woken.

        At the deadline: AtTimeout, or False when ``idle``. A wake-up while stopping raises Interrupted
        when ``interruptible``.
        """
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if idle:
                    return False
                raise AtTimeout("no answer in time")
            port_ready, woken = self._wait(min(remaining, 0.5))
            if woken and interruptible and self._should_stop():
                raise Interrupted("stopping")
            if port_ready:
                try:
                    data = self._port.read(4096)
                except (serial.SerialException, OSError) as error:
                    raise ModemGone(f"read failed: {error}") from None
                self._feed(data)
            if port_ready or woken:
                return woken

    def _wait(self, timeout: float) -> tuple[bool, bool]:
        if not self._use_select:
            # No select() on serial handles outside POSIX: poll in short steps instead.
            if self._port.in_waiting:
                return True, False
            time.sleep(min(timeout, 0.02))
            return bool(self._port.in_waiting), self._should_stop()
        try:
            ready, _, _ = select.select([self._port.fileno(), self._wake_fd], [], [], timeout)
        except (OSError, ValueError) as error:
            raise ModemGone(f"port unusable: {error}") from None
        woken = self._wake_fd in ready
        if woken:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_fd, 4096)
        return self._port.fileno() in ready, woken

    def _feed(self, data: bytes) -> None:
        self._partial += data
        while True:
            end = self._partial.find(b"\n")
            if end < 0:
                return
            raw = bytes(self._partial[:end]).strip(b"\r")
            del self._partial[: end + 1]
            line = raw.decode("latin-1").strip()
            if line:
                self._take_line(line)

    def _take_line(self, line: str) -> None:
        if self._urc_header is not None:
            header, self._urc_header = self._urc_header, None
            self._lines.append(_URC_MARK + header + _URC_SEPARATOR + line)
        elif line.startswith(_URC_PREFIXES):
            if _pairs_with_next_line(line):
                self._urc_header = line
            else:
                self._lines.append(_URC_MARK + line)
        else:
            self._lines.append(line)

    def _dispatch_pending(self) -> None:
        while self._lines:
            line = self._lines.popleft()
            if not line.startswith(_URC_MARK):
                continue  # a late answer to a command that already timed out: nothing waits for it
            self._dispatch_urc(line)

    def _dispatch_urc(self, marked: str) -> None:
        header, _, data = marked[len(_URC_MARK) :].partition(_URC_SEPARATOR)
        self._on_unsolicited(Unsolicited(header, data or None))


# Unsolicited lines travel through the same queue as answers, marked so the collector can route them.
_URC_MARK = "\x00urc\x00"
_URC_SEPARATOR = "\x00data\x00"
