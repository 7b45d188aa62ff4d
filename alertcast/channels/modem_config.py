"""Settings of a modem bank, read from the ``[channels.modems]`` table with errors that name the key.

The SIM PIN is not read here: it is a secret, resolved by the caller (environment or file reference) and
passed in, so it never sits in the configuration file or in a log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal


class ModemConfigError(ValueError):
    """A wrong value in the modem bank's configuration; the message names the key."""


@dataclass(frozen=True, slots=True)
class ModemConfig:
    """How every modem of a bank is driven. Times are seconds."""

    baud: int = 115200
    sim_pin: str | None = field(default=None, repr=False)
    mode: Literal["pdu", "text"] = "pdu"
    """PDU mode (default) sends UCS-2 and concatenated messages; text mode one GSM 7-bit SMS only."""
    rate_per_minute: float = 0.0
    """Most SMS parts one modem sends a minute (0: as fast as the modem answers)."""
    smsc: str | None = None
    """Service centre number set with AT+CSCA; None keeps the one stored on the SIM."""
    status_reports: bool = True
    validity_minutes: int | None = None
    """Validity asked of the network; a message's own expiry shortens it. None: the network's default."""
    cnmi: str = "2,1,0,1,0"
    """AT+CNMI parameters: new messages as +CMTI, status reports as +CDS."""
    transliterate: bool = False
    """Replace characters that have a faithful GSM 7-bit stand-in instead of sending UCS-2."""
    command_timeout: float = 10.0
    prompt_timeout: float = 10.0
    send_timeout: float = 60.0
    """How long to wait for +CMGS after Ctrl-Z; real modems can take close to a minute."""
    registration_timeout: float = 60.0
    """How long initialisation waits for network registration before reporting the modem down."""
    health_interval: float = 30.0
    """Idle time between health checks (AT+CREG?, AT+CSQ)."""
    reopen_interval: float = 2.0
    """How often a vanished port is looked for, and an unregistered modem re-checked."""
    fault_cooldown: float = 60.0
    """How long a modem stays out after a fault of its own (no network, SIM), doubling up to 15 min."""
    part_retries: int = 2
    """Temporary failures of the second and later parts of a message are retried in place this often, so
    the recipient still gets a whole message."""
    part_retry_delay: float = 2.0
    stop_grace: float = 5.0
    """On stop, how long a send already past Ctrl-Z may still wait for its answer."""
    inbound_part_timeout: float = 600.0
    """How long parts of a concatenated reply wait for the missing ones before being passed on as they are."""


@dataclass(frozen=True, slots=True)
class ModemBankConfig:
    """A bank: which ports, how each modem is driven, and how much work each modem holds."""

    ports: tuple[str, ...]
    """Port paths or glob patterns (``/dev/serial/by-id/usb-*``); globs are re-read to find new modems."""
    modem: ModemConfig = field(default_factory=ModemConfig)
    queue_per_modem: int = 2
    """Messages one modem holds: the one being sent and the next, so it never waits for a hand-off."""
    rescan_interval: float = 5.0
    start_timeout: float | None = None
    """How long ``start`` waits for every modem's first state (default: registration timeout + 30 s)."""

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, where: str = "[channels.modems]", sim_pin: str | None = None
    ) -> ModemBankConfig:
        """Build from a TOML table; unknown keys and wrong types are errors that name ``where.key``."""
        bank_keys = {"ports", "queue_per_modem", "rescan_interval", "start_timeout"}
        modem_fields = {f.name: f for f in fields(ModemConfig) if f.name != "sim_pin"}
        unknown = sorted(set(data) - bank_keys - set(modem_fields))
        if unknown:
            known = ", ".join(sorted(bank_keys | set(modem_fields)))
            raise ModemConfigError(f"{where}: unknown key {unknown[0]!r} (known keys: {known})")
        ports = data.get("ports")
        if isinstance(ports, str):
            ports = [ports]
        if not isinstance(ports, list) or not ports or not all(isinstance(p, str) and p for p in ports):
            raise ModemConfigError(
                f"{where}.ports: expected a list of port paths or glob patterns, got {ports!r}"
            )
        modem_values: dict[str, Any] = {}
        for name, spec in modem_fields.items():
            if name in data:
                modem_values[name] = _check(where, name, data[name], spec.default)
        if modem_values.get("mode", "pdu") not in ("pdu", "text"):
            raise ModemConfigError(f'{where}.mode: expected "pdu" or "text", got {modem_values["mode"]!r}')
        if sim_pin and not (sim_pin.isascii() and sim_pin.isdigit() and 4 <= len(sim_pin) <= 8):
            raise ModemConfigError(f"{where}: the SIM PIN must be 4 to 8 digits")
        modem = dataclasses.replace(ModemConfig(), sim_pin=sim_pin or None, **modem_values)
        _validate(where, modem)
        queue = _check(where, "queue_per_modem", data.get("queue_per_modem", 2), 2)
        if not 1 <= queue <= 10:
            raise ModemConfigError(f"{where}.queue_per_modem: expected 1..10, got {queue}")
        return cls(
            ports=tuple(ports),
            modem=modem,
            queue_per_modem=queue,
            rescan_interval=_check(where, "rescan_interval", data.get("rescan_interval", 5.0), 5.0),
            start_timeout=_check(where, "start_timeout", data.get("start_timeout"), 1.0)
            if data.get("start_timeout") is not None
            else None,
        )


_OPTIONAL_KINDS: dict[str, type] = {"smsc": str, "validity_minutes": int, "start_timeout": float}


def _check(where: str, name: str, value: Any, default: Any) -> Any:
    """``value`` when it has the kind of ``default`` (ints accepted for floats); else a clear error."""
    kind = _OPTIONAL_KINDS.get(name, type(default))
    accepted: tuple[type, ...] = (int, float) if kind is float else (kind,)
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, accepted):
        raise ModemConfigError(f"{where}.{name}: expected {kind.__name__}, got {value!r}")
    return float(value) if kind is float else value


def _validate(where: str, modem: ModemConfig) -> None:
    positive = ("command_timeout", "prompt_timeout", "send_timeout", "reopen_interval", "health_interval")
    for name in positive:
        if getattr(modem, name) <= 0:
            raise ModemConfigError(f"{where}.{name}: must be greater than 0, got {getattr(modem, name)}")
    if modem.rate_per_minute < 0:
        raise ModemConfigError(
            f"{where}.rate_per_minute: must be 0 (unlimited) or more, got {modem.rate_per_minute}"
        )
    if modem.validity_minutes is not None and modem.validity_minutes <= 0:
        raise ModemConfigError(f"{where}.validity_minutes: must be a positive number of minutes")
    cnmi = modem.cnmi.split(",")
    if not 1 <= len(cnmi) <= 5 or not all(part.strip().isdigit() for part in cnmi if part.strip()):
        raise ModemConfigError(
            f'{where}.cnmi: expected up to five numbers like "2,1,0,1,0", got {modem.cnmi!r}'
        )
    if modem.smsc is not None:
        digits = modem.smsc[1:] if modem.smsc.startswith("+") else modem.smsc
        if not digits.isdigit():
            raise ModemConfigError(
                f'{where}.smsc: expected a phone number like "+447785016005", got {modem.smsc!r}'
            )
