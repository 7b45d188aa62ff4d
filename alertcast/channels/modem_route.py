"""``type = "modem"`` routes: a bank of GSM modems from a ``[[routes]]`` table.

Every key of :meth:`ModemBankConfig.from_mapping` is accepted (ports or glob patterns, mode, rates, status
reports…); the SIM PIN is a secret reference (``sim_pin = { env = "SIM_PIN" }``), read when the route is
built and never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertcast.channels.modem_bank import ModemBank
from alertcast.channels.modem_config import ModemBankConfig, ModemConfigError
from alertcast.config import ConfigError, parse_secret


def modem_channel(name: str, settings: Mapping[str, Any]) -> ModemBank:
    """The modem bank for one ``type = "modem"`` route; errors name the route and the key."""
    where = f"routes.{name}"
    table = dict(settings)
    secret = table.pop("sim_pin", None)
    pin = parse_secret(secret, f"{where}.sim_pin").resolve() if secret is not None else None
    try:
        return ModemBank(name, ModemBankConfig.from_mapping(table, where=where, sim_pin=pin))
    except ModemConfigError as exc:
        raise ConfigError(str(exc)) from exc
