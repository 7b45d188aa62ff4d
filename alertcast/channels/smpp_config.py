"""Settings of one SMPP bind, checked when built so a typo fails at start-up with the field's name, not on the
wire as a refused bind or a silently truncated password."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Literal

BindMode = Literal["transceiver", "transmitter+receiver"]


@dataclass(frozen=True)
class SmppBindConfig:
    """One bind (one account on one SMSC). A route with several binds lists several of these.

    The password is passed in by the configuration layer (from the environment or a file reference) and is
    never shown in ``repr`` or logs.
    """

    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    system_type: str = ""
    mode: BindMode = "transceiver"
    """One connection carrying both directions, or a transmitter and a receiver connection."""
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    """TLS when set; the certificate is checked against ``host``."""
    source_addr: str = ""
    """Sender shown on phones: ``+E.164`` number, short code, or up to 11 letters/digits."""
    source_addr_ton: int | None = None
    """None derives it: 1 for international numbers, 3 for short codes, 5 for alphanumeric senders."""
    source_addr_npi: int | None = None
    default_data_coding: int = 0x00
    """data_coding for GSM 7-bit texts: 0x00 (SMSC default alphabet) or 0xF0 (GSM 7-bit, message class 0:
    a "flash" SMS shown at once). UCS-2 texts go as 0x08, or 0x18 (UCS-2, class 0) alongside 0xF0."""
    transliterate: bool = False
    """Replace characters that have a faithful GSM 7-bit stand-in rather than switching a text to UCS-2."""
    window: int = 50
    """submit_sm PDUs outstanding (sent, unanswered) at most."""
    max_rate: float = 100.0
    """submit_sm per second at most: the rate bought from the operator."""
    burst: float | None = None
    """Token bucket size; default a twentieth of a second's worth (at least 1)."""
    enquire_link_interval: float = 30.0
    response_timeout: float = 30.0
    """A submit_sm or enquire_link unanswered this long means the link is dead: reconnect."""
    connect_timeout: float = 10.0
    reconnect_initial: float = 0.1
    reconnect_max: float = 5.0
    auth_retry_interval: float = 60.0
    """Retry interval after a bind refused for its credentials (a configuration fault, not a network one)."""
    stop_grace: float = 2.0
    """On stop, seconds to wait for responses to submits already sent before reporting them REQUEUE."""

    def __post_init__(self) -> None:
        problems = []
        if not self.host:
            problems.append("host is empty")
        if not 0 < self.port < 65536:
            problems.append(f"port {self.port} is not 1..65535")
        if not 0 < len(self.system_id) <= 15:
            problems.append(f"system_id must be 1..15 characters (SMPP 3.4), got {len(self.system_id)}")
        if len(self.password) > 8:
            problems.append(f"password must be at most 8 characters (SMPP 3.4), got {len(self.password)}")
        if len(self.system_type) > 12:
            problems.append(f"system_type must be at most 12 characters, got {len(self.system_type)}")
        if self.mode not in ("transceiver", "transmitter+receiver"):
            problems.append(f"mode must be 'transceiver' or 'transmitter+receiver', got {self.mode!r}")
        source = self.source_addr.removeprefix("+")
        if not source.isascii() or (source and not source.isdigit() and len(source) > 11):
            problems.append(
                f"source_addr {self.source_addr!r}: alphanumeric senders are at most 11 ASCII chars"
            )
        if len(source) > 20:
            problems.append(f"source_addr {self.source_addr!r} is longer than 20 digits")
        if self.default_data_coding not in (0x00, 0xF0):
            problems.append(
                f"default_data_coding must be 0x00 (default) or 0xF0 (flash), got 0x{self.default_data_coding:02X}"
            )
        if self.window < 1:
            problems.append(f"window must be at least 1, got {self.window}")
        if self.max_rate <= 0:
            problems.append(f"max_rate must be positive, got {self.max_rate}")
        for name in ("enquire_link_interval", "response_timeout", "connect_timeout", "reconnect_initial"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if self.reconnect_max < self.reconnect_initial:
            problems.append("reconnect_max must not be below reconnect_initial")
        if problems:
            raise ValueError(f"SMPP bind {self.label}: " + "; ".join(problems))

    @property
    def ucs2_data_coding(self) -> int:
        return 0x18 if self.default_data_coding == 0xF0 else 0x08

    @property
    def label(self) -> str:
        """How logs and route states name this bind: ``system_id@host:port``."""
        return f"{self.system_id}@{self.host}:{self.port}"
