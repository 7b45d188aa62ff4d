"""An alert as the document wrote it: every value still the text it was, nothing interpreted yet.

The tolerant reader fills these from XML, the validator judges them, and only an alert without errors is
turned into the typed :class:`~alertcast.core.cap_model.Alert`. Keeping the text lets a finding quote the
exact bad value and lets validation run on documents whose values could not be converted at all.
``None`` means the element was absent; an element present but empty is the empty string.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RawNamedValue:
    name: str
    value: str


@dataclass(slots=True)
class RawResource:
    description: str | None = None
    mime_type: str | None = None
    size: str | None = None
    uri: str | None = None
    deref_uri: str | None = None
    digest: str | None = None


@dataclass(slots=True)
class RawArea:
    description: str | None = None
    polygons: list[str] = field(default_factory=list)
    circles: list[str] = field(default_factory=list)
    geocodes: list[RawNamedValue] = field(default_factory=list)
    altitude: str | None = None
    ceiling: str | None = None


@dataclass(slots=True)
class RawInfo:
    language: str | None = None
    categories: list[str] = field(default_factory=list)
    event: str | None = None
    response_types: list[str] = field(default_factory=list)
    urgency: str | None = None
    severity: str | None = None
    certainty: str | None = None
    audience: str | None = None
    event_codes: list[RawNamedValue] = field(default_factory=list)
    effective: str | None = None
    onset: str | None = None
    expires: str | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: list[RawNamedValue] = field(default_factory=list)
    resources: list[RawResource] = field(default_factory=list)
    areas: list[RawArea] = field(default_factory=list)


@dataclass(slots=True)
class RawAlert:
    version: str
    path: str = "alert"
    identifier: str | None = None
    sender: str | None = None
    sent: str | None = None
    status: str | None = None
    msg_type: str | None = None
    source: str | None = None
    scope: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: list[str] = field(default_factory=list)
    note: str | None = None
    references: str | None = None
    incidents: str | None = None
    infos: list[RawInfo] = field(default_factory=list)
