"""Fitting a rendered SMS into its segment budget by dropping and shortening fields in a set order.

Three kinds of step, each applied only while the text is still too long, and each as gently as it can:

- ``drop:<field>`` removes the field;
- ``trim:<field>`` keeps whole units only: leading sentences of a text, leading names of the area list
  (followed by "..."); it never goes below the first unit;
- ``shorten:<field>`` may also cut to whole words followed by "...".

Words are split on white space only, so a URL, a number or a time is never cut in half. After the text
fits, fields that were cut while something later in the order still had to go are grown back as far as
the budget allows: first to whole units, then to words, the latest in the order (the most important) first
each time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

ELLIPSIS = "..."
"""Three full stops, not "…": the single character would switch a GSM 7-bit message to UCS-2."""
AREA_SEPARATOR = "; "
"""CAP area descriptions often contain commas themselves ("Yolo, CA")."""
ACTIONS = ("drop", "trim", "shorten")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class Step:
    action: str
    field: str

    @classmethod
    def parse(cls, text: str, *, allowed: frozenset[str], protected: frozenset[str]) -> Step:
        action, _, name = text.partition(":")
        if action not in ACTIONS or not name:
            raise ValueError(
                f"shortening step {text!r} must be 'drop:<field>', 'trim:<field>' or 'shorten:<field>'"
            )
        if name in protected:
            raise ValueError(f"shortening step {text!r}: the {name} field is never dropped or shortened")
        if name not in allowed:
            known = ", ".join(sorted(allowed - protected))
            raise ValueError(f"shortening step {text!r}: unknown field; known fields: {known}")
        return cls(action, name)

    def __str__(self) -> str:
        return f"{self.action}:{self.field}"


@dataclass(frozen=True, slots=True)
class Shorter:
    """Shorter versions of one field, each list longest first."""

    whole: list[str] = field(default_factory=list)
    """Cut at whole units (sentences, area names): what ``trim`` may use."""
    words: list[str] = field(default_factory=list)
    """Cut at words: what ``shorten`` may use after the whole units."""

    def for_action(self, action: str) -> list[str]:
        return self.whole if action == "trim" else self.whole + self.words


MIN_CUT_WORDS = 3
"""A cut keeps at least this many words: "Within..." or "A..." tells a reader nothing, and a field that
cannot be cut to a useful length is better dropped by a later step of the order."""


def _word_prefixes(text: str, minimum: str = "") -> list[str]:
    words = text.split()
    cuts = [
        " ".join(words[:count]).rstrip(",;:") + ELLIPSIS
        for count in range(len(words) - 1, MIN_CUT_WORDS - 1, -1)
    ]
    if not minimum:
        return cuts
    return [cut for cut in cuts if len(cut) > len(minimum) + len(ELLIPSIS)] + [minimum]


def text_shorter(text: str, *, minimum: str = "") -> Shorter:
    """Leading sentences, then leading words of the first sentence; never shorter than ``minimum``
    (the event name, for a headline) when one is given."""
    sentences = [part for part in _SENTENCE_BREAK.split(text.strip()) if part]
    whole = [" ".join(sentences[:count]) for count in range(len(sentences) - 1, 0, -1)]
    words = _word_prefixes(sentences[0], minimum) if sentences else []
    return Shorter(whole, [cut for cut in words if cut != text])


def area_shorter(names: Sequence[str]) -> Shorter:
    """Leading whole area names with "...", then leading words of the first name."""
    whole = [AREA_SEPARATOR.join(names[:count]) + ELLIPSIS for count in range(len(names) - 1, 0, -1)]
    return Shorter(whole, _word_prefixes(names[0]) if names else [])


@dataclass(frozen=True, slots=True)
class FitResult:
    values: dict[str, str]
    steps: tuple[str, ...]
    """The steps that changed the text, in the order applied."""
    fits: bool


def _longest_fitting(candidates: Sequence[str], fits_with: Callable[[str], bool]) -> str | None:
    """Binary search over candidates ordered longest first (fitting is monotone in length)."""
    low, high = 0, len(candidates)
    while low < high:
        middle = (low + high) // 2
        if fits_with(candidates[middle]):
            high = middle
        else:
            low = middle + 1
    return candidates[low] if low < len(candidates) else None


def fit_fields(
    values: Mapping[str, str],
    shorter: Mapping[str, Shorter],
    order: Sequence[Step],
    fits: Callable[[Mapping[str, str]], bool],
) -> FitResult:
    """Apply ``order`` until ``fits(values)``, then grow cut fields back where room is left."""
    current = dict(values)
    if fits(current):
        return FitResult(current, (), True)

    def fits_with(name: str) -> Callable[[str], bool]:
        return lambda value: fits({**current, name: value})

    applied: list[Step] = []
    for step in order:
        value = current.get(step.field, "")
        if not value:
            continue
        if step.action == "drop":
            current[step.field] = ""
        else:
            options = shorter.get(step.field, Shorter()).for_action(step.action)
            options = [option for option in options if len(option) < len(value)]
            if not options:
                continue
            current[step.field] = _longest_fitting(options, fits_with(step.field)) or options[-1]
        applied.append(step)
        if fits(current):
            break
    else:
        return FitResult(current, tuple(map(str, applied)), fits(current))
    # The pass above found which steps are needed; now share the room out again by importance. Every cut
    # field starts from its shortest allowed form, so an early, greedy choice cannot starve a later one.
    for step in applied:
        if step.action != "drop":
            options = shorter.get(step.field, Shorter()).for_action(step.action)
            if options and len(options[-1]) < len(current[step.field]):
                current[step.field] = options[-1]
    # Grow back to whole units first (fields made of sentences or names get them back), then to words.
    for action in ("trim", "shorten"):
        for step in reversed(applied):
            field_shorter = shorter.get(step.field, Shorter())
            if step.action != "drop" and (action == "shorten" or field_shorter.whole):
                options = [values[step.field], *field_shorter.for_action(action)]
                longer = [option for option in options if len(option) > len(current[step.field])]
                grown = _longest_fitting(longer, fits_with(step.field))
                if grown is not None:
                    current[step.field] = grown
    changed = {step.field for step in applied if current[step.field] != values[step.field]}
    effective = [step for step in applied if step.field in changed]
    return FitResult(current, tuple(map(str, effective)), True)
