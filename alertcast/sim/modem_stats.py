"""What the simulated modems saw: every submitted part decoded, messages reassembled, duplicates counted.

The simulator decodes each PDU it is handed with :mod:`alertcast.core.pdu` rather than trusting the client,
so a test that reads these figures proves the bytes on the wire were right, not merely that a send call
returned. Reassembly uses the concatenation header the client wrote, which checks the references and part
numbers too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from alertcast.core.pdu import DecodedSubmit, reassemble_text


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A whole message as the network would deliver it: all parts joined."""

    modem: int
    number: str
    text: str
    parts: int
    encoding: str
    status_report_requested: bool


@dataclass
class ModemStats:
    """Counters for one simulated modem. Mutated on the simulator's thread only; read through snapshots."""

    modem: int
    parts_sent: int = 0
    """SMS-SUBMITs accepted (``+CMGS: <mr>`` answered)."""
    send_errors: int = 0
    """Sends answered with ``+CMS ERROR`` (injected, no network, bad PDU)."""
    bad_pdus: int = 0
    """PDUs that did not decode or whose length disagreed with ``AT+CMGS=<len>``."""
    cancelled: int = 0
    """Sends cancelled with ESC."""
    status_reports: int = 0
    inbound_injected: int = 0
    storage_overflow: int = 0
    messages: list[ReceivedMessage] = field(default_factory=list)
    _pending_parts: dict[tuple[str, int, int], dict[int, DecodedSubmit]] = field(default_factory=dict)

    def record_submit(self, submit: DecodedSubmit) -> None:
        """Count a part; once every part of a concatenated message is in, record the whole message."""
        self.parts_sent += 1
        concat = submit.concat
        if concat is None or concat.total == 1:
            self._record_message(submit.number, submit.text, 1, submit)
            return
        key = (submit.number, concat.reference, concat.total)
        parts = self._pending_parts.setdefault(key, {})
        parts[concat.sequence] = submit
        if len(parts) == concat.total:
            del self._pending_parts[key]
            self._record_message(submit.number, reassemble_text(parts.values()), concat.total, submit)

    def _record_message(self, number: str, text: str, parts: int, submit: DecodedSubmit) -> None:
        self.messages.append(
            ReceivedMessage(
                modem=self.modem,
                number=number,
                text=text,
                parts=parts,
                encoding=submit.alphabet,
                status_report_requested=submit.status_report_requested,
            )
        )

    def record_text_submit(self, number: str, text: str, status_report: bool) -> None:
        self.parts_sent += 1
        self.messages.append(
            ReceivedMessage(
                modem=self.modem,
                number=number,
                text=text,
                parts=1,
                encoding="text",
                status_report_requested=status_report,
            )
        )

    def snapshot(self) -> ModemStatsSnapshot:
        return ModemStatsSnapshot(
            modems=(self.modem,),
            parts_sent=self.parts_sent,
            send_errors=self.send_errors,
            bad_pdus=self.bad_pdus,
            cancelled=self.cancelled,
            status_reports=self.status_reports,
            inbound_injected=self.inbound_injected,
            storage_overflow=self.storage_overflow,
            incomplete_messages=len(self._pending_parts),
            messages=tuple(self.messages),
        )


@dataclass(frozen=True, slots=True)
class ModemStatsSnapshot:
    """A consistent copy of one modem's or the whole bank's counters."""

    modems: tuple[int, ...]
    parts_sent: int
    send_errors: int
    bad_pdus: int
    cancelled: int
    status_reports: int
    inbound_injected: int
    storage_overflow: int
    incomplete_messages: int
    """Concatenated messages of which some parts never arrived."""
    messages: tuple[ReceivedMessage, ...]

    @property
    def sent(self) -> int:
        """Whole messages sent (a concatenated message counts once)."""
        return len(self.messages)

    @property
    def destinations(self) -> set[str]:
        return {message.number for message in self.messages}

    @property
    def duplicates(self) -> int:
        """Messages that reached a number with the same text more than once."""
        counts = Counter((message.number, message.text) for message in self.messages)
        return sum(count - 1 for count in counts.values())

    @staticmethod
    def combine(snapshots: list[ModemStatsSnapshot]) -> ModemStatsSnapshot:
        return ModemStatsSnapshot(
            modems=tuple(modem for snap in snapshots for modem in snap.modems),
            parts_sent=sum(snap.parts_sent for snap in snapshots),
            send_errors=sum(snap.send_errors for snap in snapshots),
            bad_pdus=sum(snap.bad_pdus for snap in snapshots),
            cancelled=sum(snap.cancelled for snap in snapshots),
            status_reports=sum(snap.status_reports for snap in snapshots),
            inbound_injected=sum(snap.inbound_injected for snap in snapshots),
            storage_overflow=sum(snap.storage_overflow for snap in snapshots),
            incomplete_messages=sum(snap.incomplete_messages for snap in snapshots),
            messages=tuple(message for snap in snapshots for message in snap.messages),
        )
