"""What the simulator saw: counters, and every message reassembled and decoded as a handset would show it.

Tests and benchmarks judge a sender by these figures (duplicates after a dropped link, throttled submits,
texts that survived concatenation and encoding), so they are counted at the one place that cannot lie: the
far end of the wire.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from alertcast.core.sms import gsm7_decode
from alertcast.sim.smsc_codec import (
    ESM_CLASS_UDHI,
    TAG_SAR_MSG_REF_NUM,
    TAG_SAR_SEGMENT_SEQNUM,
    TAG_SAR_TOTAL_SEGMENTS,
    Concatenation,
    SubmitSm,
    split_udh,
)

PARTIAL_TTL = 600.0
"""Seconds an incomplete concatenated message waits for its missing parts before it is forgotten."""


def decode_user_data(payload: bytes, data_coding: int) -> str:
    """Text for a payload as a handset would show it; never raises (a simulator reports, it does not judge)."""
    coding = data_coding & 0xFF
    if coding == 0x00 or 0x10 <= coding <= 0x13 or 0xF0 <= coding <= 0xF3:
        try:
            return gsm7_decode(payload)
        except ValueError:
            return payload.decode("latin-1")  # many ESMEs send Latin-1 under "SMSC default"
    if coding == 0x08 or 0x18 <= coding <= 0x1B:
        return payload.decode("utf-16-be", errors="replace")
    if coding == 0x01:
        return payload.decode("ascii", errors="replace")
    return payload.decode("latin-1")


def _sar(submit: SubmitSm) -> Concatenation | None:
    tlvs = submit.tlvs
    if TAG_SAR_MSG_REF_NUM in tlvs and TAG_SAR_TOTAL_SEGMENTS in tlvs and TAG_SAR_SEGMENT_SEQNUM in tlvs:
        return Concatenation(
            int.from_bytes(tlvs[TAG_SAR_MSG_REF_NUM], "big"),
            tlvs[TAG_SAR_TOTAL_SEGMENTS][0],
            tlvs[TAG_SAR_SEGMENT_SEQNUM][0],
        )
    return None


@dataclass
class _Partial:
    data_coding: int
    started: float
    parts: dict[int, bytes] = field(default_factory=dict)


@dataclass
class SmscStats:
    """Counters since the simulator started. ``messages`` maps destination → complete texts, in order."""

    binds: int = 0
    bind_refusals: int = 0
    submits: int = 0
    """Every submit_sm received, throttled and rejected ones included."""
    accepted: int = 0
    """Submits the SMSC took responsibility for (answered ESME_ROK, or taken and then cut off)."""
    throttled: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    """Status name → count of submits refused for any reason but throttling."""
    receipts_sent: int = 0
    mo_sent: int = 0
    disconnects: int = 0
    generic_nacks: int = 0
    enquire_links: int = 0
    messages: dict[str, list[str]] = field(default_factory=dict)
    _partials: dict[tuple[str, str, int, int], _Partial] = field(default_factory=dict, repr=False)

    @property
    def unique_destinations(self) -> int:
        return len(self.messages)

    @property
    def total_messages(self) -> int:
        return sum(len(texts) for texts in self.messages.values())

    @property
    def duplicates(self) -> int:
        """Complete messages that repeat an earlier (destination, text) pair."""
        return self.total_messages - sum(len(set(texts)) for texts in self.messages.values())

    @property
    def incomplete(self) -> int:
        """Concatenated messages still missing parts."""
        return len(self._partials)

    def record_accepted(self, submit: SubmitSm) -> None:
        """Count an accepted submit and, when it completes a message, decode and keep the message's text.

        Raises :class:`PduError` (before counting anything) for a user data header that cannot be read.
        """
        user_data = submit.payload
        concat = None
        if submit.esm_class & ESM_CLASS_UDHI:
            concat, user_data = split_udh(user_data)
        else:
            concat = _sar(submit)
        self.accepted += 1
        destination = submit.destination_addr
        if concat is None or concat.total <= 1:
            self._complete(destination, decode_user_data(user_data, submit.data_coding))
            return
        key = (submit.source_addr, destination, concat.reference, concat.total)
        now = time.monotonic()
        partial = self._partials.get(key)
        if partial is None:
            self._forget_stale(now)
            partial = self._partials[key] = _Partial(submit.data_coding, now)
        partial.parts[concat.sequence] = user_data
        if len(partial.parts) == concat.total and all(n in partial.parts for n in range(1, concat.total + 1)):
            del self._partials[key]
            whole = b"".join(partial.parts[n] for n in range(1, concat.total + 1))
            self._complete(destination, decode_user_data(whole, partial.data_coding))

    def _complete(self, destination: str, text: str) -> None:
        self.messages.setdefault(destination, []).append(text)

    def _forget_stale(self, now: float) -> None:
        stale = [key for key, partial in self._partials.items() if now - partial.started > PARTIAL_TTL]
        for key in stale:
            del self._partials[key]

    def to_dict(self, *, with_messages: bool = False) -> dict[str, Any]:
        """Plain figures for JSON (``GET /stats``); the texts only on request, as they can be many."""
        figures: dict[str, Any] = {
            "binds": self.binds,
            "bind_refusals": self.bind_refusals,
            "submits": self.submits,
            "accepted": self.accepted,
            "throttled": self.throttled,
            "rejected": dict(self.rejected),
            "receipts_sent": self.receipts_sent,
            "mo_sent": self.mo_sent,
            "disconnects": self.disconnects,
            "generic_nacks": self.generic_nacks,
            "enquire_links": self.enquire_links,
            "messages": self.total_messages,
            "unique_destinations": self.unique_destinations,
            "duplicates": self.duplicates,
            "incomplete": self.incomplete,
        }
        if with_messages:
            figures["texts"] = {destination: list(texts) for destination, texts in self.messages.items()}
        return figures
