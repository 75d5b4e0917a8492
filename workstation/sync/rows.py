"""Validated wire models -> plain column dicts for the local tables (one place for the mapping).

The store keeps naive UTC datetimes (SQLite has no time zone type); the wire carries aware ones.
Device rows flatten the nested `last_fix` into the denormalised last_* columns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from local_db.timeutil import to_db as naive_utc
from local_db.timeutil import utc_now as utcnow
from workstation import protocol as p

__all__ = ["naive_utc", "utcnow", "ROW_BUILDERS", "LAST_FIX_COLUMNS", "last_fix_columns", "position_row"]


def _dump(model: p.WireModel) -> dict[str, Any]:
    row = model.model_dump()
    for key, value in row.items():
        if isinstance(value, datetime):
            row[key] = naive_utc(value)
    return row


def participant_row(data: p.ParticipantData, version: int) -> dict[str, Any]:
    row = _dump(data)
    row["version"] = version
    return row


def device_row(data: p.DeviceData, version: int) -> dict[str, Any]:
    row = _dump(data)
    row.pop("last_fix")
    row["version"] = version
    row.update(last_fix_columns(data.last_fix) if data.last_fix is not None else dict.fromkeys(LAST_FIX_COLUMNS))
    return row


LAST_FIX_COLUMNS = ("last_fix_time", "last_lat", "last_lon", "last_accuracy_m", "last_speed_kmh", "last_source")


def last_fix_columns(fix: p.LastFix | p.PositionData) -> dict[str, Any]:
    return {
        "last_fix_time": naive_utc(fix.fix_time),
        "last_lat": fix.lat,
        "last_lon": fix.lon,
        "last_accuracy_m": fix.accuracy_m,
        "last_speed_kmh": fix.speed_kmh,
        "last_source": fix.source,
    }


def zone_row(data: p.ZoneData, version: int) -> dict[str, Any]:
    row = _dump(data)
    if row["polygon"] is not None:
        row["polygon"] = [list(point) for point in row["polygon"]]
    row["version"] = version
    return row


def appointment_row(data: p.AppointmentData, version: int) -> dict[str, Any]:
    return {**_dump(data), "version": version}


def alert_row(data: p.AlertData, version: int) -> dict[str, Any]:
    return {**_dump(data), "version": version, "pending": False}


def incident_row(data: p.IncidentData, version: int) -> dict[str, Any]:
    return {**_dump(data), "version": version, "pending": False}


def note_row(data: p.NoteData, version: int) -> dict[str, Any]:
    return {**_dump(data), "version": version, "pending": False}


def position_row(data: p.PositionData) -> dict[str, Any]:
    return _dump(data)


#: change-feed entity -> the row builder for its data model (validated per entity by protocol.Change)
ROW_BUILDERS: dict[str, Callable[[Any, int], dict[str, Any]]] = {
    "participant": participant_row,
    "device": device_row,
    "zone": zone_row,
    "appointment": appointment_row,
    "alert": alert_row,
    "incident": incident_row,
    "note": note_row,
}
