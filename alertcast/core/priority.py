"""The broadcast priority scale: which deliveries every channel claims first.

Five levels are enough to order work and few enough for an operator to choose from. A broadcast gets its
level from the CAP alert's severity and urgency, lowered one step when the sender rates the event possible
or unlikely, or from the operator directly.

Mapping (rows severity, columns urgency; "Unknown" severity counts as Moderate and "Unknown" urgency as
Expected, so that missing information never makes an alert wait behind routine traffic):

============  =========  ========  ========  ========
severity      Immediate  Expected  Future    Past
============  =========  ========  ========  ========
Extreme       critical   severe    high      routine
Severe        severe     high      elevated  routine
Moderate      high       elevated  routine   routine
Minor         elevated   routine   routine   routine
============  =========  ========  ========  ========

Certainty: Observed, Likely and Unknown keep the level; Possible and Unlikely lower it one step.
An alert whose status is not "Actual" (Exercise, Test, System, Draft) is capped at elevated, so a real
alert of high priority or above always goes before a drill.
"""

from __future__ import annotations

from enum import IntEnum

from alertcast.core.cap_model import Alert


class Priority(IntEnum):
    ROUTINE = 0
    ELEVATED = 1
    HIGH = 2
    SEVERE = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def smpp_priority_flag(self) -> int:
        """SMPP 3.4 ``priority_flag`` (0..3; for GSM, any value above 0 means "priority")."""
        return _SMPP_PRIORITY_FLAG[self]


_SMPP_PRIORITY_FLAG = {
    Priority.ROUTINE: 0,
    Priority.ELEVATED: 1,
    Priority.HIGH: 2,
    Priority.SEVERE: 3,
    Priority.CRITICAL: 3,
}

_URGENCIES = ("Immediate", "Expected", "Future", "Past")
_TABLE: dict[str, tuple[Priority, ...]] = {
    "Extreme": (Priority.CRITICAL, Priority.SEVERE, Priority.HIGH, Priority.ROUTINE),
    "Severe": (Priority.SEVERE, Priority.HIGH, Priority.ELEVATED, Priority.ROUTINE),
    "Moderate": (Priority.HIGH, Priority.ELEVATED, Priority.ROUTINE, Priority.ROUTINE),
    "Minor": (Priority.ELEVATED, Priority.ROUTINE, Priority.ROUTINE, Priority.ROUTINE),
}
_LOWERING_CERTAINTIES = frozenset({"possible", "unlikely"})
DRILL_CAP = Priority.ELEVATED


def _canonical(value: str, known: tuple[str, ...], unknown_means: str) -> str:
    for name in known:
        if value.strip().lower() == name.lower():
            return name
    return unknown_means


def priority_from_cap(urgency: str, severity: str, certainty: str) -> Priority:
    """Priority for one ``<info>`` block's urgency, severity and certainty (case-insensitive)."""
    row = _TABLE[_canonical(severity, tuple(_TABLE), "Moderate")]
    level = row[_URGENCIES.index(_canonical(urgency, _URGENCIES, "Expected"))]
    if certainty.strip().lower() in _LOWERING_CERTAINTIES:
        level = Priority(max(level - 1, Priority.ROUTINE))
    return level


def alert_priority(alert: Alert) -> Priority:
    """The highest priority of any info block (languages of one alert should agree; if not, be safe)."""
    levels = [priority_from_cap(info.urgency, info.severity, info.certainty) for info in alert.infos]
    level = max(levels, default=Priority.ELEVATED)
    if alert.status.strip().lower() != "actual":
        level = min(level, DRILL_CAP)
    return level


def parse_priority(value: str | int) -> Priority:
    """An operator's choice, by name ("severe") or number (3)."""
    if isinstance(value, int) or value.strip().isdigit():
        number = int(value)
        if number in Priority._value2member_map_:
            return Priority(number)
    elif value.strip().upper() in Priority.__members__:
        return Priority[value.strip().upper()]
    choices = ", ".join(f"{level.value}={level.label}" for level in Priority)
    raise ValueError(f"unknown priority {value!r}; choose one of {choices}")
