"""The reporting window: two aware instants and the time zone every time in the report is printed in.

A report names its time zone once in the header and prints every time in it, so a court reads
18:05 as the participant's evening, not as UTC. The caller names the zone: `--tz`, else the
participant's time zone for a packet and the agency's for a day report (workstation.rules.schedule);
the laptop's own zone never decides. An ISO time without an offset is read in that zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import overload

from workstation.rules.schedule import UnknownTimeZone, time_zone


class WindowInvalid(ValueError):
    """The window cannot be used (bad ISO text, unknown zone, end not after start); the message says why."""


@dataclass(frozen=True)
class ReportWindow:
    start: datetime  # aware
    end: datetime  # aware, after start
    zone: tzinfo

    @property
    def zone_label(self) -> str:
        """`America/Chicago (UTC-06:00)` or `UTC-06:00`: the name when there is one, with the offset at the start."""
        offset = utc_offset_label(self.start.astimezone(self.zone))
        key = getattr(self.zone, "key", None)
        return f"{key} ({offset})" if key else offset

    def local(self, moment: datetime | str | None, *, seconds: bool = True) -> str:
        """`2026-12-01 18:05:09` in the window's zone; '' for None. Accepts an ISO string (manifest records)."""
        if moment is None or moment == "":
            return ""
        if isinstance(moment, str):
            moment = parse_utc_iso(moment)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    def as_record(self) -> dict[str, str]:
        return {"from": utc_iso(self.start), "to": utc_iso(self.end), "time_zone": self.zone_label}


def utc_offset_label(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@overload
def utc_iso(moment: datetime) -> str: ...
@overload
def utc_iso(moment: None) -> None: ...
def utc_iso(moment: datetime | None) -> str | None:
    """Aware or naive-UTC datetime -> `2026-12-01T18:05:09.123Z` (the manifest's one time format)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def parse_utc_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def resolve_zone(name: str) -> tzinfo:
    """The IANA zone called `name` (the rules' one definition of a valid zone name)."""
    try:
        return time_zone(name)
    except UnknownTimeZone as exc:
        raise WindowInvalid(str(exc)) from exc


def parse_window(start_text: str, end_text: str, zone_name: str) -> ReportWindow:
    start_raw, end_raw = _parse(start_text, "--from"), _parse(end_text, "--to")
    zone = resolve_zone(zone_name)
    start, end = _in_zone(start_raw, zone), _in_zone(end_raw, zone)
    if end <= start:
        raise WindowInvalid(f"the window ends ({end_text}) before it starts ({start_text})")
    return ReportWindow(start, end, zone)


def day_window(day_text: str, zone_name: str) -> ReportWindow:
    """Midnight to midnight of DATE (YYYY-MM-DD) in the zone (a 23- or 25-hour day at a DST change)."""
    try:
        day = date.fromisoformat(day_text)
    except ValueError as exc:
        raise WindowInvalid(f"not a date (YYYY-MM-DD): {day_text!r}") from exc
    zone = resolve_zone(zone_name)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return ReportWindow(start, end, zone)


def _parse(text: str, what: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise WindowInvalid(f"{what}: not an ISO-8601 time: {text!r}") from exc


def _in_zone(moment: datetime, zone: tzinfo) -> datetime:
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
