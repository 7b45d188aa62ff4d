"""Targeting speed: a 500-vertex polygon, a circle and both together over 100,000 contacts.

Target: each case under 1 s on a 2-core machine. Run with ``uv run python bench/target.py``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from alertcast.core.cap_model import Area, Circle
from alertcast.core.targeting import ContactPoints, target_areas

CONTACTS = 100_000
VERTICES = 500
REPEATS = 5
# Bounding box of the contacts: roughly the size of a large county or small country.
LAT_RANGE = (34.0, 38.0)
LON_RANGE = (-122.0, -117.0)


def random_contacts(rng: np.random.Generator) -> ContactPoints:
    return ContactPoints(
        ids=np.arange(1, CONTACTS + 1, dtype=np.int64),
        lats=rng.uniform(*LAT_RANGE, CONTACTS),
        lons=rng.uniform(*LON_RANGE, CONTACTS),
    )


def wiggly_polygon(rng: np.random.Generator) -> tuple[tuple[float, float], ...]:
    """A star-shaped ring with noisy radii, like a hand-drawn warning polygon; CAP order (lat, lon)."""
    center_lat, center_lon = (sum(LAT_RANGE) / 2, sum(LON_RANGE) / 2)
    angles = np.linspace(0, 2 * math.pi, VERTICES, endpoint=False)
    radii = 1.2 + 0.4 * rng.uniform(-1, 1, VERTICES)
    ring = [
        (center_lat + r * math.sin(a), center_lon + r * math.cos(a))
        for a, r in zip(angles, radii, strict=True)
    ]
    return (*ring, ring[0])


def best_time(areas: list[Area], contacts: ContactPoints) -> tuple[float, int]:
    best, reached = math.inf, 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = target_areas(areas, contacts)
        best = min(best, time.perf_counter() - start)
        reached = int(result.ids.size)
    return best, reached


def main() -> None:
    rng = np.random.default_rng(20240501)
    contacts = random_contacts(rng)
    polygon = Area("polygon", polygons=(wiggly_polygon(rng),))
    circle = Area("circle", circles=(Circle((36.5, -118.0), 60.0),))
    print(f"{CONTACTS:,} contacts, {VERTICES}-vertex polygon, best of {REPEATS}")
    for name, areas in (
        ("polygon", [polygon]),
        ("circle", [circle]),
        ("polygon + circle", [polygon, circle]),
    ):
        seconds, reached = best_time(areas, contacts)
        verdict = "ok" if seconds < 1.0 else "SLOWER THAN 1 s TARGET"
        print(f"{name:>17}: {seconds * 1000:8.1f} ms  {reached:>7,} contacts reached  {verdict}")


if __name__ == "__main__":
    main()
