"""What the page is given: bad devices, zones and track points are skipped and logged, never drawn."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from maps import layers


def device(**kw):
    base = {"device_id": "d1", "participant_id": "p1", "label": "Ada", "lat": 41.88, "lon": -87.63,
            "fix_time": "2026-11-23T18:00:00Z", "accuracy_m": 12.0, "state": "ok"}
    return {**base, **kw}


@pytest.mark.parametrize("lat,lon", [(math.nan, -87.6), (41.8, math.inf), (91.0, -87.6), (41.8, -181.0), ("x", 1)])
def test_invalid_fix_dropped_from_updates_and_positionless_in_snapshots(lat, lon, caplog):
    assert layers.clean_device(device(lat=lat, lon=lon), keep_without_position=False) is None
    kept = layers.clean_device(device(lat=lat, lon=lon))
    assert kept["lat"] is None and kept["lon"] is None and kept["state"] == "no_fix"
    assert "invalid fix" in caplog.text


def test_clean_device_normalises_times_and_rejects_missing_ids(caplog):
    naive = layers.clean_device(device(fix_time=datetime(2026, 11, 23, 18, 0)))
    assert naive["fix_time"] == "2026-11-23T18:00:00Z"
    offset = layers.clean_device(device(fix_time="2026-11-23T12:00:00-06:00"))
    assert offset["fix_time"] == "2026-11-23T18:00:00Z"
    assert layers.clean_device(device(accuracy_m=math.nan))["accuracy_m"] == 0.0
    assert layers.clean_device(device(state="weird"))["state"] == "stale"
    assert layers.clean_device({"lat": 1, "lon": 2}) is None
    assert "without device_id" in caplog.text


def test_undrawable_zones_are_listed_for_the_officer_and_logged_by_id_only(caplog):
    bowtie = [[41.88, -87.64], [41.89, -87.62], [41.88, -87.62], [41.89, -87.64]]
    square = [[41.88, -87.64], [41.89, -87.64], [41.89, -87.62], [41.88, -87.62]]
    zones, undrawable = layers.sort_zones([
        {"id": "z1", "name": "Bow", "kind": "exclusion", "shape": "polygon", "polygon": bowtie},
        {"id": "z2", "name": "Home", "kind": "inclusion", "shape": "polygon", "polygon": square},
        {"id": "z3", "name": "Bad circle", "kind": "inclusion", "shape": "circle", "center_lat": math.nan,
         "center_lon": -87.6, "radius_m": 100},
        {"id": "z4", "name": "Two points", "kind": "inclusion", "shape": "polygon", "polygon": square[:2]},
    ])
    assert [z["id"] for z in zones] == ["z2"]
    assert [(z["id"], z["name"], z["reason"]) for z in undrawable] == [
        ("z1", "Bow", "its boundary crosses itself"),
        ("z3", "Bad circle", "its centre or radius is invalid"),
        ("z4", "Two points", "its boundary needs at least 3 valid points"),
    ]
    assert "z1" in caplog.text and "z3" in caplog.text and "z4" in caplog.text
    assert "Bow" not in caplog.text and "Bad circle" not in caplog.text  # zone names are participant data


def test_polygon_checks():
    assert not layers.polygon_self_intersects([(0, 0), (0, 1), (1, 1), (1, 0)])
    assert not layers.polygon_self_intersects([(0, 0), (0, 1), (1, 1), (1, 0), (0, 0)])  # closed ring
    assert layers.polygon_self_intersects([(0, 0), (1, 1), (1, 0), (0, 1)])
    assert layers.polygon_self_intersects([(0, 0), (0, 2), (0, 1), (1, 1)])  # edge doubles back on itself


def test_zone_schedule_is_read_in_the_zones_time_zone():
    curfew = [{"days": [1, 2, 3, 4, 5], "start": "21:00", "end": "06:00"}]
    assert layers.schedule_text(curfew) == ["Mon–Fri 21:00–06:00"]
    zone = {"id": "c", "name": "Curfew", "kind": "inclusion", "shape": "circle", "center_lat": 41.88,
            "center_lon": -87.63, "radius_m": 150, "schedule": curfew, "time_zone": "America/Chicago"}
    monday_22_chicago = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # Monday 22:00 CST
    assert layers.clean_zones([zone], now=monday_22_chicago)[0]["active_now"] is True
    # the same instant in a zone written in Tokyo time is Tuesday 13:00 there: no curfew
    assert layers.clean_zones([{**zone, "time_zone": "Asia/Tokyo"}], now=monday_22_chicago)[0]["active_now"] is False
    # no time zone of its own: the agency default (Chicago)
    assert layers.clean_zones([{**zone, "time_zone": None}], now=monday_22_chicago)[0]["active_now"] is True


def test_track_stops_flags_and_bad_points(caplog):
    t0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    pts = []
    # 15 minutes at home (stop), a drive, a flagged drift fix, 5 minutes at a shop (too short for a stop)
    for i in range(16):
        pts.append({"fix_time": t0 + timedelta(minutes=i), "lat": 41.88 + 1e-5 * (i % 2), "lon": -87.63})
    for i in range(1, 6):
        pts.append({"fix_time": t0 + timedelta(minutes=15 + i), "lat": 41.88 + 0.003 * i, "lon": -87.63})
    pts.append({"fix_time": t0 + timedelta(minutes=21), "lat": 41.80, "lon": -87.63, "flags": ["drift"]})
    for i in range(5):
        pts.append({"fix_time": t0 + timedelta(minutes=22 + i), "lat": 41.895, "lon": -87.63})
    pts.append({"fix_time": t0, "lat": math.nan, "lon": -87.63})
    pts.append({"fix_time": "not a time", "lat": 41.88, "lon": -87.63})
    payload = layers.track_payload(
        list(reversed(pts)),
        alerts=[{"lat": 41.89, "lon": -87.63, "kind": "zone_exit", "severity": "high", "opened_at": t0},
                {"lat": None, "lon": None, "kind": "low_battery"}],
    )
    assert len(payload["points"]) == len(pts) - 2
    assert [p["t"] for p in payload["points"]] == sorted(p["t"] for p in payload["points"])
    assert len(payload["stops"]) == 1 and payload["stops"][0]["minutes"] == 15
    assert sum(1 for p in payload["points"] if p["flags"] == ["drift"]) == 1
    assert [a["kind"] for a in payload["alerts"]] == ["zone_exit"]
    assert "2 track positions" in caplog.text


def test_wire_rows_are_compact():
    d = layers.clean_device(device())
    assert layers.wire_row(d) == ["d1", "p1", "Ada", 41.88, -87.63, "2026-11-23T18:00:00Z", 12.0, "ok", 0]
    assert layers.wire_move(d) == ["d1", 41.88, -87.63, "2026-11-23T18:00:00Z", 12.0, "ok", 0]
    assert layers.in_bounds(d, (41.87, -87.64, 41.89, -87.62))
    assert not layers.in_bounds(d, (41.0, -88.0, 41.5, -87.9))
