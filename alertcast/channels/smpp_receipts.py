"""Delivery receipts: reading them, and matching them to what was sent despite the SMSC's habits.

SMSCs disagree with themselves about message ids: submit_sm_resp may say ``000f4240`` (hex, zero-padded)
while the receipt says ``1000000`` (decimal), or the reverse, and a receipt can overtake the submit_sm_resp
it belongs to. So:

* The id a :class:`SendResult` carries is **canonical**: the id of the message's *first* part as the SMSC gave
  it in submit_sm_resp, lower-cased, leading zeros removed (``000F4240`` → ``f4240``).
* A :class:`Receipt` lists every form its id may take, canonical first: the id as given, read as hex and
  written in decimal, and read as decimal and written in hex. When the channel recognises the id, the
  delivery's canonical id comes first of all.
* A receipt whose id the channel has not reported yet is held (``hold`` seconds) until the submit_sm_resp is
  processed; only then is it passed on, so the engine always sees the result before its receipt.
* A concatenated message gets one receipt per part from the SMSC; the channel passes on one: delivered when
  every part was, failed as soon as one part failed.
"""

from __future__ import annotations

import re
import string
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from alertcast.channels.base import Receipt

MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
NOT_FINAL = frozenset({"ENROUTE", "ACCEPTD", "SCHEDULED", "BUFFRED"})
"""Intermediate notifications: the message is on its way; a final receipt is still to come."""
_LONG_WORDS = {
    "DELIVERED": "DELIVRD",
    "UNDELIVERABLE": "UNDELIV",
    "REJECTED": "REJECTD",
    "ACCEPTED": "ACCEPTD",
}

_ID = re.compile(r"\bid:\s*([0-9A-Za-z\-]+)", re.IGNORECASE)
_STAT = re.compile(r"\bstat:\s*([A-Za-z_]+)", re.IGNORECASE)
_ERR = re.compile(r"\berr:\s*([0-9A-Za-z]+)", re.IGNORECASE)
_HEX = frozenset(string.hexdigits)


@dataclass(frozen=True, slots=True)
class RawReceipt:
    """A receipt as one deliver_sm gave it, before matching."""

    message_id: str
    status: str
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status == "DELIVRD"

    @property
    def final(self) -> bool:
        return self.status not in NOT_FINAL


def parse_receipt(
    text: bytes, receipted_message_id: bytes | None, message_state: int | None, network_error: bytes | None
) -> RawReceipt:
    """Id from the receipted_message_id TLV, else from ``id:`` in the text; state from the message_state TLV,
    else from ``stat:``. Raises ValueError naming what is missing."""
    body = text.decode("latin-1")
    text_id = match.group(1) if (match := _ID.search(body)) else None
    message_id = (
        receipted_message_id.rstrip(b"\x00").decode("latin-1").strip() if receipted_message_id else ""
    )
    if message_id and text_id and len(text_id) == len(message_id) + 1 and text_id.startswith(message_id):
        # smpplib drops the last octet of a TLV string sent without its NUL terminator; the text has it whole.
        message_id = text_id
    message_id = message_id or (text_id or "")
    if not message_id:
        raise ValueError(
            f"delivery receipt without a message id (no receipted_message_id TLV, text {body!r})"
        )
    if message_state is not None and message_state in MESSAGE_STATES:
        status = MESSAGE_STATES[message_state]
    elif match := _STAT.search(body):
        word = match.group(1).upper()
        status = _LONG_WORDS.get(word, word)
    else:
        raise ValueError(
            f"delivery receipt for {message_id} without a state (no message_state, text {body!r})"
        )
    error = None
    if network_error and len(network_error) == 3:
        error = f"network error type {network_error[0]} code {int.from_bytes(network_error[1:], 'big')}"
    elif (match := _ERR.search(body)) and match.group(1).strip("0"):
        error = f"err:{match.group(1)}"
    return RawReceipt(message_id, status, error)


def canonical_message_id(raw: str) -> str:
    """Lower case, no leading zeros: the form :class:`SendResult.provider_id` always has."""
    return raw.strip().lower().lstrip("0") or "0"


def message_id_forms(raw: str) -> tuple[str, ...]:
    """Every form an id may have been stored in, canonical first (see the module docstring)."""
    canonical = canonical_message_id(raw)
    forms = [canonical]
    if raw.strip() != canonical:
        forms.append(raw.strip())
    if canonical.isdigit() and len(canonical) < 40:
        forms.append(format(int(canonical), "x"))
    if all(c in _HEX for c in canonical) and len(canonical) < 40:
        forms.append(str(int(canonical, 16)))
    return tuple(dict.fromkeys(forms))


