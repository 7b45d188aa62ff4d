"""Targeting: known inside/outside points, circles, geocodes, and polygons against an independent test."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertcast.core.cap_model import Alert, Area, Circle, Info, NamedValue
from alertcast.core.targeting import (
    ContactPoints,
    GeocodeIndex,
    haversine_km,
    points_in_circle,
    points_in_polygon,
    target_alert,
    target_areas,
)

# CAP order: (lat, lon). A box from lat 10..20 and lon 30..40, closed as CAP requires.
BOX = ((10.0, 30.0), (10.0, 40.0), (20.0, 40.0), (20.0, 30.0), (10.0, 30.0))


def contacts(*points: tuple[float, float]) -> ContactPoints:
    return ContactPoints.from_rows((index + 1, lat, lon) for index, (lat, lon) in enumerate(points))


def inside(polygon: tuple[tuple[float, float], ...], *points: tuple[float, float]) -> list[bool]:
    located = contacts(*points)
    return points_in_polygon(polygon, located.lats, located.lons).tolist()


def test_polygon_inside_outside_and_axis_order() -> None:
    assert inside(BOX, (15, 35), (25, 35), (35, 15), (15, 45)) == [True, False, False, False]


def test_polygon_boundary_and_vertices_count_as_inside() -> None:
    assert inside(BOX, (10, 35), (20, 40), (15, 30)) == [True, True, True]


def test_unclosed_ring_is_closed() -> None:
    assert inside(BOX[:-1], (15, 35), (25, 35)) == [True, False]


def test_self_intersecting_ring_keeps_both_lobes() -> None:
    bow_tie = ((0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0), (0.0, 0.0))
    # x = lon, y = lat: the diagonals cross at (5, 5), leaving a lobe below and a lobe above it.
    assert inside(bow_tie, (1, 5), (9, 5), (5, 2), (5, 8)) == [True, True, False, False]


def test_polygon_across_the_antimeridian() -> None:
    fiji = ((-20.0, 170.0), (-20.0, -170.0), (-10.0, -170.0), (-10.0, 170.0), (-20.0, 170.0))
    points = ((-15, 179.5), (-15, -179.5), (-15, 180), (-15, 0), (-15, 160), (-15, -160), (-25, 179))
    assert inside(fiji, *points) == [True, True, True, False, False, False, False]


def test_degenerate_polygon_is_refused_with_its_area_name() -> None:
    area = Area("Line county", polygons=(((1.0, 1.0), (2.0, 2.0), (1.0, 1.0), (1.0, 1.0)),))
    with pytest.raises(ValueError, match=r"'Line county'.*3 distinct points"):
        target_areas([area], contacts((1, 1)))


def test_haversine_known_distance() -> None:
    # Paris to London: 343.5 km on the mean-radius sphere (ellipsoidal distance 343.9 km).
    distance = haversine_km(48.8566, 2.3522, np.array([51.5074]), np.array([-0.1278]))[0]
    assert distance == pytest.approx(343.5, abs=0.5)
    # A quarter meridian is a quarter of the sphere's circumference.
    assert haversine_km(0, 0, np.array([90.0]), np.array([0.0]))[0] == pytest.approx(math.pi * 6371.0088 / 2)


def test_circle_edges_and_antimeridian() -> None:
    one_degree_km = 2 * math.pi * 6371.0088 / 360
    located = contacts((0, 0.99), (0, 1.01), (0.7, 0.7), (0, -0.5), (float("nan"), 0.0))
    mask = points_in_circle(Circle((0.0, 0.0), one_degree_km), located.lats, located.lons)
    assert mask.tolist() == [True, False, True, True, False]
    across = contacts((0, -179.5), (0, 177.5))  # 111 km and 222 km away
    assert points_in_circle(Circle((0.0, 179.5), 200.0), across.lats, across.lons).tolist() == [True, False]
    with pytest.raises(ValueError, match="negative"):
        points_in_circle(Circle((0.0, 0.0), -1.0), located.lats, located.lons)


def test_geocodes_locations_and_dedup() -> None:
    located = contacts((15, 35), (25, 35), (15, 36), (float("nan"), float("nan")))
    geocodes = GeocodeIndex.from_tags(
        {
            1: [NamedValue("SAME", "006113")],  # also inside the box: counted once
            2: [("same", " 006113 ")],  # name case and surrounding spaces do not matter
            4: [NamedValue("UGC", "CAZ017")],  # no location at all, reached by its tag
            99: [NamedValue("SAME", "6113")],  # the value must match exactly
        }
    )
    area = Area(
        "Yolo",
        polygons=(BOX,),
        geocodes=(NamedValue("SAME", "006113"), NamedValue("ugc", "CAZ017")),
    )
    result = target_areas([area], located, geocodes)
    assert result.ids.tolist() == [1, 2, 3, 4]
    assert result.per_area == (4,)


def test_several_areas_overlap_counted_per_area_once_in_total() -> None:
    located = contacts((15, 35), (15, 39.5), (30, 30))
    box_area = Area("box", polygons=(BOX,))
    circle_area = Area("circle", circles=(Circle((15.0, 39.0), 100.0),))
    result = target_areas([box_area, circle_area], located)
    assert result.ids.tolist() == [1, 2]
    assert result.per_area == (2, 1)
    assert target_areas([], located).ids.size == 0
    assert target_areas([box_area], ContactPoints.empty()).ids.size == 0


def test_target_alert_reads_each_distinct_area_once() -> None:
    area = Area("box", polygons=(BOX,))
    infos = tuple(
        Info(
            language=language,
            categories=("Met",),
            event="Flood",
            urgency="Immediate",
            severity="Severe",
            certainty="Observed",
            areas=(area,),
        )
        for language in ("en", "fr")
    )
    alert = Alert("id", "sender", datetime(2024, 1, 1, tzinfo=UTC), "Actual", "Alert", "Public", infos=infos)
    result = target_alert(alert, contacts((15, 35), (0, 0)))
    assert (result.ids.tolist(), result.per_area) == ([1], (1,))


def test_contact_points_are_validated() -> None:
    with pytest.raises(ValueError, match="one length"):
        ContactPoints(np.arange(2), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"contact 2 has coordinates out of range: lat 91\.0"):
        contacts((0, 0), (91, 0))


def ray_casting_inside(polygon: list[tuple[float, float]], lat: float, lon: float) -> bool:
    """The textbook even-odd test, written out in Python: an independent check of the vectorised path."""
    result = False
    for (lat1, lon1), (lat2, lon2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (lat1 > lat) != (lat2 > lat):
            crossing = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
            if lon < crossing:
                result = not result
    return result


def star_polygon(rays: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Vertex i at angle (i + jitter) of n equal sectors: each sector is under 180°, so the ring is simple."""
    sector = 2 * math.pi / len(rays)
    return [
        (5 + radius * math.sin((i + jitter) * sector), -60 + radius * math.cos((i + jitter) * sector))
        for i, (jitter, radius) in enumerate(rays)
    ]


star_polygons = st.lists(st.tuples(st.floats(0, 0.99), st.floats(0.5, 10)), min_size=5, max_size=40).map(
    star_polygon
)


@settings(max_examples=100)
@given(star_polygons, st.integers(0, 2**32 - 1))
def test_polygon_agrees_with_ray_casting(polygon: list[tuple[float, float]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    lats = rng.uniform(-6, 16, 300)
    lons = rng.uniform(-71, -49, 300)
    mask = points_in_polygon(tuple(polygon), lats, lons)
    for index in range(lats.size):
        assert mask[index] == ray_casting_inside(polygon, float(lats[index]), float(lons[index]))
