"""The typed CAP model to and from plain JSON values.

The store keeps each alert's normalised model beside its raw XML so rendering and targeting never parse
XML again; this is the one place that knows how the model looks as JSON (times as ISO 8601 text).
``alert_to_json`` returns values ``json.dumps`` writes directly (tuples stand for arrays).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from alertcast.core.cap_model import Alert, Area, Circle, Info, NamedValue, Reference, Resource


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _named(items: list[dict[str, str]]) -> tuple[NamedValue, ...]:
    return tuple(NamedValue(**item) for item in items)


def _named_json(items: tuple[NamedValue, ...]) -> list[dict[str, str]]:
    return [{"name": n.name, "value": n.value} for n in items]


def _time_json(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _area_json(area: Area) -> dict[str, Any]:
    return {
        "description": area.description,
        # Tuples as they are: JSON writes them as the same arrays, and copying the points of a national
        # polygon (thousands of them) into lists was most of the cost of storing an alert.
        "polygons": area.polygons,
        "circles": [{"center": list(c.center), "radius_km": c.radius_km} for c in area.circles],
        "geocodes": _named_json(area.geocodes),
        "altitude": area.altitude,
        "ceiling": area.ceiling,
    }


def _info_json(info: Info) -> dict[str, Any]:
    data: dict[str, Any] = {f.name: getattr(info, f.name) for f in fields(Info)}
    for key in ("effective", "onset", "expires"):
        data[key] = _time_json(data[key])
    data["categories"] = list(info.categories)
    data["response_types"] = list(info.response_types)
    data["event_codes"] = _named_json(info.event_codes)
    data["parameters"] = _named_json(info.parameters)
    data["resources"] = [{f.name: getattr(r, f.name) for f in fields(Resource)} for r in info.resources]
    data["areas"] = [_area_json(a) for a in info.areas]
    return data


def alert_to_json(alert: Alert) -> dict[str, Any]:
    """A JSON-ready dict; :func:`alert_from_json` gives back an equal Alert.

    Written out field by field rather than with ``dataclasses.asdict``, which deep-copies every point of
    every polygon through generic recursion and cost milliseconds per alert on national-scale areas.
    """
    data: dict[str, Any] = {f.name: getattr(alert, f.name) for f in fields(Alert)}
    data["sent"] = alert.sent.isoformat()
    for key in ("addresses", "codes", "incidents"):
        data[key] = list(data[key])
    data["references"] = [
        {"sender": r.sender, "identifier": r.identifier, "sent": r.sent.isoformat()} for r in alert.references
    ]
    data["infos"] = [_info_json(i) for i in alert.infos]
    return data


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
