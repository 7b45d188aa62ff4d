"""Fallback and escalation in the engine: the ``[[fallback]]`` policies, and the periodic sweep that acts on
them.

Compose picks the policy for a broadcast's priority and stores it with the broadcast; from then on the
broadcast's rows say everything (see :mod:`alertcast.store.outbox_escalation`). Every engine runs the
sweep every ``escalation_seconds``: it creates the next step's deliveries for people whose current step
failed, got no receipt in time, or got no acknowledgement in time, and wakes the routes so they go out at
once. Nothing is kept in memory, so a restart, or a second engine on the same database, changes nothing.
Every key is documented in ``docs/fallback-and-acks.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alertcast.config import Config, ConfigError
from alertcast.core.escalation import ESCALATION_KINDS, EscalationPolicy
from alertcast.core.priority import Priority, parse_priority
from alertcast.engine.storeio import StoreWorker
from alertcast.store.outbox_escalation import SweepSummary, escalation_sweep, escalations_due

log = logging.getLogger(__name__)

_KEYS = {"name", "priorities", "steps", "receipt_wait_minutes", "ack_wait_minutes", "stop_after_hours"}
MAX_BATCHES = 20
"""Batches one sweep works through before yielding to the next timer tick (bounds one sweep's time)."""


def _minutes(raw: Mapping[str, Any], key: str, default: float, where: str, scale: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}.{key}: expected a number >= 0, got {value!r}")
    return float(value) * scale


def _priorities(raw: Mapping[str, Any], where: str) -> frozenset[int]:
    value = raw.get("priorities", "*")
    if value == "*":
        return frozenset(int(p) for p in Priority)
    if not isinstance(value, list) or not value:
        raise ConfigError(f'{where}.priorities: expected "*" or a list such as ["severe", "critical"]')
    levels = set()
    for item in value:
        try:
            levels.add(int(parse_priority(item)))
        except (ValueError, AttributeError) as exc:
            raise ConfigError(f"{where}.priorities: {exc}") from None
    return frozenset(levels)


def _steps(raw: Mapping[str, Any], where: str) -> tuple[tuple[str, ...], ...]:
    value = raw.get("steps", ["sms", "apprise"])
    if not isinstance(value, list) or not value:
        raise ConfigError(f'{where}.steps: expected a list of channel kinds, e.g. ["sms", "apprise"]')
    steps = []
    for i, step in enumerate(value):
        kinds = [step] if isinstance(step, str) else step
        if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
            raise ConfigError(f"{where}.steps[{i}]: expected a kind or a list of kinds, got {step!r}")
        bad = [k for k in kinds if k not in ESCALATION_KINDS]
        if bad:
            raise ConfigError(
                f"{where}.steps[{i}]: unknown kind {bad[0]!r} (known: {', '.join(ESCALATION_KINDS)})"
            )
        steps.append(tuple(dict.fromkeys(kinds)))
    return tuple(steps)


def parse_policy(raw: object, where: str, index: int) -> EscalationPolicy:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table ([[fallback]])")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    name = raw.get("name", f"fallback-{index + 1}")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}.name: expected a short text, got {name!r}")
    return EscalationPolicy(
        name=name.strip(),
        priorities=_priorities(raw, where),
        steps=_steps(raw, where),
        receipt_wait=_minutes(raw, "receipt_wait_minutes", 10, where, 60.0),
        ack_wait=_minutes(raw, "ack_wait_minutes", 0, where, 60.0),
        stop_after=_minutes(raw, "stop_after_hours", 24, where, 3600.0),
    )


def parse_fallback(raw: object, where: str = "fallback") -> tuple[EscalationPolicy, ...]:
    """The ``[[fallback]]`` array; a priority may be covered by one policy only."""
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ConfigError(f"{where}: expected an array of tables ([[fallback]])")
    policies = tuple(parse_policy(item, f"{where}[{i}]", i) for i, item in enumerate(raw))
    owner: dict[int, str] = {}
    for i, policy in enumerate(policies):
        for level in sorted(policy.priorities):
            if level in owner:
                raise ConfigError(
                    f"{where}[{i}].priorities: {Priority(level).label} is already covered by "
                    f"policy {owner[level]!r}"
                )
            owner[level] = policy.name
    return policies


def load_fallback(config: Config) -> tuple[EscalationPolicy, ...]:
    """The configured fallback policies, checked; errors name the file and the key."""
    where = str(config.path) if config.path else "configuration"
    return parse_fallback(config.sections.get("fallback"), f"{where}: fallback")


@dataclass
class EscalationTally:
    sweeps: int = 0
    escalated: int = 0
    """People moved on to a later step by this engine."""
    created: int = 0
    """Fallback deliveries this engine created."""
    stopped: int = 0
    """Queued deliveries not sent because the person had acknowledged."""


async def sweep_until_done(store: StoreWorker, batch: int, tally: EscalationTally) -> SweepSummary:
    """Run the sweep until nothing due is left (at most ``MAX_BATCHES`` batches); returns the last batch's
    summary with the totals of all of them."""
    totals = SweepSummary()
    # A plain read first: when nothing is due (nearly always) no write transaction, no SQLite write lock.
    if not await store.call(escalations_due, cap=1):
        return totals
    for _ in range(MAX_BATCHES):
        summary: SweepSummary = await store.call(escalation_sweep, limit=batch)
        tally.sweeps += 1
        totals = SweepSummary(
            looked=totals.looked + summary.looked,
            escalated=totals.escalated + summary.escalated,
            created=totals.created + summary.created,
            settled=totals.settled + summary.settled,
            rescheduled=totals.rescheduled + summary.rescheduled,
            stopped=totals.stopped + summary.stopped,
        )
        if summary.looked < batch:
            break
    tally.escalated += totals.escalated
    tally.created += totals.created
    tally.stopped += totals.stopped
    if totals.escalated:
        log.info(
            "fallback: %d recipient(s) moved to their next step (%d deliveries)",
            totals.escalated,
            totals.created,
        )
    return totals
