"""The project's own typed model of a CAP alert.

Everything downstream of ingest (rendering, targeting, priority, the store) works on these plain, frozen
dataclasses, never on a parser's dicts or XML objects: that keeps the domain testable without XML and lets
two parsing paths (capparselib and the tolerant fallback) produce one and the same result.

Coordinates follow CAP: a point is ``(latitude, longitude)`` in WGS 84 decimal degrees; circle radii are in
kilometres. Times are timezone-aware ``datetime`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

Point = tuple[float, float]
"""``(latitude, longitude)`` in WGS 84 decimal degrees, the order CAP writes them in."""


class Record:
    """Base of the model's frozen dataclasses: pickled as the class and its field values.

    Read results cross from reading worker processes to the storing one. A slots dataclass pickles by
    default as a state list that is set back field by field in Python, about twice as slow both ways; the
    constructor rebuilds the same object from the values. Subclasses have only positional init fields.
    """

    __slots__ = ()

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return (type(self), tuple([getattr(self, name) for name in self.__dataclass_fields__]))  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Circle(Record):
    """A CAP ``<circle>``: centre point and radius in kilometres."""

    center: Point
    radius_km: float


@dataclass(frozen=True, slots=True)
class NamedValue(Record):
    """A CAP ``valueName``/``value`` pair (geocode, eventCode, parameter)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Area(Record):
    """A CAP ``<area>`` block: where the alert applies."""

    description: str
    polygons: tuple[tuple[Point, ...], ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[NamedValue, ...] = ()
    altitude: float | None = None
    ceiling: float | None = None


@dataclass(frozen=True, slots=True)
class Resource(Record):
    """A CAP ``<resource>``; ``uri`` may be absent when the content travels in ``deref_uri`` or not at all."""

    description: str
    mime_type: str
    size: int | None = None
    uri: str | None = None
    deref_uri: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Reference(Record):
    """One entry of ``<references>``: the alert an Update, Cancel, Ack or Error refers to."""

    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True, slots=True)
class Info(Record):
    """A CAP ``<info>`` block: the alert's content in one language."""

    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    response_types: tuple[str, ...] = ()
    audience: str | None = None
    event_codes: tuple[NamedValue, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[NamedValue, ...] = ()
    resources: tuple[Resource, ...] = ()
    areas: tuple[Area, ...] = ()


@dataclass(frozen=True, slots=True)
class Alert(Record):
    """A CAP ``<alert>``, version 1.0, 1.1 or 1.2, normalised.

    ``key`` (sender, identifier, sent) is what makes two documents the same alert: a repeat of it is a
    duplicate and must never be broadcast twice.
    """

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    version: str = "1.2"
    source: str | None = None
    restriction: str | None = None
    addresses: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: tuple[str, ...] = ()
    infos: tuple[Info, ...] = field(default_factory=tuple)

    @property
    def key(self) -> tuple[str, str, str]:
        """The identity of an alert across repeats: sender, identifier and sent time (ISO 8601)."""
        return (self.sender, self.identifier, self.sent.isoformat())

    @property
    def expires(self) -> datetime | None:
        """The latest ``expires`` of any info block, or None when no block says."""
        times = [info.expires for info in self.infos if info.expires is not None]
        return max(times) if times else None
