"""The engine's settings: the ``[engine]`` table and the ``[[routes]]`` array of ``alertcast.toml``.

Every key is documented in ``docs/engine.md``. Errors name the file and the key, e.g.
``alertcast.toml: routes[2].rate: expected a number >= 0, got 'fast'``.

With no ``[[routes]]`` at all, the engine runs one drill sink that takes drill broadcasts of every kind
and nothing live: a fresh install never pretends to have sent a live SMS. Live broadcasts then stay
queued, and ``alertcast status`` says that no live route serves their kind.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alertcast.channels.base import ChannelKind
from alertcast.config import Config, ConfigError
from alertcast.store.outbox import RetryPolicy

KINDS = tuple(k.value for k in ChannelKind)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    owner: str = ""
    lease_seconds: float = 60.0
    batch_size: int = 500
    claim_horizon_seconds: float = 0.5
    max_attempts: int = 5
    backoff_base_seconds: float = 30.0
    backoff_cap_seconds: float = 900.0
    backoff_jitter: float = 0.5
    idle_poll_seconds: float = 0.05
    cancel_poll_seconds: float = 0.25
    flush_seconds: float = 0.02
    flush_max: int = 1000
    receipt_hold_seconds: float = 600.0
    failover_requeues: int = 5
    route_cooldown_seconds: float = 30.0
    housekeeping_seconds: float = 1.0
    progress_seconds: float = 0.5
    reclaim_dead_local: bool = True
    escalation_seconds: float = 2.0
    """How often the engine looks for fallback steps that are due (``[[fallback]]``)."""
    escalation_batch: int = 500
    """Deliveries the escalation sweep reads per transaction."""

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            base_seconds=self.backoff_base_seconds,
            cap_seconds=self.backoff_cap_seconds,
            jitter=self.backoff_jitter,
        )

    def owner_id(self) -> str:
        """This engine's lease owner name: ``host/pid/random`` unless configured.

        Host and pid let a restarted engine see that a previous owner on the same host is dead and take
        its deliveries back at once instead of waiting for the leases to run out.
        """
        return self.owner or f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class RouteSettings:
    name: str
    type: str
    kinds: tuple[str, ...]
    rate: float = 0.0
    """Messages (SMS segments, for SMS routes counting segments) per second; 0 means no limit."""
    burst: float = 0.0
    drill: bool = False
    """May carry drill broadcasts."""
    live: bool = True
    """May carry live broadcasts."""
    order: int = 0
    """Failover tier: lower first; a tier is used only when no route of a better tier is usable."""
    count_segments: bool = True
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Everything else in the route's table, for the channel's factory."""

    @property
    def effective_burst(self) -> float:
        return self.burst if self.burst > 0 else max(1.0, self.rate * 0.1)


DEFAULT_ROUTES = (
    RouteSettings(name="drill", type="drill", kinds=KINDS, drill=True, live=False, settings={}),
)

_ROUTE_KEYS = {"name", "type", "kind", "rate", "burst", "drill", "live", "order", "count_segments"}


def _number(raw: Mapping[str, Any], key: str, default: float, where: str, *, minimum: float = 0.0) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{where}.{key}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


