"""Today's visits as a drivable order, each with "where they should be now" beside "where the
device is".

No monitoring vendor we surveyed plans the officer's day (domain.md); a nearest-neighbour tour
from the officer's office (or current location) is a good-enough route for a dozen home visits
and costs nothing to compute. The expectation comes from the participant's schedule: an
appointment happening now puts them at its place, an active curfew/inclusion window puts them in
that zone (usually home); otherwise no rule says where they must be.

Pure Python on plain data (no Qt, no database); times are naive UTC like the store. Each zone's
schedule is read in its own time zone (workstation.rules.schedule); `local_offset` only formats
appointment times for display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from workstation.rules.geo import distance_m
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE, window_in_effect_at

#: An appointment "happens now" from this long before its start until this long after it.
APPOINTMENT_WINDOW = timedelta(hours=1)
#: A device closer than this to the expected place is "there" (typical GPS accuracy in a city).
AT_PLACE_KM = 0.15


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return distance_m(lat1, lon1, lat2, lon2) / 1000.0


@dataclass(frozen=True, slots=True)
class ZoneRule:
    name: str
    kind: str  # inclusion | exclusion
    center_lat: float | None
    center_lon: float | None
    #: weekly windows ({"days", "start", "end"}, workstation.rules.schedule); empty = always
    schedule: tuple[Mapping[str, object], ...] = ()
    #: the IANA zone the schedule is written in (the agency's default already filled in)
    time_zone: str = DEFAULT_AGENCY_TIME_ZONE


@dataclass(frozen=True, slots=True)
class PlannedVisit:
    participant_id: str
    name: str
    case_number: str
    starts_at: datetime
    kind: str
    place: str
    lat: float | None
    lon: float | None
    home_lat: float | None = None
    home_lon: float | None = None
    device_lat: float | None = None
    device_lon: float | None = None
    fix_time: datetime | None = None
    zones: tuple[ZoneRule, ...] = ()
    other_appointments: tuple[tuple[datetime, str, str, float | None, float | None], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RouteStop:
    order: int
    visit: PlannedVisit
    leg_km: float | None
    expected: str
    expected_lat: float | None
    expected_lon: float | None
    device: str
    device_km_from_expected: float | None


def expected_place(
    visit: PlannedVisit, now_utc: datetime, local_offset: timedelta
) -> tuple[str, float | None, float | None]:
    """Where the schedule says the participant should be now: (words, lat, lon)."""
    appointments = [(visit.starts_at, visit.kind, visit.place, visit.lat, visit.lon), *visit.other_appointments]
    for starts_at, kind, place, lat, lon in sorted(appointments, key=lambda a: abs(a[0] - now_utc)):
        if abs(starts_at - now_utc) <= APPOINTMENT_WINDOW and kind != "home_visit":
            label = kind.replace("_", " ")
            when = (starts_at + local_offset).strftime("%H:%M")
            return f"At {place or label} ({label} {when})", lat, lon
    for zone in visit.zones:
        if zone.kind != "inclusion" or not zone.schedule:
            continue
        window = window_in_effect_at(zone.schedule, now_utc, zone.time_zone)
        if window is not None:
            return f"In {zone.name} ({window['start']}–{window['end']})", zone.center_lat, zone.center_lon
    return "No schedule rule now", None, None


def _device_words(visit: PlannedVisit, now_utc: datetime, lat: float | None, lon: float | None):
    if visit.device_lat is None or visit.device_lon is None or visit.fix_time is None:
        return "No fix", None
    age = format_age(now_utc - visit.fix_time)
    if lat is None or lon is None:
        return f"Fix {age} old", None
    km = distance_km(lat, lon, visit.device_lat, visit.device_lon)
    if km <= AT_PLACE_KM:
        return f"There (fix {age} old)", km
    return f"{km:.1f} km away (fix {age} old)", km


def format_age(age: timedelta) -> str:
    """"now", "4 min", "3 h", "2 d": the age words used everywhere a position is shown."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return "now" if seconds < 10 else f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def plan_route(
    visits: Sequence[PlannedVisit],
    start: tuple[float, float] | None,
    now_utc: datetime,
    local_offset: timedelta = timedelta(0),
) -> list[RouteStop]:
    """Nearest-neighbour order from `start` (office or officer location); visits without
    coordinates go last, in appointment-time order."""
    located = [v for v in visits if v.lat is not None and v.lon is not None]
    unlocated = sorted((v for v in visits if v.lat is None or v.lon is None), key=lambda v: v.starts_at)
    ordered: list[tuple[PlannedVisit, float | None]] = []
    here = start
    remaining = sorted(located, key=lambda v: (v.starts_at, v.participant_id))
    while remaining:
        if here is None:
            nxt, leg = remaining[0], None
        else:
            nxt = min(remaining, key=lambda v: distance_km(here[0], here[1], v.lat, v.lon))
            leg = distance_km(here[0], here[1], nxt.lat, nxt.lon)
        remaining.remove(nxt)
        ordered.append((nxt, leg))
        here = (nxt.lat, nxt.lon)
    ordered.extend((v, None) for v in unlocated)
    stops = []
    for index, (visit, leg) in enumerate(ordered, start=1):
        words, lat, lon = expected_place(visit, now_utc, local_offset)
        device, km = _device_words(visit, now_utc, lat, lon)
        stops.append(RouteStop(index, visit, leg, words, lat, lon, device, km))
    return stops
