"""Geometry and schedule predicates for the rules engine (pure functions, no database)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

EARTH_RADIUS_M = 6_371_008.8

try:
    from zoneinfo import ZoneInfo

    AGENCY_TZ: tzinfo = ZoneInfo("America/Chicago")
except Exception:  # noqa: BLE001 - no tz database (minimal OS image): fall back to standard time
    AGENCY_TZ = timezone(timedelta(hours=-6), "CST")


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
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
    """Distance to the polygon's edge in metres, negative inside."""
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
    """Signed distance (m) from a zone's edge: negative inside, positive outside."""
    if zone.shape == "circle":
        return distance_m(lat, lon, zone.center_lat, zone.center_lon) - zone.radius_m
    return polygon_signed_distance(lat, lon, zone.polygon)


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:5])


def schedule_active(schedule: Sequence[dict[str, Any]], at_utc: datetime) -> bool:
    """True when a zone rule applies at this moment; an empty schedule means always.

    Windows are weekly, in the agency's local time; a window whose end is before its start runs past
    midnight and belongs to the day it started on.
    """
    if not schedule:
        return True
    local = (at_utc if at_utc.tzinfo else at_utc.replace(tzinfo=UTC)).astimezone(AGENCY_TZ)
    now_min = local.hour * 60 + local.minute
    today = local.isoweekday()
    yesterday = 7 if today == 1 else today - 1
    for window in schedule:
        start, end = _minutes(window["start"]), _minutes(window["end"])
        days = window["days"]
        if start <= end:
            if today in days and start <= now_min < end:
                return True
        else:
            if (today in days and now_min >= start) or (yesterday in days and now_min < end):
                return True
    return False