@dataclass
class _Sent:
    """One submitted message whose receipts are awaited."""

    provider_id: str
    parts: int
    states: dict[str, RawReceipt] = field(default_factory=dict)
    done: bool = False


@dataclass
class _Held:
    raw: RawReceipt
    forms: tuple[str, ...]
    since: float


class ReceiptMatcher:
    """Keeps the ids of recent submits (at most ``memory``) to order, merge and label receipts.

    Not thread-safe: lives on the event loop, fed by the channel in the order events arrive there.
    """

    def __init__(self, channel: str, *, hold: float = 10.0, part_wait: float = 600.0, memory: int = 200_000):
        self.channel = channel
        self.hold = hold
        self.part_wait = part_wait
        self.memory = memory
        self._sent: OrderedDict[str, _Sent] = OrderedDict()
        self._held: dict[str, _Held] = {}
        self._incomplete: dict[int, tuple[_Sent, float]] = {}
        """Concatenated messages with some but not all part receipts, by id(), with the first one's time."""

    def submitted(self, part_ids: Sequence[str], now: float) -> list[Receipt]:
        """Note a message accepted by the SMSC (ids of all its parts, first part first); returns receipts that
        were waiting for it."""
        sent = _Sent(canonical_message_id(part_ids[0]), len(part_ids))
        ready: list[Receipt] = []
        for part_id in part_ids:
            key = canonical_message_id(part_id)
            self._sent[key] = sent
            held = self._held.get(key)
            if held is not None:
                self._drop_held(held)
                ready += self._apply(sent, key, held.raw, now)
        while len(self._sent) > self.memory:
            self._sent.popitem(last=False)
        return ready

    def receipt(self, raw: RawReceipt, now: float) -> list[Receipt]:
        """Receipts to pass on now for one that just arrived (none while it waits for its submit)."""
        if not raw.final:
            return []
        forms = message_id_forms(raw.message_id)
        for form in forms:
            sent = self._sent.get(form)
            if sent is not None:
                return self._apply(sent, form, raw, now)
        held = _Held(raw, forms, now)
        for form in forms:
            self._held[form] = held
        return []

    def expire(self, now: float) -> list[Receipt]:
        """Pass on receipts held too long (unmatched: the engine may still know the id from an earlier run)
        and concatenated messages whose missing part receipts stopped coming."""
        ready: list[Receipt] = []
        for held in {id(h): h for h in self._held.values() if now - h.since >= self.hold}.values():
            self._drop_held(held)
            ready.append(self._unmatched(held))
        for sent, since in list(self._incomplete.values()):
            if now - since >= self.part_wait:
                ready.append(self._merged(sent))
        return ready

    def drain(self) -> list[Receipt]:
        """Everything still held, for a channel that is stopping."""
        ready = [self._unmatched(h) for h in {id(h): h for h in self._held.values()}.values()]
        self._held.clear()
        return ready

    def _drop_held(self, held: _Held) -> None:
        for form in held.forms:
            if self._held.get(form) is held:
                del self._held[form]

    def _unmatched(self, held: _Held) -> Receipt:
        raw = held.raw
        return Receipt(self.channel, held.forms, raw.delivered, raw.status, raw.error)

    def _apply(self, sent: _Sent, part_key: str, raw: RawReceipt, now: float) -> list[Receipt]:
        if sent.done:
            return []  # a repeated receipt, or a part after the message was already decided
        sent.states[part_key] = raw
        if not raw.delivered or len(sent.states) >= sent.parts:
            return [self._merged(sent)]
        self._incomplete.setdefault(id(sent), (sent, now))
        return []

    def _merged(self, sent: _Sent) -> Receipt:
        sent.done = True
        self._incomplete.pop(id(sent), None)
        states = list(sent.states.values())
        failed = next((s for s in states if not s.delivered), None)
        chosen = failed or states[-1]
        status = chosen.status
        if sent.parts > 1 and len(states) < sent.parts and failed is None:
            status = f"{status} ({len(states)} of {sent.parts} parts reported)"
        forms = (sent.provider_id, *message_id_forms(chosen.message_id))
        return Receipt(self.channel, tuple(dict.fromkeys(forms)), failed is None, status, chosen.error)
