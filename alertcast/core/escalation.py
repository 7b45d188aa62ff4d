"""Fallback and escalation: which channels a person is tried on, in what order, and when to move on.

A policy is an ordered list of steps; a step is one or more channel kinds sent together. A person starts at
the first step they can be reached on (SMS needs a phone; Apprise an e-mail address or a personal URL) and
moves to the next step they can be reached on when every delivery of the current step is hopeless:

- it failed for good (refused number, bounced mail, retries given up), at once;
- it was accepted but no delivery receipt came within ``receipt_wait`` seconds;
- the broadcast asked for an acknowledgement and none came within ``ack_wait`` seconds of the step going out.

A delivery that reached the person (delivered, and no acknowledgement awaited) ends the chain; so do an
acknowledgement on any delivery of the chain, the broadcast's cancel or expiry, and ``stop_after`` seconds
after the broadcast was created. A step with several kinds (``["sms", "apprise"]``) is "all channels at
once": every address the person has on those kinds gets a delivery at the same time.

Everything here is pure: the store feeds :func:`decide` the rows it read and writes back what it says, so
the decision is derived from the database alone and survives any restart.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

SMS, APPRISE = "sms", "apprise"
ESCALATION_KINDS = (SMS, APPRISE)
"""Kinds a person has addresses for. (The drill kind has no addresses of its own.)"""

IDLE_RECHECK = timedelta(minutes=30)
"""How long to leave a delivery that no timer can move on (accepted, no receipt wait set) before looking
again: only a failure can move it, and failures are found at once anyway."""

FAILED, SUBMITTED, DELIVERED, ACKNOWLEDGED = "failed", "submitted", "delivered", "acknowledged"
QUEUED, CLAIMED, EXPIRED, CANCELLED = "queued", "claimed", "expired", "cancelled"


@dataclass(frozen=True)
class EscalationPolicy:
    """One ``[[fallback]]`` table, as stored on each broadcast it applies to (so a change of configuration
    never alters a broadcast already under way)."""

    name: str = "fallback"
    priorities: frozenset[int] = frozenset(range(5))
    steps: tuple[tuple[str, ...], ...] = ((SMS,), (APPRISE,))
    receipt_wait: float = 600.0
    """Seconds an accepted message may wait for its delivery receipt; 0: never move on for that."""
    ack_wait: float = 0.0
    """Seconds to wait for an acknowledgement after a step went out (broadcasts that ask for one); 0: off."""
    stop_after: float = 86400.0
    """No escalation happens this many seconds after the broadcast was created; 0: no limit."""

    def restricted_to(self, kinds: Iterable[str]) -> EscalationPolicy | None:
        """The policy with only the kinds a broadcast may use; None when no step is left."""
        allowed = set(kinds)
        steps = tuple(kept for step in self.steps if (kept := tuple(k for k in step if k in allowed)))
        if not steps:
            return None
        return EscalationPolicy(
            self.name, self.priorities, steps, self.receipt_wait, self.ack_wait, self.stop_after
        )

    @property
    def first_look(self) -> timedelta:
        """When to look first at a new delivery that has a later step: the earliest timer that can fire."""
        timers = [t for t in (self.receipt_wait, self.ack_wait) if t > 0]
        return timedelta(seconds=min(timers)) if timers else IDLE_RECHECK

    def has_later_step(self, step: int) -> bool:
        return step + 1 < len(self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "steps": [list(step) for step in self.steps],
            "receipt_wait": self.receipt_wait,
            "ack_wait": self.ack_wait,
            "stop_after": self.stop_after,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> EscalationPolicy | None:
        """The policy stored on a broadcast, or None for a broadcast without one (``{}``)."""
        if not data or not data.get("steps"):
            return None
        return cls(
            name=str(data.get("name", "fallback")),
            steps=tuple(tuple(str(k) for k in step) for step in data["steps"]),
            receipt_wait=float(data.get("receipt_wait", 0.0)),
            ack_wait=float(data.get("ack_wait", 0.0)),
            stop_after=float(data.get("stop_after", 0.0)),
        )


def policy_for(policies: Sequence[EscalationPolicy], priority: int) -> EscalationPolicy | None:
    """The first policy covering this priority, or None (then nothing falls back)."""
    return next((p for p in policies if priority in p.priorities), None)


def contact_addresses(
    kinds: Iterable[str], phone: str | None, email: str | None, urls: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """Every (kind, address) a person can be reached on among ``kinds``: the phone for SMS, the e-mail
    address and each personal Apprise URL for Apprise; in that order, without repeats."""
    wanted = set(kinds)
    found: list[tuple[str, str]] = []
    if SMS in wanted and phone:
        found.append((SMS, phone))
    if APPRISE in wanted:
        found.extend((APPRISE, a) for a in dict.fromkeys([*([email] if email else []), *urls]) if a)
    return found


def reachable_steps(policy: EscalationPolicy, addresses: Sequence[tuple[str, str]]) -> list[int]:
    """Indexes of the steps this person has at least one address for."""
    kinds = {kind for kind, _ in addresses}
    return [i for i, step in enumerate(policy.steps) if kinds.intersection(step)]


class Verdict(enum.StrEnum):
    ESCALATE = "escalate"
    """Create the next step's deliveries (``next_step``), linked to ``parent_id``."""
    WAIT = "wait"
    """Look again at ``look_at``."""
    SETTLE = "settle"
    """Nothing more will happen for this person: stop looking."""
    ACKNOWLEDGED = "acknowledged"
    """The person acknowledged: stop looking, and send nothing more that is still queued."""


