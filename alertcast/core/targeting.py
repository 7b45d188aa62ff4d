"""Which contacts an alert's areas reach: point-in-polygon, point-in-circle and geocode matches.

Contacts arrive as plain arrays (:class:`ContactPoints`) so that 100,000 of them are tested in one vectorised
pass instead of one Python call each. Geometry rules, chosen so that nobody on an edge is left out:

- Polygons: a contact on the boundary counts as inside (shapely ``intersects_xy``). CAP writes points as
  ``lat,lon``; shapely's x is longitude. Rings are closed if the sender forgot; self-intersecting rings
  are repaired with ``make_valid`` rather than refused, since the sender's intent is an area.
- A polygon whose consecutive vertices jump more than 180° in longitude is read as crossing the
  antimeridian and is tested in 0..360° longitudes. Polygons that enclose a pole are not supported.
- Circles: great-circle (haversine) distance on a sphere of the WGS 84 mean radius, 6371.0088 km,
  ≤ radius. The error against the ellipsoid is below 0.5 %, far less than any warning area's own precision.
- Geocodes: a contact tagged with the same name (case-insensitive: "SAME" = "same") and the same value
  (exact, surrounding spaces ignored: "006113" is not "6113").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from alertcast.core.cap_model import Alert, Area, Circle, NamedValue, Point

EARTH_MEAN_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class ContactPoints:
    """Located contacts: ``ids[i]`` lives at ``lats[i]``, ``lons[i]`` (degrees). NaN means "no location"."""

    ids: NDArray[np.int64]
    lats: NDArray[np.float64]
    lons: NDArray[np.float64]

    def __post_init__(self) -> None:
        if not (self.ids.shape == self.lats.shape == self.lons.shape) or self.ids.ndim != 1:
            raise ValueError(
                f"ids, lats and lons must be 1-D arrays of one length, got shapes "
                f"{self.ids.shape}, {self.lats.shape}, {self.lons.shape}"
            )
        with np.errstate(invalid="ignore"):
            bad = (np.abs(self.lats) > 90) | (np.abs(self.lons) > 180)
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"contact {self.ids[index]} has coordinates out of range: "
                f"lat {self.lats[index]}, lon {self.lons[index]}"
            )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, float | None, float | None]]) -> ContactPoints:
        """From ``(id, lat, lon)`` rows, as a query returns them; None coordinates become NaN."""
        listed = list(rows)
        ids = np.array([row[0] for row in listed], dtype=np.int64)
        lats = np.array([np.nan if row[1] is None else row[1] for row in listed], dtype=np.float64)
        lons = np.array([np.nan if row[2] is None else row[2] for row in listed], dtype=np.float64)
        return cls(ids, lats, lons)

    @classmethod
    def empty(cls) -> ContactPoints:
        return cls(np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.float64))


def _geocode_key(name: str, value: str) -> tuple[str, str]:
    return name.strip().casefold(), value.strip()


@dataclass(frozen=True, slots=True)
class GeocodeIndex:
    """Contacts by geocode tag, built once per targeting run."""

    by_code: Mapping[tuple[str, str], frozenset[int]] = field(default_factory=dict)

    @classmethod
    def from_tags(cls, tags: Mapping[int, Iterable[NamedValue | tuple[str, str]]]) -> GeocodeIndex:
        """From each contact's tags, e.g. ``{17: [NamedValue("SAME", "006113")]}``."""
        index: dict[tuple[str, str], set[int]] = {}
        for contact_id, contact_tags in tags.items():
            for tag in contact_tags:
                name, value = (tag.name, tag.value) if isinstance(tag, NamedValue) else tag
                index.setdefault(_geocode_key(name, value), set()).add(contact_id)
        return cls({key: frozenset(ids) for key, ids in index.items()})

    def lookup(self, geocode: NamedValue) -> frozenset[int]:
        return self.by_code.get(_geocode_key(geocode.name, geocode.value), frozenset())


@dataclass(frozen=True, slots=True)
class TargetResult:
    ids: NDArray[np.int64]
    """Distinct contact ids reached by any area, ascending."""
    per_area: tuple[int, ...]
    """Contacts reached by each area on its own (they may overlap), for the operator's preview."""


def _crosses_antimeridian(lons: NDArray[np.float64]) -> bool:
    return bool(len(lons) > 1 and np.any(np.abs(np.diff(lons)) > 180))


