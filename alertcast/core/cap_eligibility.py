"""May this alert be broadcast to the public now? The CAP fields that answer it, in one pure function.

Accepting an alert (it is valid CAP) and broadcasting it are different decisions: a valid Test message must
never reach the public as if it were real, an Exercise goes only to drill routes, and an alert past its
``expires`` must not go out late. The answer depends on the time, so it is computed on demand, not stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alertcast.core.cap_model import Alert

NOT_FOR_BROADCAST_STATUSES = frozenset({"Test", "System", "Draft"})
DRILL_STATUSES = frozenset({"Exercise"})
NOT_FOR_BROADCAST_MESSAGE_TYPES = frozenset({"Ack", "Error"})


@dataclass(frozen=True, slots=True)
class BroadcastEligibility:
    """Flags about one alert at one instant, with the reasons in words for the operator."""

    expired: bool
    not_for_broadcast: bool
    """Status Test/System/Draft, or msgType Ack/Error: messages between systems, never for the public."""
    drill_only: bool
    """Status Exercise: may go only to routes marked for drills."""
    reasons: tuple[str, ...]

    @property
    def live_broadcast_allowed(self) -> bool:
        """True when nothing stops a real (non-drill) public broadcast."""
        return not (self.expired or self.not_for_broadcast or self.drill_only)

    @property
    def drill_broadcast_allowed(self) -> bool:
        """True when the alert may go out as a drill (an Exercise, or an Actual alert used for one)."""
        return not (self.expired or self.not_for_broadcast)


def broadcast_eligibility(alert: Alert, now: datetime) -> BroadcastEligibility:
    """Judge ``alert`` at ``now`` (timezone-aware). An alert without ``expires`` never expires by itself."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    reasons: list[str] = []
    expires = alert.expires
    expired = expires is not None and expires <= now
    if expired and expires is not None:
        reasons.append(f"expired at {expires.isoformat()}")
    not_for_broadcast = (
        alert.status in NOT_FOR_BROADCAST_STATUSES or alert.msg_type in NOT_FOR_BROADCAST_MESSAGE_TYPES
    )
    if alert.status in NOT_FOR_BROADCAST_STATUSES:
        reasons.append(f"status {alert.status} is not for public broadcast")
    if alert.msg_type in NOT_FOR_BROADCAST_MESSAGE_TYPES:
        reasons.append(f"msgType {alert.msg_type} is a message between systems, not for the public")
    drill_only = alert.status in DRILL_STATUSES
    if drill_only:
        reasons.append("status Exercise: drill only")
    return BroadcastEligibility(
        expired=expired, not_for_broadcast=not_for_broadcast, drill_only=drill_only, reasons=tuple(reasons)
    )
