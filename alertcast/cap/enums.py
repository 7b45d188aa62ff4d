"""CAP's enumerated values per version, and the lenient lookup validation and model building share.

A value from another CAP version (CBRNE in a 1.0 alert, AllClear in 1.1) or in the wrong letter case is
understood and normalised with a warning; a value no CAP version defines is an error. CAP 1.0's
"Very Likely" is read as "Likely", as CAP 1.1 and 1.2 ask receivers to do.
"""

from __future__ import annotations

from dataclasses import dataclass

_COMMON = {
    "msgType": ("Alert", "Update", "Cancel", "Ack", "Error"),
    "scope": ("Public", "Restricted", "Private"),
    "urgency": ("Immediate", "Expected", "Future", "Past", "Unknown"),
    "severity": ("Extreme", "Severe", "Moderate", "Minor", "Unknown"),
}
_CATEGORIES_10 = (
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "Other",
)
_CATEGORIES_11 = (*_CATEGORIES_10[:-1], "CBRNE", "Other")
_RESPONSES_11 = ("Shelter", "Evacuate", "Prepare", "Execute", "Monitor", "Assess", "None")
_RESPONSES_12 = (
    "Shelter",
    "Evacuate",
    "Prepare",
    "Execute",
    "Avoid",
    "Monitor",
    "Assess",
    "AllClear",
    "None",
)
_CERTAINTY_10 = ("Very Likely", "Likely", "Possible", "Unlikely", "Unknown")
_CERTAINTY_11 = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")

ENUMERATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "1.0": {
        **_COMMON,
        "status": ("Actual", "Exercise", "System", "Test"),
        "category": _CATEGORIES_10,
        "responseType": (),
        "certainty": _CERTAINTY_10,
    },
    "1.1": {
        **_COMMON,
        "status": ("Actual", "Exercise", "System", "Test", "Draft"),
        "category": _CATEGORIES_11,
        "responseType": _RESPONSES_11,
        "certainty": _CERTAINTY_11,
    },
    "1.2": {
        **_COMMON,
        "status": ("Actual", "Exercise", "System", "Test", "Draft"),
        "category": _CATEGORIES_11,
        "responseType": _RESPONSES_12,
        "certainty": _CERTAINTY_11,
    },
}
_DEPRECATED_ALIASES = {"certainty": {"Very Likely": "Likely"}}


@dataclass(frozen=True, slots=True)
class EnumLookup:
    """``value`` is the canonical CAP value (None when unknown); ``note`` explains any leniency applied."""

    value: str | None
    note: str | None = None


def lookup(element: str, text: str, version: str) -> EnumLookup:
    """Canonical value of ``text`` for the enumerated ``element`` in CAP ``version``."""
    allowed = ENUMERATIONS[version][element]
    aliases = _DEPRECATED_ALIASES.get(element, {})
    if text in allowed:
        alias = aliases.get(text)
        return EnumLookup(alias) if alias else EnumLookup(text)
    every_version = {value for table in ENUMERATIONS.values() for value in table[element]}
    by_case = {value.casefold(): value for value in every_version}
    canonical = by_case.get(text.casefold())
    if canonical is None:
        return EnumLookup(None)
    notes = []
    if canonical != text:
        notes.append(f"written {text!r} instead of {canonical!r}")
    if canonical not in allowed:
        notes.append(f"{canonical!r} is not a CAP {version} value (it belongs to another CAP version)")
    if canonical in aliases:
        notes.append(f"deprecated {canonical!r} read as {aliases[canonical]!r}")
        canonical = aliases[canonical]
    return EnumLookup(canonical, "; ".join(notes) if notes else None)


def allowed_values(element: str, version: str) -> str:
    return ", ".join(ENUMERATIONS[version][element])
