"""Parsers for the text formats inside CAP elements: date-times, coordinates, references, quoted lists.

Validation and model building share these, so a value that validates is exactly the value that gets built.
Each parser returns the value or a problem sentence; none raises on bad input.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from alertcast.core.cap_model import Circle, Point

_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?P<fraction>\.\d+)?(?P<zone>Z|[+-]\d{2}:\d{2})?"
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_PAIR = re.compile(rf"({_NUMBER.pattern}),({_NUMBER.pattern})")
_PAIRS_SHAPE = re.compile(r"[0-9.+-]+,[0-9.+-]+(?:\s+[0-9.+-]+,[0-9.+-]+)*")
"""Pairs made of the characters of ``_NUMBER`` only. Over those characters ``float`` accepts exactly what
``_NUMBER`` matches, so a text of this shape whose parts all convert is a well-formed polygon; checking
the shape alone is several times faster than matching every number on a national polygon."""
_QUOTED_OR_BARE = re.compile(r'"([^"]*)"|(\S+)')


@dataclass(frozen=True, slots=True)
class ParsedTime:
    """A parsed CAP date-time; ``problem`` is set when the text is unusable, ``strictness`` when it is
    readable but breaks the stricter form of CAP 1.1 and 1.2 (``Z`` zone designator, fractional seconds)."""

    value: datetime | None
    problem: str | None = None
    strictness: str | None = None


@functools.lru_cache(maxsize=64)
def parse_cap_datetime(text: str) -> ParsedTime:
    """Read ``2026-03-01T14:30:00-05:00``; a time without a zone is refused, since it names no instant.

    Cached (results are immutable) because validation and model building both read every time of an alert;
    the small bound keeps only the alert at hand, not a history."""
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        return ParsedTime(None, f"{text!r} is not a date-time like 2026-03-01T14:30:00-05:00")
    zone = match["zone"]
    if zone is None:
        return ParsedTime(None, f"{text!r} has no time zone offset, so it does not name an instant")
    try:
        value = datetime.fromisoformat(f"{match['date']}T{match['time']}{match['fraction'] or ''}")
    except ValueError:
        return ParsedTime(None, f"{text!r} is not a valid calendar date and time")
    if zone == "Z":
        offset = UTC
    else:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 14 or minutes > 59:
            return ParsedTime(None, f"{text!r} has an impossible time zone offset {zone}")
        sign = -1 if zone[0] == "-" else 1
        offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
    strictness = None
    if zone == "Z":
        strictness = f"{text!r} uses 'Z'; CAP requires a numeric offset (UTC is written -00:00)"
    elif match["fraction"]:
        strictness = f"{text!r} has fractional seconds, which CAP does not allow"
    return ParsedTime(value.replace(tzinfo=offset), None, strictness)


def forget_parsed_values() -> None:
    """Empty the parse caches below. The reader calls it per document: the caches exist so validation and
    model building share one parse per alert, not to remember values from one document to the next (which
    would also flatter a benchmark that reads the same documents again)."""
    parse_cap_datetime.cache_clear()
    normalise_coordinates.cache_clear()
    parse_polygon.cache_clear()


def _parse_point(token: str) -> Point | str:
    match = _PAIR.fullmatch(token)
    if match is None:
        return f"{token!r} is not a 'latitude,longitude' pair"
    latitude, longitude = float(match[1]), float(match[2])
    if not -90.0 <= latitude <= 90.0:
        return f"latitude {match[1]} in {token!r} is outside -90..90"
    if not -180.0 <= longitude <= 180.0:
        return f"longitude {match[2]} in {token!r} is outside -180..180"
    return (latitude, longitude)


@functools.lru_cache(maxsize=64)
def normalise_coordinates(text: str) -> str:
    """Collapse spaces around commas ("45.1, -63.2" -> "45.1,-63.2"), a common producer slip.

    Split and strip rather than a regular expression: both strip the same (Unicode) whitespace, and on a
    national polygon of thousands of points this is several times faster. Cached like the parsers below,
    since validation and parsing both normalise every polygon."""
    return ",".join(part.strip() for part in text.strip().split(","))


@functools.lru_cache(maxsize=64)
def parse_polygon(text: str) -> tuple[tuple[Point, ...], tuple[str, ...]]:
    """Points of a polygon and the problems that make it unusable (empty when it is good).

    Cached because validation and model building both read every polygon, and national polygons run
    to thousands of points."""
    normalised = normalise_coordinates(text)
    tokens = normalised.split()
    if not tokens:
        return (), ("polygon is empty",)
    well_formed = _well_formed_points(normalised) if _PAIRS_SHAPE.fullmatch(normalised) else None
    if well_formed is not None:
        return _polygon_shape(well_formed, tokens)
    points: list[Point] = []
    problems: list[str] = []
    for token in tokens:
        point = _parse_point(token)
        if isinstance(point, str):
            problems.append(point)
        else:
            points.append(point)
    if problems:
        return (), tuple(problems[:3])
    return _polygon_shape(points, tokens)


def _well_formed_points(normalised: str) -> list[Point] | None:
    """All points of a polygon text already known to have the shape of pairs, converted in bulk (one regular
    expression for the whole text, then C-level float conversion and range checks), or None when a point
    is out of range or not a number and the point-by-point path must name it."""
    try:
        numbers = list(map(float, normalised.replace(",", " ").split()))
    except ValueError:  # e.g. "1.2.3" or "-": the right shape, not numbers
        return None
    latitudes, longitudes = numbers[0::2], numbers[1::2]
    if min(latitudes) < -90.0 or max(latitudes) > 90.0 or min(longitudes) < -180.0 or max(longitudes) > 180.0:
        return None
    return list(zip(latitudes, longitudes, strict=True))


def _polygon_shape(points: list[Point], tokens: list[str]) -> tuple[tuple[Point, ...], tuple[str, ...]]:
    problems: list[str] = []
    if len(points) < 4:
        problems.append(f"polygon has {len(points)} points; CAP needs at least 4 (first and last equal)")
    elif points[0] != points[-1]:
        problems.append(
            f"polygon is not closed: first point {tokens[0]} differs from last point {tokens[-1]}"
        )
    return tuple(points), tuple(problems)


def parse_circle(text: str) -> tuple[Circle | None, str | None]:
    """``"lat,lon radius_km"`` -> Circle, or the problem."""
    tokens = normalise_coordinates(text).split()
    if not tokens:
        return None, "circle is empty"
    center = _parse_point(tokens[0])
    if isinstance(center, str):
        return None, center
    if len(tokens) < 2:
        return None, f"circle {text.strip()!r} has no radius"
    if len(tokens) > 2 or not _NUMBER.fullmatch(tokens[1]):
        return None, f"circle {text.strip()!r} is not 'latitude,longitude radius'"
    radius = float(tokens[1])
    if radius < 0 or not math.isfinite(radius):
        return None, f"circle radius {tokens[1]} is not a distance in kilometres"
    return Circle(center=center, radius_km=radius), None


@dataclass(frozen=True, slots=True)
class ParsedReference:
    sender: str
    identifier: str
    sent: datetime | None


def parse_references(text: str) -> tuple[list[ParsedReference], list[str]]:
    """Whitespace-separated ``sender,identifier,sent`` triples; CAP 1.0 allowed ``sender,identifier``."""
    references: list[ParsedReference] = []
    problems: list[str] = []
    for token in text.split():
        parts = token.split(",")
        if len(parts) == 2 and all(parts):
            references.append(ParsedReference(parts[0], parts[1], None))
            continue
        if len(parts) != 3 or not all(parts):
            problems.append(f"{token!r} is not a 'sender,identifier,sent' triple")
            continue
        parsed = parse_cap_datetime(parts[2])
        if parsed.value is None:
            problems.append(f"sent time in {token!r}: {parsed.problem}")
            continue
        references.append(ParsedReference(parts[0], parts[1], parsed.value))
    return references, problems


def split_quoted_list(text: str) -> tuple[str, ...]:
    """CAP's space-separated lists (addresses, incidents) where an item with spaces is double-quoted."""
    return tuple(match[1] if match[1] is not None else match[2] for match in _QUOTED_OR_BARE.finditer(text))


def parse_number(text: str) -> float | None:
    stripped = text.strip()
    return float(stripped) if _NUMBER.fullmatch(stripped) else None