@dataclass(frozen=True, slots=True)
class StepRow:
    """One of a person's deliveries of one broadcast, as the decision needs it."""

    id: int
    step: int
    state: str
    submitted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str = ""
    next_step: int | None = None
    parent_id: int | None = None
    look_at: datetime | None = None


def _deadline(row: StepRow, policy: EscalationPolicy, ack_requested: bool, now: datetime) -> datetime | None:
    """When an accepted delivery counts as hopeless: its receipt wait or its acknowledgement wait, the
    earlier one that applies; None when no timer applies."""
    sent = row.submitted_at or now
    waits = []
    if row.state == SUBMITTED and policy.receipt_wait > 0:
        waits.append(policy.receipt_wait)
    if ack_requested and policy.ack_wait > 0:
        waits.append(policy.ack_wait)
    return sent + timedelta(seconds=min(waits)) if waits else None


def decide(
    rows: Sequence[StepRow],
    policy: EscalationPolicy,
    *,
    ack_requested: bool,
    acknowledged: bool,
    steps_reachable: Sequence[int],
    created_at: datetime | None,
    now: datetime,
) -> Decision:
    """What to do about one person's chain: escalate, wait until a time, or stop looking (see the module
    docstring for the rules). Only the deliveries of the latest step count; earlier steps are history."""
    if acknowledged or any(r.state == ACKNOWLEDGED for r in rows):
        return Decision(Verdict.ACKNOWLEDGED, "acknowledged")
    if not rows:
        return Decision(Verdict.SETTLE, "no deliveries")
    current = max(r.step for r in rows)
    later = sorted(s for s in steps_reachable if s > current)
    if not later:
        return Decision(Verdict.SETTLE, "no later step this person can be reached on")
    too_old = created_at is not None and now - created_at >= timedelta(seconds=policy.stop_after)
    if policy.stop_after > 0 and too_old:
        return Decision(Verdict.SETTLE, "broadcast too old to escalate")
    latest = [r for r in rows if r.step == current]
    waits: list[datetime] = []
    for row in latest:
        if row.state == FAILED:
            continue
        if row.state in (QUEUED, CLAIMED):
            waits.append(now + policy.first_look)
        elif row.state in (SUBMITTED, DELIVERED):
            deadline = _deadline(row, policy, ack_requested, now)
            if deadline is None:
                if row.state == DELIVERED:
                    return Decision(Verdict.SETTLE, "reached")
                waits.append(now + IDLE_RECHECK)
            elif deadline > now:
                waits.append(deadline)
        else:  # expired or cancelled: the broadcast ended for this person
            return Decision(Verdict.SETTLE, f"delivery {row.state}")
    if waits:
        return Decision(Verdict.WAIT, "waiting", look_at=min(waits))
    parent = min(r.id for r in latest)
    return Decision(Verdict.ESCALATE, f"step {current} hopeless", next_step=later[0], parent_id=parent)
