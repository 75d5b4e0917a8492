"""Times as the officer reads them: in the participant's time zone, labelled where that differs from
the laptop's.

A 09:00 home visit is 09:00 where the participant lives, whatever the laptop's clock says (an officer
travelling, a laptop left on UTC). The zone is workstation.rules.schedule.participant_time_zone; this
module only turns stored instants (naive UTC, or aware) into text and days. Where the participant's
zone shows a different wall-clock time than the laptop's at that instant, the text carries the zone's
abbreviation ("09:00 CST"), so a time is never read in the wrong zone silently.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from workstation.rules.schedule import as_utc, local_time, time_zone


def laptop_zone() -> tzinfo | None:
    """The laptop's own time zone, as the operating system says now."""
    return datetime.now().astimezone().tzinfo


def differs_from_laptop(at: datetime, zone_name: str, laptop: tzinfo | None = None) -> bool:
    """Whether the participant's wall clock at `at` shows another time than the laptop's."""
    instant = as_utc(at)
    laptop = laptop or laptop_zone()
    return local_time(instant, zone_name).utcoffset() != instant.astimezone(laptop).utcoffset()


def local_text(at: datetime, zone_name: str, fmt: str = "%H:%M", laptop: tzinfo | None = None) -> str:
    """`at` formatted in the participant's zone; " CST" (the zone's abbreviation) appended when the
    laptop's clock would show another time."""
    text = local_time(at, zone_name).strftime(fmt)
    if differs_from_laptop(at, zone_name, laptop):
        text += " " + zone_abbreviation(at, zone_name)
    return text


def zone_abbreviation(at: datetime, zone_name: str) -> str:
    """"CST", "CEST", or for zones without letters the offset ("+0530")."""
    local = local_time(at, zone_name)
    name = local.tzname() or ""
    return name if name and name[0].isalpha() else local.strftime("UTC%z")


def local_day(at: datetime, zone_name: str) -> date:
    """The calendar day `at` falls on where the participant lives."""
    return local_time(at, zone_name).date()


def is_same_local_day(at: datetime, now: datetime, zone_name: str) -> bool:
    """"Today" for the participant: `at` and `now` on one calendar day in their zone."""
    return local_day(at, zone_name) == local_day(now, zone_name)


def agency_day(now: datetime, zone_name: str) -> tuple[datetime, datetime]:
    """[start, end) of the calendar day containing `now` in the named zone, as naive UTC (a day of
    23 or 25 hours at a daylight-saving change stays one calendar day)."""
    day = local_day(now, zone_name)
    zone = time_zone(zone_name)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return as_utc(start).replace(tzinfo=None), as_utc(end).replace(tzinfo=None)
