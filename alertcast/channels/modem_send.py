"""Sending one message through a modem: PDU mode (default) or text mode.

PDU mode is the portable way: core plans the text (GSM 7-bit or UCS-2, split into parts that never cut an
escape or a surrogate pair) and builds one SMS-SUBMIT per part with a concatenation header, a status report
request and a validity period. Each part is ``AT+CMGS=<length>``, ``> ``, hex + Ctrl-Z, ``+CMGS: <mr>``.

Text mode exists for modems whose PDU mode is broken. It sends exactly one GSM 7-bit SMS, typed in the
GSM character set (``AT+CSCS="GSM"``). A message that needs UCS-2 or more than one part, or that contains
a character whose GSM code is Ctrl-Z or ESC (``Ξ`` and the extension characters such as ``€``, ``[``,
``{``), cannot be typed faithfully and is FAILED with a reason that says to use PDU mode; the engine can
then fall back to another route. Line breaks are sent as LF, since CR ends a line of input at the prompt.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from alertcast.channels.base import OutboundMessage, Outcome, SendResult
from alertcast.channels.modem_config import ModemConfig
from alertcast.channels.modem_errors import ErrorKind
from alertcast.channels.modem_link import AtCommandError, AtLink
from alertcast.core.pdu import build_submit_pdus
from alertcast.core.sms import SmsPlan, gsm7_encode, plan_sms

_UNTYPABLE = {0x1A: "Ctrl-Z", 0x1B: "ESC"}


@dataclass(frozen=True, slots=True)
class SendSuccess:
    references: list[int]

    @property
    def parts_tried(self) -> int:
        return len(self.references)


@dataclass(frozen=True, slots=True)
class SendFailure:
    kind: ErrorKind
    reason: str
    parts_sent: int = 0
    parts_tried: int = 0

    def as_result(self, delivery_id: int, label: str) -> SendResult:
        outcome = Outcome.FAILED if self.kind == "permanent" else Outcome.RETRY
        note = f" after {self.parts_sent} part(s) had gone out" if self.parts_sent else ""
        return SendResult(
            delivery_id,
            outcome,
            error=f"modem {label}: {self.reason}{note}",
            possible_duplicate=self.parts_sent > 0,
        )


def validity_for(message: OutboundMessage, config: ModemConfig) -> int | None:
    """Minutes of validity to ask for: the configured value, shortened to the message's own expiry."""
    limit = config.validity_minutes
    if message.expires_at is None:
        return limit
    expires = message.expires_at if message.expires_at.tzinfo else message.expires_at.replace(tzinfo=UTC)
    minutes = math.ceil((expires - datetime.now(UTC)).total_seconds() / 60)
    return max(1, minutes) if limit is None else max(1, min(limit, minutes))


def send_message(
    link: AtLink,
    config: ModemConfig,
    message: OutboundMessage,
    *,
    on_sent: Callable[[], None],
    concat_reference: int,
    pause: Callable[[float], None],
    after_command: Callable[[], None] = lambda: None,
) -> SendSuccess | SendFailure:
    """Send every part; modem loss and timeouts propagate as ModemGone / AtTimeout / Interrupted."""
    try:
        plan = plan_sms(message.text, transliterate=config.transliterate)
    except ValueError as error:
        return SendFailure("permanent", f"text cannot be encoded as SMS: {error}")
    if config.mode == "text":
        return _send_text(link, config, message, plan, on_sent, after_command)
    try:
        pdus = build_submit_pdus(
            message.address,
            plan,
            reference=concat_reference,
            status_report=config.status_reports,
            validity_minutes=validity_for(message, config),
        )
    except ValueError as error:
        return SendFailure("permanent", f"cannot address the message: {error}")
    references: list[int] = []
    for sequence, pdu in enumerate(pdus):
        retries = config.part_retries if sequence > 0 else 0
        while True:
            try:
                command = f"AT+CMGS={pdu.tpdu_length}"
                references.append(_submit(link, config, command, pdu.hex.encode(), on_sent, after_command))
                break
            except AtCommandError as error:
                if error.error.kind == "temporary" and retries > 0:
                    retries -= 1
                    pause(config.part_retry_delay)
                    continue
                return SendFailure(error.error.kind, error.error.reason, len(references), len(references) + 1)
    return SendSuccess(references)


def _submit(
    link: AtLink,
    config: ModemConfig,
    command: str,
    body: bytes,
    on_sent: Callable[[], None],
    after_command: Callable[[], None],
) -> int:
    return link.submit(
        command,
        body,
        prompt_timeout=config.prompt_timeout,
        answer_timeout=config.send_timeout,
        stop_grace=config.stop_grace,
        on_sent=on_sent,
        after_command=after_command,
    )


def _send_text(
    link: AtLink,
    config: ModemConfig,
    message: OutboundMessage,
    plan: SmsPlan,
    on_sent: Callable[[], None],
    after_command: Callable[[], None],
) -> SendSuccess | SendFailure:
    advice = 'use mode = "pdu" for this route'
    text, segments = plan.text, plan.segments
    if plan.encoding != "gsm7":
        return SendFailure(
            "permanent", f"text mode sends GSM 7-bit only and this message needs UCS-2; {advice}"
        )
    if segments > 1:
        return SendFailure(
            "permanent",
            f"text mode sends one SMS (160 characters) and this message needs {segments}; {advice}",
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for char in dict.fromkeys(text):
        codes = gsm7_encode(char)
        if any(code in _UNTYPABLE for code in codes):
            control = next(_UNTYPABLE[code] for code in codes if code in _UNTYPABLE)
            return SendFailure(
                "permanent", f"text mode cannot type {char!r}: its GSM code includes {control}; {advice}"
            )
    body = gsm7_encode(text)
    number = message.address.strip()
    digits = number[1:] if number.startswith("+") else number
    if not digits.isdigit():
        return SendFailure("permanent", f"cannot address the message: {number!r} is not a phone number")
    type_of_address = 145 if number.startswith("+") else 129
    try:
        reference = _submit(
            link, config, f'AT+CMGS="{number}",{type_of_address}', body, on_sent, after_command
        )
    except AtCommandError as error:
        return SendFailure(error.error.kind, error.error.reason, 0, 1)
    return SendSuccess([reference])
