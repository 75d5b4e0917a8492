"""Schedules are read in each zone's own time zone, never the laptop's (workstation.rules.schedule)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workstation import protocol as p
from workstation.config import load_config
from workstation.rules.schedule import (
    UnknownTimeZone,
    effective_time_zone,
    local_time,
    participant_time_zone,
    schedule_in_effect,
    time_zone,
    window_in_effect_at,
)

ROOT = Path(__file__).resolve().parents[2]
CURFEW = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "21:00", "end": "06:00"}]
WEEKNIGHTS = [{"days": [1, 2, 3, 4, 5], "start": "21:00", "end": "06:00"}]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_curfew_across_midnight_belongs_to_the_day_it_started():
    chicago = "America/Chicago"
    assert schedule_in_effect(WEEKNIGHTS, utc(2026, 11, 24, 4, 0), chicago)  # Mon 22:00 CST
    assert schedule_in_effect(WEEKNIGHTS, utc(2026, 11, 24, 11, 0), chicago)  # Tue 05:00, Monday's window
    assert not schedule_in_effect(WEEKNIGHTS, utc(2026, 11, 24, 12, 0), chicago)  # Tue 06:00: ended
    assert not schedule_in_effect(WEEKNIGHTS, utc(2026, 11, 23, 9, 0), chicago)  # Mon 03:00: Sunday's, not listed
    assert schedule_in_effect(WEEKNIGHTS, utc(2026, 11, 28, 4, 0), chicago)  # Fri 22:00 CST
    assert not schedule_in_effect(WEEKNIGHTS, utc(2026, 11, 29, 4, 0), chicago)  # Sat 22:00 CST: not listed
    assert schedule_in_effect([], utc(2026, 11, 24, 12, 0), chicago)  # empty schedule: always


def test_the_same_instant_in_three_zones():
    at = utc(2026, 11, 24, 4, 0)  # Mon 22:00 in Chicago, Tue 04:00 in UTC, Tue 13:00 in Tokyo
    assert schedule_in_effect(CURFEW, at, "America/Chicago")
    assert schedule_in_effect(CURFEW, at, "UTC")
    assert not schedule_in_effect(CURFEW, at, "Asia/Tokyo")
    assert local_time(at, "Asia/Tokyo").hour == 13
    # naive datetimes are UTC, as both stores keep them
    assert schedule_in_effect(CURFEW, at.replace(tzinfo=None), "America/Chicago")


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # 2026-03-08, clocks spring forward at 02:00 CST -> 03:00 CDT (UTC-5 from 08:00 UTC)
        (utc(2026, 3, 8, 10, 30), True),  # 05:30 CDT: curfew until 06:00
        (utc(2026, 3, 8, 11, 30), False),  # 06:30 CDT (a fixed UTC-6 would say 05:30 and keep it on)
        (utc(2026, 3, 8, 2, 30), False),  # Sat 20:30 CST: before 21:00
        # 2026-11-01, clocks fall back at 02:00 CDT -> 01:00 CST (UTC-6 from 07:00 UTC)
        (utc(2026, 11, 1, 6, 30), True),  # 01:30 CDT
        (utc(2026, 11, 1, 7, 30), True),  # 01:30 CST, the repeated hour
        (utc(2026, 11, 1, 11, 30), True),  # 05:30 CST (a fixed UTC-5 would say 06:30 and end it)
        (utc(2026, 11, 1, 12, 30), False),  # 06:30 CST
    ],
)
def test_dst_change_days(instant, expected):
    assert schedule_in_effect(CURFEW, instant, "America/Chicago") is expected


def test_window_in_effect_names_the_window():
    schedule = [{"days": [6, 7], "start": "10:00", "end": "12:00"}, *WEEKNIGHTS]
    window = window_in_effect_at(schedule, utc(2026, 11, 24, 4, 0), "America/Chicago")
    assert window == WEEKNIGHTS[0]
    assert window_in_effect_at(schedule, utc(2026, 11, 24, 18, 0), "America/Chicago") is None


def test_unknown_zones_are_refused_everywhere():
    for bad in ("Mars/Olympus", "", " America/Chicago", "../etc/passwd", "/etc/localtime", None):
        with pytest.raises(UnknownTimeZone):
            time_zone(bad)  # type: ignore[arg-type]
    base = {"id": "z", "participant_id": "p", "name": "Home", "kind": "inclusion", "shape": "circle",
            "center_lat": 41.9, "center_lon": -87.6, "radius_m": 100}
    assert p.ZoneData.model_validate({**base, "time_zone": "America/Chicago"}).time_zone == "America/Chicago"
    assert p.ZoneData.model_validate(base).time_zone is None
    with pytest.raises(ValueError, match="IANA"):
        p.ZoneData.model_validate({**base, "time_zone": "Mars/Olympus"})


def test_agency_default_from_configuration(tmp_path):
    assert effective_time_zone(None, "America/Denver") == "America/Denver"
    assert effective_time_zone("America/Chicago", "America/Denver") == "America/Chicago"
    assert load_config(home=tmp_path, system_path=tmp_path / "none", environ={}).agency_time_zone == "America/Chicago"
    (tmp_path / "config.toml").write_text('agency_time_zone = "America/Denver"\n')
    assert load_config(home=tmp_path, system_path=tmp_path / "none", environ={}).agency_time_zone == "America/Denver"
    (tmp_path / "config.toml").write_text('agency_time_zone = "Chicago"\n')
    config = load_config(home=tmp_path, system_path=tmp_path / "none", environ={})
    assert config.agency_time_zone == "America/Chicago" and "agency_time_zone" in config.problems[0]


def test_participant_time_zone_follows_their_zones():
    assert participant_time_zone([None, None], "America/Denver") == "America/Denver"
    assert participant_time_zone(["America/Chicago", None], "America/Denver") == "America/Chicago"
    assert participant_time_zone(["Asia/Tokyo", "America/Chicago", "America/Chicago"]) == "America/Chicago"


_EVERY_END = r"""
import json
from datetime import UTC, datetime, timedelta
from maps.layers import clean_zones
from workstation.route import PlannedVisit, ZoneRule, plan_route
from workstation.rules.schedule import schedule_in_effect
curfew = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "21:00", "end": "06:00"}]
out = {}
for label, at in (("chicago_22h", datetime(2026, 11, 24, 4, 0, tzinfo=UTC)),
                  ("chicago_noon", datetime(2026, 11, 24, 18, 0, tzinfo=UTC))):
    zone = {"id": "z", "name": "Home", "kind": "inclusion", "shape": "circle", "center_lat": 41.9,
            "center_lon": -87.6, "radius_m": 100, "schedule": curfew, "time_zone": "America/Chicago"}
    rule = ZoneRule("Home", "inclusion", 41.9, -87.6, tuple(curfew), "America/Chicago")
    naive = at.replace(tzinfo=None)
    visit = PlannedVisit("p", "P", "C-1", naive + timedelta(hours=5), "home_visit", "home", 41.9, -87.6,
                         zones=(rule,))
    out[label] = {
        "rule": schedule_in_effect(curfew, at, "America/Chicago"),
        "map": clean_zones([zone], now=at)[0]["active_now"],
        "route": plan_route([visit], None, naive).stops[0].expected,
    }
print(json.dumps(out, sort_keys=True))
"""


def test_every_end_gives_the_same_answer_whatever_the_laptops_zone():
    outputs = {}
    for laptop_tz in ("UTC", "Asia/Tokyo", "America/Chicago"):
        env = {**os.environ, "TZ": laptop_tz}
        done = subprocess.run([sys.executable, "-c", _EVERY_END], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=120, check=True)
        outputs[laptop_tz] = json.loads(done.stdout)
    assert outputs["UTC"] == outputs["Asia/Tokyo"] == outputs["America/Chicago"]
    assert outputs["UTC"]["chicago_22h"] == {"rule": True, "map": True, "route": "In Home (21:00–06:00)"}
    assert outputs["UTC"]["chicago_noon"] == {"rule": False, "map": False, "route": "No schedule rule now"}
