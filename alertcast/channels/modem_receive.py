"""Reading what the modem stored: replies (``+CMTI``) and status reports kept in storage (``+CDSI``).

A ``+CMTI: "SM",<index>`` only announces a message; reading it is a command, and commands cannot run in
the middle of another exchange, so announcements are queued and read when the modem is between sends.
Storage is read in PDU mode even when the bank sends in text mode (PDU mode is the baseline every modem
has, and only it shows concatenation headers and UCS-2 reliably). A message is deleted from the SIM only
after it has been handed on; a concatenated reply stays stored until all its parts are in. At every start,
``AT+CMGL=4`` picks up what arrived while nobody was listening.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from alertcast.channels.base import InboundMessage
from alertcast.channels.modem_config import ModemConfig
from alertcast.channels.modem_inbound import (
    InboundAssembler,
    InboundText,
    StatusReport,
    parse_direct_deliver,
    parse_listing,
    stored_pdu_kind,
)
from alertcast.channels.modem_link import AtCommandError, AtLink, Unsolicited
from alertcast.core.pdu import decode_deliver_pdu, decode_status_report_pdu

log = logging.getLogger(__name__)


class MessageReader:
    """Queues announcements, reads and deletes stored messages, and hands on whole replies."""

    def __init__(
        self,
        assembler: InboundAssembler,
        config: ModemConfig,
        on_inbound: Callable[[list[InboundMessage]], None],
        on_report: Callable[[StatusReport], None],
    ) -> None:
        self._assembler = assembler
        self._config = config
        self._on_inbound = on_inbound
        self._on_report = on_report
        self._pending: list[int] = []

    def announced(self, line: str) -> None:
        """``+CMTI: "SM",3`` or ``+CDSI: "SM",3``: remember the index for the next quiet moment."""
        index = line.rpartition(",")[2].strip()
        if not index.isdigit():
            raise ValueError(f"no storage index in {line!r}")
        self._pending.append(int(index))

    def direct(self, urc: Unsolicited) -> None:
        """``+CMT``: a reply routed straight to us, nothing stored."""
        decoded = parse_direct_deliver(urc)
        if isinstance(decoded, InboundText):
            channel = self._assembler.channel
            self._on_inbound([InboundMessage(channel, decoded.sender, decoded.text, decoded.timestamp)])
            return
        done = self._assembler.add(decoded, None, time.monotonic())
        if done is not None:
            self._on_inbound([done[0]])

    def process(self, link: AtLink) -> None:
        """Read announced messages and pass on replies whose missing parts never came."""
        for message, indices in self._assembler.expired(time.monotonic()):
            self._on_inbound([message])
            self._delete(link, indices)
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        with self._pdu_mode(link):
            for index in pending:
                try:
                    lines = link.command(
                        f"AT+CMGR={index}", expect="+CMGR:", timeout=self._config.command_timeout
                    )
                except AtCommandError:
                    continue  # already read and deleted (a listing at start got it first)
                for _, length, pdu_hex in parse_listing(lines):
                    self._handle(link, index, length, pdu_hex)

    def pick_up_stored(self, link: AtLink) -> None:
        """Read everything in storage (at start: replies that came while the modem was not watched)."""
        with self._pdu_mode(link):
            try:
                lines = link.command("AT+CMGL=4", expect="+CMGL:", timeout=self._config.command_timeout)
            except AtCommandError as error:
                log.warning("could not list stored messages: %s", error)
                return
            for index, length, pdu_hex in parse_listing(lines):
                if index is not None:
                    self._handle(link, index, length, pdu_hex)

    def _handle(self, link: AtLink, index: int, length: int, pdu_hex: str) -> None:
        try:
            kind = stored_pdu_kind(pdu_hex, length)
            if kind == "deliver":
                done = self._assembler.add(
                    decode_deliver_pdu(pdu_hex, tpdu_length=length), index, time.monotonic()
                )
                if done is not None:
                    self._on_inbound([done[0]])
                    self._delete(link, done[1])
                return
            if kind == "report":
                decoded = decode_status_report_pdu(pdu_hex, tpdu_length=length)
                self._on_report(
                    StatusReport(decoded.message_reference, decoded.recipient, decoded.status, decoded.state)
                )
                self._delete(link, [index])
                return
        except ValueError as error:
            # Kept in the log so nothing is silently lost, then removed so it cannot fill the SIM.
            log.warning("stored message %d is unreadable (%s); deleted. PDU: %s", index, error, pdu_hex)
            self._delete(link, [index])
        # Other kinds (drafts, sent copies) belong to someone else: left alone.

    def _delete(self, link: AtLink, indices: list[int]) -> None:
        for index in dict.fromkeys(indices):
            try:
                link.command(f"AT+CMGD={index}", timeout=self._config.command_timeout)
            except AtCommandError as error:
                log.warning("could not delete stored message %d: %s", index, error)

    def _pdu_mode(self, link: AtLink) -> _PduMode:
        return _PduMode(link, self._config)


class _PduMode:
    """Switch a text-mode modem to PDU mode for reading, and back."""

    def __init__(self, link: AtLink, config: ModemConfig) -> None:
        self._link = link
        self._config = config

    def __enter__(self) -> None:
        if self._config.mode == "text":
            self._link.command("AT+CMGF=0", timeout=self._config.command_timeout)

    def __exit__(self, *exc: object) -> None:
        if self._config.mode == "text" and exc[0] is None:
            self._link.command("AT+CMGF=1", timeout=self._config.command_timeout)
