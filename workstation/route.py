"""Today's visits as the officer's day: in appointment-time order with the travel between them,
each with "where they should be now" beside "where the device is".

An appointment has a time: the day is driven in that order, from the office (or the officer's
location), each leg with its straight-line distance and an estimated driving time, and a stop the
officer cannot reach in time (the previous visit plus the drive) is flagged. Visits whose time
has passed are listed but not driven. Office check-ins are the participant coming to the office,
not a stop: they are returned apart (RoutePlan.checkins), never as 0 km legs.

The expectation comes from the participant's schedule: an appointment happening now puts them at
its place, an active curfew/inclusion window puts them in that zone (usually home); otherwise no
rule says where they must be.

Pure Python on plain data (no Qt, no database); times are naive UTC like the store. Each zone's
schedule is read in its own time zone (workstation.rules.schedule); times are shown in the
participant's zone (workstation.local_time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from workstation.local_time import local_text
from workstation.rules.geo import distance_m
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE, window_in_effect_at

#: An appointment "happens now" from this long before its start until this long after it.
APPOINTMENT_WINDOW = timedelta(hours=1)
#: A device closer than this to the expected place is "there" (typical GPS accuracy in a city).
AT_PLACE_KM = 0.15
#: Driving estimate for a straight-line leg: city streets add about a third to the crow's distance,
#: and a car averages about 25 km/h in central Chicago traffic.
DETOUR_FACTOR = 1.3
CITY_SPEED_KMH = 25.0
#: How long the officer spends at a stop before driving on.
VISIT_DURATION = timedelta(minutes=30)
#: Appointment kinds the officer drives to; an office check-in is the participant coming in.
DRIVEN_KINDS = ("home_visit", "court_hearing")


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
    #: the participant's time zone (times are shown in it)
    time_zone: str = DEFAULT_AGENCY_TIME_ZONE


@dataclass(frozen=True, slots=True)
class RouteStop:
    order: int  # 1, 2, ... in driving order; 0 for a visit whose time has passed
    visit: PlannedVisit
    leg_km: float | None
    expected: str
    expected_lat: float | None
    expected_lon: float | None
    device: str
    device_km_from_expected: float | None
    #: estimated driving minutes of the leg to this stop (None: not driven, or no coordinates)
    travel_min: int | None = None
    #: the officer cannot be there at the appointment time (previous stop + drive, or now + drive)
    late: bool = False

    @property
    def past(self) -> bool:
        return self.order == 0


@dataclass(frozen=True, slots=True)
class RoutePlan:
    stops: tuple[RouteStop, ...]  # visits already past first, then the day ahead in time order
    checkins: tuple[PlannedVisit, ...]  # office check-ins, in time order, apart from the route
    start: tuple[float, float] | None

    @property
    def total_km(self) -> float:
        return sum(s.leg_km or 0.0 for s in self.stops)

    def path(self) -> list[tuple[float, float]]:
        """Where the officer drives: the start, then each stop ahead, in order (for the map)."""
        points = [self.start] if self.start is not None else []
        points += [(s.visit.lat, s.visit.lon) for s in self.stops
                   if not s.past and s.visit.lat is not None and s.visit.lon is not None]
        return points


def travel_minutes(km: float) -> int:
    return max(1, round(km * DETOUR_FACTOR / CITY_SPEED_KMH * 60))


def expected_place(visit: PlannedVisit, now_utc: datetime) -> tuple[str, float | None, float | None]:
    """Where the schedule says the participant should be now: (words, lat, lon)."""
    appointments = [(visit.starts_at, visit.kind, visit.place, visit.lat, visit.lon), *visit.other_appointments]
    for starts_at, kind, place, lat, lon in sorted(appointments, key=lambda a: abs(a[0] - now_utc)):
        if abs(starts_at - now_utc) <= APPOINTMENT_WINDOW and kind != "home_visit":
            label = kind.replace("_", " ")
            return f"At {place or label} ({label} {local_text(starts_at, visit.time_zone)})", lat, lon
    for zone in visit.zones:
        if zone.kind != "inclusion" or not zone.schedule:
            continue
        window = window_in_effect_at(zone.schedule, now_utc, zone.time_zone)
        if window is not None:
            return f"In {zone.name} ({window['start']}–{window['end']})", zone.center_lat, zone.center_lon
    return "No schedule rule now", None, None


def _device_words(
    visit: PlannedVisit, now_utc: datetime, lat: float | None, lon: float | None
) -> tuple[str, float | None]:
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


def plan_route(visits: Sequence[PlannedVisit], start: tuple[float, float] | None, now_utc: datetime) -> RoutePlan:
    """The day in appointment-time order from `start` (office or officer location); see the module
    docstring. Visits without coordinates stay in time order with no leg."""
    checkins = tuple(sorted((v for v in visits if v.kind not in DRIVEN_KINDS), key=_by_time))
    driven = sorted((v for v in visits if v.kind in DRIVEN_KINDS), key=_by_time)
    past = [v for v in driven if v.starts_at < now_utc - APPOINTMENT_WINDOW]
    ahead = [v for v in driven if v.starts_at >= now_utc - APPOINTMENT_WINDOW]
    stops = [_stop(0, v, now_utc, None, None, False) for v in past]
    here, free_at = start, now_utc
    for order, visit in enumerate(ahead, start=1):
        leg = travel = None
        if here is not None and visit.lat is not None and visit.lon is not None:
            leg = distance_km(here[0], here[1], visit.lat, visit.lon)
            travel = travel_minutes(leg)
        arrival = free_at + timedelta(minutes=travel or 0)
        late = arrival > visit.starts_at + timedelta(minutes=5)
        stops.append(_stop(order, visit, now_utc, leg, travel, late))
        if visit.lat is not None and visit.lon is not None:
            here = (visit.lat, visit.lon)
        free_at = max(arrival, visit.starts_at) + VISIT_DURATION
    return RoutePlan(tuple(stops), checkins, start)


def _by_time(visit: PlannedVisit) -> tuple[datetime, str]:
    return visit.starts_at, visit.participant_id


def _stop(order: int, visit: PlannedVisit, now_utc: datetime, leg: float | None, travel: int | None,
          late: bool) -> RouteStop:
    words, lat, lon = expected_place(visit, now_utc)
    device, km = _device_words(visit, now_utc, lat, lon)
    return RouteStop(order, visit, leg, words, lat, lon, device, km, travel, late)


def route_payload(plan: RoutePlan) -> dict[str, Any]:
    """The route as plain data for the map (maps.layers.clean_route checks it): the driven path and
    each stop ahead with its number, local time and whether it is late."""
    stops = [
        {"lat": s.visit.lat, "lon": s.visit.lon, "order": s.order, "late": s.late,
         "label": f"{s.order}. {local_text(s.visit.starts_at, s.visit.time_zone)} {s.visit.name}"}
        for s in plan.stops if not s.past and s.visit.lat is not None and s.visit.lon is not None
    ]
    return {"path": [list(p) for p in plan.path()], "stops": stops,
            "start": list(plan.start) if plan.start is not None else None}
