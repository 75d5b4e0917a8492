"""Rules applied to a caseload row, written once for the GUI and the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta

from local_db.queries import CaseloadRow
from workstation.rules.incidents import battery_low

#: A fix older than this is stale (devices report every minute; 15 missed reports is a problem).
STALE_AFTER = timedelta(minutes=15)
#: Strap states that are not a problem (a phone app has no strap).
STRAP_OK = (None, "ok", "not_applicable")


def display_name(row: CaseloadRow) -> str:
    """How a participant is listed: "Last, First"."""
    return f"{row.last_name}, {row.first_name}"


def fix_is_stale(fix_time: datetime | None, now: datetime) -> bool:
    """A device whose newest fix is older than STALE_AFTER (or that never had one)."""
    return fix_time is None or now - fix_time > STALE_AFTER


def stale_reference(now: datetime, data_as_of: datetime | None) -> datetime:
    """The moment staleness is judged at. Online: now. Without the live feed, the laptop's data is as
    of the last time it came from the server (`data_as_of`), and a fix is stale only if it was stale
    then: fifteen minutes offline must not turn every participant "stale" (the window says "data as
    of HH:MM" instead)."""
    return now if data_as_of is None else min(now, data_as_of)


def is_stale(row: CaseloadRow, now: datetime) -> bool:
    return fix_is_stale(row.last_fix_time, now)


def low_battery(row: CaseloadRow) -> bool:
    return battery_low(row.battery_pct, bool(row.charging))


def strap_is_problem(strap: str | None) -> bool:
    """A strap state the officer must look at (tampered, removed, or anything not known to be fine)."""
    return strap not in STRAP_OK


def strap_label(strap: str | None) -> str:
    """The strap state as an officer reads it after "strap" ("none (phone app)", not "not_applicable")."""
    if strap == "not_applicable":
        return "none (phone app)"
    return "unknown" if strap is None else strap.replace("_", " ")


def strap_problem(row: CaseloadRow) -> bool:
    return strap_is_problem(row.strap)


def has_device_problem(row: CaseloadRow, now: datetime) -> bool:
    """No device, low battery, strap not ok, or no recent fix."""
    return row.device_id is None or low_battery(row) or strap_problem(row) or is_stale(row, now)


def marker_state(row: CaseloadRow, has_incident: bool, now: datetime) -> str:
    """The map marker's state: no_fix, incident, stale or ok (in that order of precedence)."""
    if row.last_fix_time is None or row.last_lat is None:
        return "no_fix"
    if has_incident:
        return "incident"
    if is_stale(row, now):
        return "stale"
    return "ok"


def device_status(row: CaseloadRow) -> str:
    """The device in a few words: "ankle, 54%", "wrist cut, 12%", "no device"."""
    if row.device_id is None:
        return "no device"
    kind = row.device_kind or "device"
    parts = [kind if not strap_problem(row) else f"{kind} {row.strap}"]
    if row.battery_pct is not None:
        parts.append(f"{row.battery_pct}%{' charging' if row.charging else ''}")
    return ", ".join(parts)


def fix_age_s(row: CaseloadRow, now: datetime) -> int | None:
    """Seconds since the last fix (None: never had one)."""
    return None if row.last_fix_time is None else int((now - row.last_fix_time).total_seconds())