def _polygon_geometry(polygon: tuple[Point, ...], area_name: str) -> tuple[BaseGeometry, bool]:
    """The shapely geometry (x = lon, y = lat) and whether it lives in 0..360° longitudes."""
    coordinates = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    lats, lons = coordinates[:, 0], coordinates[:, 1]
    if len(np.unique(coordinates, axis=0)) < 3:
        raise ValueError(
            f"area {area_name!r}: a polygon needs at least 3 distinct points, got {len(polygon)}"
        )
    wrapped = _crosses_antimeridian(lons)
    if wrapped:
        lons = np.mod(lons, 360.0)
    geometry = shapely.make_valid(shapely.Polygon(np.column_stack((lons, lats))))
    shapely.prepare(geometry)
    return geometry, wrapped


def points_in_polygon(
    polygon: tuple[Point, ...], lats: NDArray[np.float64], lons: NDArray[np.float64], *, area_name: str = ""
) -> NDArray[np.bool_]:
    """Mask of the points inside ``polygon`` (CAP ``(lat, lon)`` vertices) or on its boundary."""
    geometry, wrapped = _polygon_geometry(polygon, area_name)
    test_lons = np.mod(lons, 360.0) if wrapped else lons
    min_x, min_y, max_x, max_y = geometry.bounds
    with np.errstate(invalid="ignore"):
        candidates = (test_lons >= min_x) & (test_lons <= max_x) & (lats >= min_y) & (lats <= max_y)
    mask = np.zeros(lats.shape, dtype=bool)
    where = np.flatnonzero(candidates)
    if where.size:
        mask[where] = shapely.intersects_xy(geometry, test_lons[where], lats[where])
    return mask


def haversine_km(
    lat: float, lon: float, lats: NDArray[np.float64], lons: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Great-circle distances in km from one point to many, on the WGS 84 mean-radius sphere."""
    phi1, phi2 = np.radians(lat), np.radians(lats)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = np.radians(lons - lon) / 2
    a = np.sin(half_dphi) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(half_dlambda) ** 2
    return 2 * EARTH_MEAN_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def points_in_circle(
    circle: Circle, lats: NDArray[np.float64], lons: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Mask of the points within the circle's radius of its centre (NaN points are outside)."""
    if circle.radius_km < 0:
        raise ValueError(f"circle radius must not be negative, got {circle.radius_km} km")
    lat, lon = circle.center
    with np.errstate(invalid="ignore"):
        return haversine_km(lat, lon, lats, lons) <= circle.radius_km


def area_mask(area: Area, points: ContactPoints) -> NDArray[np.bool_]:
    """Mask of the located contacts inside any polygon or circle of ``area``."""
    mask = np.zeros(points.ids.shape, dtype=bool)
    for polygon in area.polygons:
        mask |= points_in_polygon(polygon, points.lats, points.lons, area_name=area.description)
    for circle in area.circles:
        mask |= points_in_circle(circle, points.lats, points.lons)
    return mask


def target_areas(
    areas: Iterable[Area], points: ContactPoints, geocodes: GeocodeIndex | None = None
) -> TargetResult:
    """Contacts inside any of ``areas`` by location, or tagged with one of their geocodes; no duplicates."""
    reached = np.zeros(points.ids.shape, dtype=bool)
    tagged: set[int] = set()
    per_area: list[int] = []
    for area in areas:
        mask = area_mask(area, points)
        area_tagged: set[int] = set()
        if geocodes is not None:
            for geocode in area.geocodes:
                area_tagged |= geocodes.lookup(geocode)
        located_ids = points.ids[mask]
        per_area.append(len(area_tagged.union(located_ids.tolist())))
        reached |= mask
        tagged |= area_tagged
    ids = np.union1d(points.ids[reached], np.fromiter(tagged, dtype=np.int64, count=len(tagged)))
    return TargetResult(ids=ids.astype(np.int64), per_area=tuple(per_area))


def alert_areas(alert: Alert) -> tuple[Area, ...]:
    """The distinct areas of all info blocks: translations usually repeat the same areas."""
    return tuple(dict.fromkeys(area for info in alert.infos for area in info.areas))


def target_alert(alert: Alert, points: ContactPoints, geocodes: GeocodeIndex | None = None) -> TargetResult:
    return target_areas(alert_areas(alert), points, geocodes)
