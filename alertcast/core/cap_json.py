"""The typed CAP model to and from plain JSON values.

The store keeps each alert's normalised model beside its raw XML so rendering and targeting never parse
XML again; this is the one place that knows how the model looks as JSON (times as ISO 8601 text).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from alertcast.core.cap_model import Alert, Area, Circle, Info, NamedValue, Reference, Resource


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _named(items: list[dict[str, str]]) -> tuple[NamedValue, ...]:
    return tuple(NamedValue(**item) for item in items)


def alert_to_json(alert: Alert) -> dict[str, Any]:
    """A JSON-ready dict; :func:`alert_from_json` gives back an equal Alert."""

    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    return convert(asdict(alert))  # type: ignore[no-any-return]


def _area(data: dict[str, Any]) -> Area:
    return Area(
        description=data["description"],
        polygons=tuple(tuple((p[0], p[1]) for p in polygon) for polygon in data["polygons"]),
        circles=tuple(
            Circle(center=(c["center"][0], c["center"][1]), radius_km=c["radius_km"]) for c in data["circles"]
        ),
        geocodes=_named(data["geocodes"]),
        altitude=data.get("altitude"),
        ceiling=data.get("ceiling"),
    )


def _info(data: dict[str, Any]) -> Info:
    fields = dict(data)
    for key in ("effective", "onset", "expires"):
        fields[key] = _time(fields.get(key))
    fields["categories"] = tuple(fields["categories"])
    fields["response_types"] = tuple(fields["response_types"])
    fields["event_codes"] = _named(fields["event_codes"])
    fields["parameters"] = _named(fields["parameters"])
    fields["resources"] = tuple(Resource(**r) for r in fields["resources"])
    fields["areas"] = tuple(_area(a) for a in fields["areas"])
    return Info(**fields)


def alert_from_json(data: dict[str, Any]) -> Alert:
    fields = dict(data)
    fields["sent"] = datetime.fromisoformat(fields["sent"])
    for key in ("addresses", "codes", "incidents"):
        fields[key] = tuple(fields[key])
    fields["references"] = tuple(
        Reference(sender=r["sender"], identifier=r["identifier"], sent=datetime.fromisoformat(r["sent"]))
        for r in fields["references"]
    )
    fields["infos"] = tuple(_info(i) for i in fields["infos"])
    return Alert(**fields)
