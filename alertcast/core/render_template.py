"""Operator-editable message templates: ``str.format`` named fields plus optional sections in brackets.

An alert often lacks a field (no instruction, no expiry), and the budget step drops others. A plain format
string would then leave "Until . " behind, so text in ``[...]`` is kept only when every field inside it has
a value::

    [{headline}. ][{area}. ][{instruction} ][Until {expires}. ][{ack}]

``[[`` and ``]]`` stand for literal brackets. Only plain named fields are allowed (no ``!r``, ``:spec``,
indexes or attributes): a template is configuration, and a typo should be caught when it is loaded, with
its position, not when the first alert arrives.

When a field's value already ends with ".", "!" or "?" and the template puts a "." right after it, that
"." is skipped, so "Flood Warning." does not become "Flood Warning..".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter

_SENTENCE_END = (".", "!", "?")
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class _Section:
    pieces: tuple[tuple[str, str | None], ...]
    """(literal text, field name or None) in order, as ``Formatter.parse`` gives them."""
    optional: bool

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(name for _, name in self.pieces if name is not None)


def _split_sections(source: str, where: str) -> list[tuple[str, bool]]:
    sections: list[tuple[str, bool]] = []
    current: list[str] = []
    optional_start: int | None = None
    index = 0
    while index < len(source):
        pair = source[index : index + 2]
        char = source[index]
        if pair in ("[[", "]]"):
            current.append(char)
            index += 2
            continue
        if char == "[":
            if optional_start is not None:
                raise ValueError(f"{where}: optional sections cannot nest ('[' at position {index})")
            sections.append(("".join(current), False))
            current, optional_start = [], index
        elif char == "]":
            if optional_start is None:
                raise ValueError(f"{where}: ']' at position {index} closes no '[' (write ']]' for a bracket)")
            sections.append(("".join(current), True))
            current, optional_start = [], None
        else:
            current.append(char)
        index += 1
    if optional_start is not None:
        raise ValueError(f"{where}: '[' at position {optional_start} is never closed")
    sections.append(("".join(current), False))
    return [(text, optional) for text, optional in sections if text]


def _parse_section(text: str, optional: bool, allowed: frozenset[str], where: str) -> _Section:
    pieces: list[tuple[str, str | None]] = []
    try:
        parsed = list(Formatter().parse(text))
    except ValueError as error:
        raise ValueError(f"{where}: {error} in {text!r}") from None
    for literal, name, spec, conversion in parsed:
        if name is not None:
            if spec or conversion or not name.isidentifier():
                raise ValueError(
                    f"{where}: only plain fields like {{headline}} are allowed, not {{{name}...}}"
                )
            if name not in allowed:
                choices = ", ".join(sorted(allowed))
                raise ValueError(f"{where}: unknown field {{{name}}}; known fields: {choices}")
        pieces.append((literal, name))
    return _Section(tuple(pieces), optional)


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    source: str
    sections: tuple[_Section, ...]

    @classmethod
    def parse(cls, source: str, *, allowed: frozenset[str], where: str) -> MessageTemplate:
        """Parse and check ``source``; ``where`` names it in errors (e.g. "template 'sms' for 'es'")."""
        sections = tuple(
            _parse_section(text, optional, allowed, where)
            for text, optional in _split_sections(source, where)
        )
        return cls(source, sections)

    @property
    def fields(self) -> frozenset[str]:
        return frozenset().union(*(section.fields for section in self.sections))

    def render(self, values: Mapping[str, str]) -> str:
        """The text with ``values`` filled in; missing or empty values drop their optional sections."""
        out: list[str] = []
        for section in self.sections:
            if section.optional and not all(values.get(name) for name in section.fields):
                continue
            previous_value = ""
            for literal, name in section.pieces:
                if literal.startswith(".") and previous_value.endswith(_SENTENCE_END):
                    literal = literal[1:]
                out.append(literal)
                previous_value = values.get(name, "") if name is not None else ""
                out.append(previous_value)
        return tidy("".join(out))


def tidy(text: str) -> str:
    """Collapse runs of spaces, strip each line, allow at most one blank line in a row."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
