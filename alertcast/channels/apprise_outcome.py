"""Turning what Apprise says about one send into RETRY or FAILED with a reason a person can read.

Apprise reports success or failure per service; the *why* is only in its log lines: ``error=500`` for a
web hook, ``Socket Exception: {'x@y': (550, b'5.1.1 no such user')}`` for a refused mailbox. Those SMTP
codes are logged at DEBUG, below the level the ``apprise`` logger normally runs at, so
:func:`enable_detail_capture` lowers that logger to DEBUG once, with a filter that hands the extra records
to Apprise's own capture only, and only during a send of ours (marked by a context variable that Apprise
copies into the threads it uses). Nothing changes for anyone else reading Apprise's log.

Unknown failures count as temporary: the engine bounds retries, while a wrong FAILED loses a recipient.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from alertcast.channels.base import Outcome

_capturing: ContextVar[bool] = ContextVar("alertcast_apprise_capture", default=False)
_install_lock = threading.Lock()
_installed = False

_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
_SMTP_REPLY = re.compile(r"\((\d{3}), b?['\"]([^'\"]*)")
_TEMPORARY_HTTP = frozenset({408, 425, 429})
_SMTP_LOGIN = frozenset({530, 534, 535, 538})
_CONNECTION_WORDS = ("connection error", "connection refused", "timed out", "timeout", "unreachable")


class _OnlyOurDetail(logging.Filter):
    """Records the ``apprise`` logger would have logged anyway pass as usual. The extra detail of our own
    sends goes only to the handlers on the ``apprise`` logger itself (Apprise's per-call capture), never up
    to the application's handlers: an ``INFO`` root handler must not start printing Apprise's DEBUG lines."""

    def __init__(self, logger: logging.Logger, own_level: int) -> None:
        super().__init__()
        self._logger = logger
        self._own_level = own_level

    def _usual_level(self) -> int:
        if self._own_level != logging.NOTSET:
            return self._own_level
        parent = self._logger.parent
        return parent.getEffectiveLevel() if parent is not None else logging.WARNING

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self._usual_level():
            return True
        if _capturing.get():
            for handler in self._logger.handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
        return False


def enable_detail_capture() -> None:
    """Make Apprise's DEBUG detail available to our sends (idempotent, process-wide, harmless to others)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        logger = logging.getLogger("apprise")
        logger.addFilter(_OnlyOurDetail(logger, logger.level))
        logger.setLevel(logging.DEBUG)
        _installed = True


@contextmanager
def capturing() -> Iterator[None]:
    """Mark the current context (and threads Apprise starts from it) as one of our sends."""
    token = _capturing.set(True)
    try:
        yield
    finally:
        _capturing.reset(token)


def _smtp_reason(lines: list[str]) -> tuple[int, str] | None:
    for line in lines:
        if "Socket Exception" in line or "refused" in line:
            match = _SMTP_REPLY.search(line)
            if match:
                return int(match.group(1)), match.group(2).strip()
            numbers = re.search(r"refused: (\d{3}) b?['\"]?([^'\"]*)", line)
            if numbers:
                return int(numbers.group(1)), numbers.group(2).strip()
    return None


def _summary(warnings: list[str]) -> str:
    text = "; ".join(dict.fromkeys(w.rstrip(".") for w in warnings))
    return text[:300] if text else "no detail from Apprise"


def classify(status: str, entries: Iterable[tuple[str, str]]) -> tuple[Outcome, str]:
    """``status`` is Apprise's name for the service's outcome (SUCCESS, FAILURE, TIMEOUT); ``entries`` are
    its (level, message) log lines for the send. Returns the outcome and a reason."""
    if status == "SUCCESS":
        return Outcome.DELIVERED, ""
    entries = list(entries)
    warnings = [m for level, m in entries if level in ("WARNING", "ERROR", "CRITICAL")]
    details = [m for _, m in entries]
    if status == "TIMEOUT":
        return Outcome.RETRY, f"timed out ({_summary(warnings)})"
    http = next((int(m.group(1)) for w in warnings if (m := _HTTP_STATUS.search(w))), None)
    if http is not None:
        if http >= 500 or http in _TEMPORARY_HTTP:
            return Outcome.RETRY, f"HTTP {http}: {_summary(warnings)}"
        return Outcome.FAILED, f"HTTP {http}: {_summary(warnings)}"
    smtp = _smtp_reason(details)
    if smtp is not None:
        code, text = smtp
        reason = f"SMTP {code} {text}".rstrip()
        if code in _SMTP_LOGIN:
            return (
                Outcome.RETRY,
                f"{reason}: the mail server refused this route's login (check its credentials)",
            )
        if 500 <= code < 600:
            return Outcome.FAILED, reason
        return Outcome.RETRY, reason
    lowered = " ".join(details).lower()
    if any(word in lowered for word in _CONNECTION_WORDS):
        return Outcome.RETRY, f"cannot reach the server: {_summary(warnings)}"
    return Outcome.RETRY, _summary(warnings)
