"""Time zones and "is this schedule in effect at time T".

A zone's schedule is written in the wall-clock time of the place it supervises ("home by 21:00"),
so every zone and schedule carries an explicit IANA time zone; the agency's default zone (from the
server's and the workstation's configuration) fills in for rows that have none. The laptop's own
time zone never enters a rule: an officer in Tokyo looking at a Chicago curfew sees Chicago's
curfew.

Schedules are weekly windows `{"days": [1..7 ISO weekdays], "start": "HH:MM", "end": "HH:MM"}`; a
window whose end is before its start runs past midnight and belongs to the day it started on. An
empty schedule means always. Instants are aware datetimes or naive UTC (how both stores keep them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The agency default when configuration names none: the demo agency (and its seeded zones) is in Chicago.
DEFAULT_AGENCY_TIME_ZONE = "America/Chicago"


class UnknownTimeZone(ValueError):
    pass


@lru_cache(maxsize=64)
def time_zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`; UnknownTimeZone for anything else (a typo must not become UTC)."""
    if not isinstance(name, str) or not name or name != name.strip() or ".." in name or name.startswith("/"):
        raise UnknownTimeZone(f"not an IANA time zone name: {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise UnknownTimeZone(f"unknown time zone {name!r}") from exc


def is_time_zone(name: Any) -> bool:
    try:
        time_zone(name)
    except UnknownTimeZone:
        return False
    return True


def effective_time_zone(own: str | None, agency_default: str = DEFAULT_AGENCY_TIME_ZONE) -> str:
    """A zone's or schedule's time zone: its own when it has one, else the agency's default."""
    return own or agency_default


def participant_time_zone(zone_time_zones: Iterable[str | None], agency_default: str = DEFAULT_AGENCY_TIME_ZONE) -> str:
    """Where a participant lives by the clock: the time zone most of their zones are written in
    (ties to the first), else the agency's default."""
    named = [tz for tz in zone_time_zones if tz]
    if not named:
        return agency_default
    counts = Counter(named)
    return max(named, key=lambda tz: counts[tz])


def as_utc(at: datetime) -> datetime:
    """An aware UTC datetime from an aware or naive-UTC one."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def local_time(at: datetime, zone_name: str) -> datetime:
    """The wall-clock time at `at` in the named zone (aware)."""
    return as_utc(at).astimezone(time_zone(zone_name))


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:5])


def _get(window: Any, name: str) -> Any:
    return window[name] if isinstance(window, Mapping) else getattr(window, name)


def window_in_effect(window: Any, local: datetime) -> bool:
    """Whether one weekly window covers the wall-clock time `local`."""
    start, end = _minutes(_get(window, "start")), _minutes(_get(window, "end"))
    days = _get(window, "days")
    now_min = local.hour * 60 + local.minute
    today = local.isoweekday()
    if start <= end:
        return today in days and start <= now_min < end
    # wraps midnight: the evening part belongs to today's window, the morning part to yesterday's
    yesterday = 7 if today == 1 else today - 1
    return (today in days and now_min >= start) or (yesterday in days and now_min < end)


def window_in_effect_at(schedule: Sequence[Any], at: datetime, zone_name: str) -> Any | None:
    """The first window of `schedule` in effect at instant `at`, or None."""
    if not schedule:
        return None
    local = local_time(at, zone_name)
    for window in schedule:
        if window_in_effect(window, local):
            return window
    return None


def schedule_in_effect(schedule: Sequence[Any], at: datetime, zone_name: str) -> bool:
    """True when a zone rule applies at instant `at`; an empty schedule means always."""
    if not schedule:
        return True
    return window_in_effect_at(schedule, at, zone_name) is not None


#: the longest curfew grace an agency may set (a longer one would be a different curfew)
MAX_CURFEW_GRACE = timedelta(hours=2)


def parse_curfew_grace(minutes: str) -> timedelta:
    """"15" -> 15 minutes of curfew grace (agency configuration); ValueError on anything else."""
    text = minutes.strip()
    if not text.isdigit() or timedelta(minutes=int(text)) > MAX_CURFEW_GRACE:
        raise ValueError(f"{minutes!r}: expected whole minutes from 0 to {int(MAX_CURFEW_GRACE.total_seconds() // 60)}")
    return timedelta(minutes=int(text))


def zone_rule_binds(kind: str, schedule: Sequence[Any], at: datetime, zone_name: str,
                    curfew_grace: timedelta = timedelta(0)) -> bool:
    """Whether a zone's rule binds the participant at instant `at`: its schedule is in effect and, for an
    inclusion zone with a schedule (a curfew), has been for the agency's grace period: someone still out
    when the curfew begins has that long to get home before it is a violation (3M's monitoring software
    offers grace periods on schedules; the length is the agency's). An exclusion zone binds at once."""
    if not schedule_in_effect(schedule, at, zone_name):
        return False
    if kind != "inclusion" or not schedule or curfew_grace <= timedelta(0):
        return True
    return schedule_in_effect(schedule, at - curfew_grace, zone_name)