def _integer(raw: Mapping[str, Any], key: str, default: int, where: str, *, minimum: int = 1) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}.{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def _flag(raw: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def parse_engine(raw: Mapping[str, Any], where: str = "engine") -> EngineSettings:
    known = set(EngineSettings.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    owner = raw.get("owner", "")
    if not isinstance(owner, str):
        raise ConfigError(f"{where}.owner: expected text, got {owner!r}")
    d = EngineSettings()
    settings = EngineSettings(
        owner=owner,
        lease_seconds=_number(raw, "lease_seconds", d.lease_seconds, where, minimum=1),
        batch_size=_integer(raw, "batch_size", d.batch_size, where),
        claim_horizon_seconds=_number(raw, "claim_horizon_seconds", d.claim_horizon_seconds, where),
        max_attempts=_integer(raw, "max_attempts", d.max_attempts, where),
        backoff_base_seconds=_number(raw, "backoff_base_seconds", d.backoff_base_seconds, where),
        backoff_cap_seconds=_number(raw, "backoff_cap_seconds", d.backoff_cap_seconds, where),
        backoff_jitter=_number(raw, "backoff_jitter", d.backoff_jitter, where),
        idle_poll_seconds=_number(raw, "idle_poll_seconds", d.idle_poll_seconds, where, minimum=0.001),
        cancel_poll_seconds=_number(raw, "cancel_poll_seconds", d.cancel_poll_seconds, where, minimum=0.01),
        flush_seconds=_number(raw, "flush_seconds", d.flush_seconds, where),
        flush_max=_integer(raw, "flush_max", d.flush_max, where),
        receipt_hold_seconds=_number(raw, "receipt_hold_seconds", d.receipt_hold_seconds, where),
        failover_requeues=_integer(raw, "failover_requeues", d.failover_requeues, where),
        route_cooldown_seconds=_number(raw, "route_cooldown_seconds", d.route_cooldown_seconds, where),
        housekeeping_seconds=_number(
            raw, "housekeeping_seconds", d.housekeeping_seconds, where, minimum=0.05
        ),
        progress_seconds=_number(raw, "progress_seconds", d.progress_seconds, where, minimum=0.05),
        reclaim_dead_local=_flag(raw, "reclaim_dead_local", d.reclaim_dead_local, where),
        escalation_seconds=_number(raw, "escalation_seconds", d.escalation_seconds, where, minimum=0.05),
        escalation_batch=_integer(raw, "escalation_batch", d.escalation_batch, where),
    )
    if settings.backoff_jitter > 1:
        raise ConfigError(f"{where}.backoff_jitter: expected a fraction between 0 and 1")
    if settings.cancel_poll_seconds > 0.5:
        raise ConfigError(
            f"{where}.cancel_poll_seconds: at most 0.5, so a cancel takes effect within a second"
        )
    return settings


def _kinds(raw: Mapping[str, Any], where: str) -> tuple[str, ...]:
    value = raw.get("kind", "sms")
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(k, str) for k in items):
        raise ConfigError(
            f"{where}.kind: expected one of {', '.join(KINDS)} or a list of them, got {value!r}"
        )
    bad = [k for k in items if k not in KINDS]
    if bad:
        raise ConfigError(f"{where}.kind: unknown kind {bad[0]!r} (known: {', '.join(KINDS)})")
    return tuple(dict.fromkeys(items))


def parse_route(raw: Mapping[str, Any], where: str) -> RouteSettings:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}.name: expected a short name (letters, digits, _ . : -), got {name!r}")
    kind_of = raw.get("type")
    if not isinstance(kind_of, str) or not kind_of:
        raise ConfigError(f"{where}.type: expected a route type such as 'drill', 'smpp' or 'modem'")
    is_sink = kind_of == "drill"
    rate = _number(raw, "rate", 0.0, where)
    return RouteSettings(
        name=name,
        type=kind_of,
        kinds=_kinds(raw, where),
        rate=rate,
        burst=_number(raw, "burst", 0.0, where),
        drill=_flag(raw, "drill", is_sink, where),
        live=_flag(raw, "live", not is_sink, where),
        order=_integer(raw, "order", 0, where, minimum=0),
        count_segments=_flag(raw, "count_segments", True, where),
        settings={k: v for k, v in raw.items() if k not in _ROUTE_KEYS},
    )


def parse_routes(raw: object, where: str = "routes") -> tuple[RouteSettings, ...]:
    if raw is None:
        return DEFAULT_ROUTES
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ConfigError(f"{where}: expected an array of tables ([[routes]])")
    routes = tuple(parse_route(item, f"{where}[{i}]") for i, item in enumerate(raw))
    seen: set[str] = set()
    for i, route in enumerate(routes):
        if route.name in seen:
            raise ConfigError(f"{where}[{i}].name: route {route.name!r} is defined twice")
        seen.add(route.name)
        if route.type == "drill" and not route.drill:
            raise ConfigError(f"{where}[{i}].drill: a drill sink always carries drills; remove drill = false")
        if not route.drill and not route.live:
            raise ConfigError(f"{where}[{i}]: route carries neither drill nor live broadcasts")
    return routes or DEFAULT_ROUTES


@dataclass(frozen=True, slots=True)
class EngineConfig:
    engine: EngineSettings
    routes: tuple[RouteSettings, ...]


def load_engine_config(config: Config) -> EngineConfig:
    """The engine's part of the configuration, checked; errors name the file and the key."""
    where = str(config.path) if config.path else "configuration"
    engine = parse_engine(config.section("engine"), f"{where}: engine")
    return EngineConfig(engine, parse_routes(config.sections.get("routes"), f"{where}: routes"))


def routes_for(routes: Sequence[RouteSettings], kind: str, drill: bool) -> list[RouteSettings]:
    """The configured routes that may carry work of this kind and mode."""
    return [r for r in routes if kind in r.kinds and (r.drill if drill else r.live)]
