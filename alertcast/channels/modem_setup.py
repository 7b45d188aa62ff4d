"""Bringing a modem into service the way a careful operator would, and checking it stays well.

Order: get the modem's attention (ESC ends a ``> `` prompt left by a previous session), echo off, numeric
error codes, identity, SIM (entering the PIN once), message format and notifications, SMSC, then network
registration. The PIN is never entered twice after a refusal: three wrong PINs lock the SIM until someone
types its PUK, and an unattended bank retrying every few seconds would do exactly that.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from alertcast.channels.modem_config import ModemConfig
from alertcast.channels.modem_link import ESC, AtCommandError, AtLink, AtTimeout
from alertcast.core.pdu_fields import relative_validity_octet

REGISTERED = (1, 5)
"""+CREG status: 1 registered on the home network, 5 registered roaming."""
_REGISTRATION_WORDS = {
    0: "not registered, not searching",
    1: "registered (home)",
    2: "not registered, searching",
    3: "registration denied",
    4: "unknown",
    5: "registered (roaming)",
}
_SIM_READY_WAIT = 10.0


class SetupFailed(Exception):
    """The modem cannot be used now; ``reason`` says why in words an operator can act on."""

    def __init__(self, reason: str, *, retry_after: float, pin_refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.pin_refused = pin_refused


def registration_words(status: int) -> str:
    return f"+CREG status {status}: {_REGISTRATION_WORDS.get(status, 'unknown')}"


def synchronise(link: AtLink, config: ModemConfig) -> None:
    """Get an ``OK`` to a bare ``AT``; a modem that never answers is reported as not answering."""
    link.write(ESC)
    link.drain()
    for attempt in range(3):
        try:
            link.command("AT", timeout=min(config.command_timeout, 2.0 + attempt))
            return
        except (AtTimeout, AtCommandError):
            continue
    raise AtTimeout("no OK to AT after three tries")


def initialise(link: AtLink, config: ModemConfig, *, pin_refused_before: bool) -> str:
    """Run the initialisation sequence up to (not including) registration; returns the IMEI or ""."""
    synchronise(link, config)
    timeout = config.command_timeout
    link.command("ATE0", timeout=timeout)
    link.command("AT+CMEE=1", timeout=timeout)
    imei = ""
    try:
        lines = link.command("AT+CGSN", expect=("+CGSN", *"0123456789"), timeout=timeout)
        imei = "".join(char for char in "".join(lines) if char.isdigit())
    except AtCommandError:
        pass
    _unlock_sim(link, config, pin_refused_before)
    link.command(f"AT+CMGF={0 if config.mode == 'pdu' else 1}", timeout=timeout)
    if config.mode == "text":
        link.command('AT+CSCS="GSM"', timeout=timeout)
        first_octet = 0x31 if config.status_reports else 0x11  # SMS-SUBMIT, relative validity (+ report)
        validity = (
            167 if config.validity_minutes is None else relative_validity_octet(config.validity_minutes)
        )
        link.command(f"AT+CSMP={first_octet},{validity},0,0", timeout=timeout)
    try:
        link.command(f"AT+CNMI={config.cnmi}", timeout=timeout)
    except AtCommandError as error:
        # Without notifications replies still arrive (picked up from storage at the next start); say so.
        raise SetupFailed(
            f"AT+CNMI={config.cnmi} refused ({error.error.reason}); set cnmi to a value this modem supports",
            retry_after=max(config.reopen_interval, 30.0),
        ) from None
    if config.smsc:
        type_of_address = 145 if config.smsc.startswith("+") else 129
        link.command(f'AT+CSCA="{config.smsc}",{type_of_address}', timeout=timeout)
    return imei


def _sim_state(link: AtLink, config: ModemConfig) -> str:
    try:
        lines = link.command("AT+CPIN?", expect="+CPIN:", timeout=config.command_timeout)
    except AtCommandError as error:
        raise SetupFailed(
            f"SIM check (AT+CPIN?) failed: {error.error.reason}",
            retry_after=max(config.reopen_interval, 30.0),
        ) from None
    if not lines:
        raise SetupFailed(
            "SIM check (AT+CPIN?) gave no +CPIN line", retry_after=max(config.reopen_interval, 30.0)
        )
    return lines[0].partition(":")[2].strip().upper()


def _unlock_sim(link: AtLink, config: ModemConfig, pin_refused_before: bool) -> None:
    slow = max(config.reopen_interval, 30.0)
    state = _sim_state(link, config)
    if state == "READY":
        return
    if state == "SIM PUK":
        raise SetupFailed("SIM is locked and needs its PUK; unlock it in a phone", retry_after=slow)
    if state != "SIM PIN":
        raise SetupFailed(f"SIM not ready (+CPIN: {state})", retry_after=slow)
    if not config.sim_pin:
        raise SetupFailed("SIM asks for its PIN and no sim_pin is configured", retry_after=slow)
    if not (config.sim_pin.isascii() and config.sim_pin.isdigit() and 4 <= len(config.sim_pin) <= 8):
        raise SetupFailed("sim_pin must be 4 to 8 digits; not entered", retry_after=slow)
    if pin_refused_before:
        raise SetupFailed(
            "SIM PIN was refused before and is not entered again, so the SIM does not lock; "
            "check sim_pin and restart the channel",
            retry_after=slow,
            pin_refused=True,
        )
    try:
        link.command(f'AT+CPIN="{config.sim_pin}"', timeout=config.command_timeout)
    except AtCommandError as error:
        refused = error.error.code == 16
        raise SetupFailed(
            f"SIM PIN refused ({error.error.reason})"
            + ("; not entered again, so the SIM does not lock" if refused else ""),
            retry_after=slow,
            pin_refused=refused,
        ) from None
    deadline = time.monotonic() + _SIM_READY_WAIT
    while _sim_state(link, config) != "READY":
        if time.monotonic() > deadline:
            raise SetupFailed("SIM accepted its PIN but did not become ready", retry_after=slow)
        time.sleep(0.2)


def registration_status(link: AtLink, config: ModemConfig) -> int:
    lines = link.command("AT+CREG?", expect="+CREG:", timeout=config.command_timeout)
    if not lines:
        return 4
    fields = lines[0].partition(":")[2].split(",")
    value = fields[1] if len(fields) >= 2 else fields[0]
    return int(value) if value.strip().isdigit() else 4


def signal_quality(link: AtLink, config: ModemConfig) -> int:
    """RSSI 0–31, or 99 when unknown."""
    lines = link.command("AT+CSQ", expect="+CSQ:", timeout=config.command_timeout)
    if not lines:
        return 99
    value = lines[0].partition(":")[2].split(",")[0].strip()
    return int(value) if value.isdigit() else 99


def wait_for_registration(
    link: AtLink,
    config: ModemConfig,
    deadline: float,
    pump: Callable[[float], None],
    stopping: Callable[[], bool],
) -> int:
    """Poll registration until registered, ``deadline`` or stop; returns the last status."""
    while True:
        status = registration_status(link, config)
        if status in REGISTERED or time.monotonic() >= deadline or stopping():
            return status
        pump(min(1.0, max(0.0, deadline - time.monotonic())))
