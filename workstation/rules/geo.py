"""Distance and point-in-zone on the WGS84 sphere (pure functions, no database)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _project(lat: float, lon: float, lat0: float) -> tuple[float, float]:
    """Local equirectangular metres; accurate to well under 1% across a city."""
    k = math.pi / 180 * EARTH_RADIUS_M
    return lon * k * math.cos(math.radians(lat0)), lat * k


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def polygon_signed_distance(lat: float, lon: float, ring: Sequence[Sequence[float]]) -> float:
    """Distance to the polygon's edge in metres, negative inside (ring as [[lat, lon], ...])."""
    px, py = _project(lat, lon, lat)
    pts = [_project(a, b, lat) for a, b in ring]
    inside = False
    edge = math.inf
    for i in range(len(pts)):
        ax, ay = pts[i]
        bx, by = pts[i - 1]
        if (ay > py) != (by > py) and px < (bx - ax) * (py - ay) / (by - ay) + ax:
            inside = not inside
        edge = min(edge, _segment_distance(px, py, ax, ay, bx, by))
    return -edge if inside else edge


def zone_signed_distance(zone: Any, lat: float, lon: float) -> float:
    """Signed distance (m) from a zone's edge: negative inside, positive outside.

    `zone` is anything with `shape` ("circle" | "polygon"), `center_lat`, `center_lon`, `radius_m`
    and `polygon` attributes: a server row, a wire model or a client snapshot alike.
    """
    if zone.shape == "circle":
        return float(distance_m(lat, lon, zone.center_lat, zone.center_lon) - zone.radius_m)
    return polygon_signed_distance(lat, lon, zone.polygon)


def point_in_zone(zone: Any, lat: float, lon: float) -> bool:
    return zone_signed_distance(zone, lat, lon) < 0
