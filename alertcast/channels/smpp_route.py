"""``type = "smpp"`` routes: building an :class:`SmppChannel` from a ``[[routes]]`` table.

One route is one operator (or one account): its binds share the load. ``binds = 2`` opens two binds with
the same settings; ``[[routes.binds]]`` tables give each bind its own host, account or mode, every other
key being inherited from the route. The password is a secret reference (``{ env = "NAME" }`` or
``{ file = "PATH" }``), read when the route is built and never logged.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from alertcast.channels.smpp import SmppChannel
from alertcast.channels.smpp_config import SmppBindConfig
from alertcast.config import ConfigError, parse_secret

_BIND_KEYS = {f.name for f in fields(SmppBindConfig)} - {"ssl_context"}
_ROUTE_KEYS = _BIND_KEYS | {"binds", "tls", "tls_ca_file", "tls_verify", "receipt_hold"}
_INTEGER_KEYS = {"port", "window", "default_data_coding", "source_addr_ton", "source_addr_npi"}
_FLOAT_KEYS = {
    "max_rate", "burst", "enquire_link_interval", "response_timeout", "connect_timeout",
    "reconnect_initial", "reconnect_max", "auth_retry_interval", "stop_grace",
}  # fmt: skip


def _tls(settings: Mapping[str, Any]) -> ssl.SSLContext | None:
    if not settings.get("tls", False):
        return None
    context = ssl.create_default_context(cafile=settings.get("tls_ca_file") or None)
    if settings.get("tls_verify", True) is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _bind(settings: Mapping[str, Any], where: str) -> SmppBindConfig:
    unknown = sorted(set(settings) - _ROUTE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) for an SMPP route: {', '.join(unknown)}")
    for key in ("host", "port", "system_id"):
        if key not in settings:
            raise ConfigError(f"{where}.{key}: required for an SMPP route")
    values: dict[str, Any] = {}
    for key in _BIND_KEYS & set(settings):
        value = settings[key]
        if key == "password":
            value = parse_secret(value, f"{where}.password").resolve()
        elif key in _INTEGER_KEYS and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}.{key}: expected an integer, got {value!r}")
        elif key in _FLOAT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
            value = float(value)
        values[key] = value
    values.setdefault("password", "")
    try:
        return SmppBindConfig(**values, ssl_context=_tls(settings))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def smpp_channel(name: str, settings: Mapping[str, Any]) -> SmppChannel:
    """The channel for one ``type = "smpp"`` route; errors name the route and the key."""
    where = f"routes.{name}"
    base = {k: v for k, v in settings.items() if k != "binds"}
    binds = settings.get("binds", 1)
    if isinstance(binds, bool) or not isinstance(binds, int | list):
        raise ConfigError(f"{where}.binds: expected a number of binds or a list of [[routes.binds]] tables")
    if isinstance(binds, int):
        if not 1 <= binds <= 32:
            raise ConfigError(f"{where}.binds: expected 1..32 binds, got {binds}")
        configs = [_bind(base, where)] * binds
    else:
        if not binds:
            raise ConfigError(f"{where}.binds: the list of binds is empty")
        configs = []
        for i, entry in enumerate(binds):
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{where}.binds[{i}]: expected a table")
            configs.append(_bind({**base, **entry}, f"{where}.binds[{i}]"))
    hold = settings.get("receipt_hold", 10.0)
    return SmppChannel(name, configs, receipt_hold=float(hold))
