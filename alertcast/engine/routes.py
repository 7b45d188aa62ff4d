"""Route types: which channel class a ``[[routes]]`` entry builds.

A factory takes the route's name and the rest of its table (keys the engine does not use itself) and
returns a :class:`Channel`. Built-in types are named by import path, so a transport's library (smpplib,
pyserial, apprise) is only imported when a route of that type is configured. A new transport adds one line
to ``_BUILTIN``, or calls :func:`register_route_type` at run time (plugins, tests).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from alertcast.channels.base import Channel
from alertcast.channels.drill import DrillChannel, DrillFaults
from alertcast.config import ConfigError
from alertcast.engine.config import RouteSettings

ChannelFactory = Callable[[str, Mapping[str, Any]], Channel]

_BUILTIN: dict[str, str] = {
    "drill": "alertcast.engine.routes:drill_channel",
    "smpp": "alertcast.channels.smpp_route:smpp_channel",
    "modem": "alertcast.channels.modem_route:modem_channel",
    "apprise": "alertcast.channels.apprise_route:apprise_channel",
}
_REGISTERED: dict[str, ChannelFactory] = {}


def register_route_type(type_name: str, factory: ChannelFactory) -> None:
    """Make ``type = "<type_name>"`` build channels with ``factory(name, settings)``."""
    _REGISTERED[type_name] = factory


def route_types() -> list[str]:
    return sorted({*_BUILTIN, *_REGISTERED})


def _factory(type_name: str, where: str) -> ChannelFactory:
    if type_name in _REGISTERED:
        return _REGISTERED[type_name]
    target = _BUILTIN.get(type_name)
    if target is None:
        raise ConfigError(
            f"{where}.type: unknown route type {type_name!r} (known: {', '.join(route_types())})"
        )
    module_name, _, attribute = target.partition(":")
    try:
        factory: ChannelFactory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{where}.type: route type {type_name!r} is not available: {exc}") from exc
    return factory


def build_channel(route: RouteSettings) -> Channel:
    """The channel for one configured route, with the route's drill permission applied."""
    where = f"routes.{route.name}"
    factory = _factory(route.type, where)
    try:
        channel = factory(route.name, route.settings)
    except (ConfigError, TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    channel.drill_route = route.drill
    return channel


def _get(settings: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = settings.get(key, default)
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ConfigError(f"{key}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def drill_channel(name: str, settings: Mapping[str, Any]) -> Channel:
    """``type = "drill"``: records instead of sending. Keys: latency, window, retry_fraction,
    fail_fraction, fail_prefixes, record_path (JSON lines of what was 'sent')."""
    known = {"latency", "window", "retry_fraction", "fail_fraction", "fail_prefixes", "record_path"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) for a drill route: {', '.join(unknown)}")
    number = (int, float)
    record = _get(settings, "record_path", str, "")
    prefixes = _get(settings, "fail_prefixes", list, [])
    return DrillChannel(
        name,
        latency=float(_get(settings, "latency", number, 0.0)),
        window=int(_get(settings, "window", int, 1000)),
        faults=DrillFaults(
            retry_fraction=float(_get(settings, "retry_fraction", number, 0.0)),
            fail_fraction=float(_get(settings, "fail_fraction", number, 0.0)),
            fail_prefixes=tuple(str(p) for p in prefixes),
        ),
        record_path=Path(record).expanduser() if record else None,
    )
