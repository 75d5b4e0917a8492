"""Server rows -> wire models of workstation.protocol.

Accepts ORM objects or Core rows (anything with attributes). `dump` leaves out fields equal to their
protocol default: the client fills them back in when it validates, and a full pull gets much smaller.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from workstation.protocol import (
    AlertData,
    AppointmentData,
    DeviceData,
    IncidentData,
    LastFix,
    NoteData,
    OfficerData,
    ParticipantData,
    PositionData,
    WireModel,
    ZoneData,
)


def aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def dump(model: WireModel) -> str:
    return model.model_dump_json(exclude_defaults=True)


def participant_data(p: Any) -> ParticipantData:
    return ParticipantData(
        id=p.id,
        case_number=p.case_number,
        first_name=p.first_name,
        last_name=p.last_name,
        dob=p.dob,
        language=p.language,
        phone=p.phone,
        address=p.address,
        home_lat=p.home_lat,
        home_lon=p.home_lon,
        program=p.program,
        risk_level=p.risk_level,
        legal_flags=list(p.legal_flags or []),
        supervision_start=p.supervision_start,
        supervision_end=p.supervision_end,
        officer_id=p.officer_id,
        photo_url=p.photo_url,
    )


def device_data(d: Any) -> DeviceData:
    last_fix = None
    if d.last_fix_time is not None and d.last_lat is not None and d.last_lon is not None:
        last_fix = LastFix(
            fix_time=aware(d.last_fix_time),
            lat=d.last_lat,
            lon=d.last_lon,
            accuracy_m=d.last_accuracy_m or 0.0,
            speed_kmh=d.last_speed_kmh,
            source=d.last_source or "gps",
        )
    return DeviceData(
        id=d.id,
        participant_id=d.participant_id,
        kind=d.kind,
        serial=d.serial,
        battery_pct=d.battery_pct,
        charging=bool(d.charging),
        strap=d.strap,
        last_contact_at=aware(d.last_contact_at),
        expected_interval_s=d.expected_interval_s,
        last_fix=last_fix,
    )


def zone_data(z: Any) -> ZoneData:
    return ZoneData(
        id=z.id,
        participant_id=z.participant_id,
        name=z.name,
        kind=z.kind,
        shape=z.shape,
        center_lat=z.center_lat,
        center_lon=z.center_lon,
        radius_m=z.radius_m,
        polygon=[tuple(pt) for pt in z.polygon] if z.polygon else None,
        schedule=list(z.schedule or []),
        time_zone=z.time_zone,
    )


def appointment_data(a: Any) -> AppointmentData:
    return AppointmentData(
        id=a.id,
        participant_id=a.participant_id,
        kind=a.kind,
        starts_at=aware(a.starts_at),
        place=a.place,
        lat=a.lat,
        lon=a.lon,
        status=a.status,
    )


def alert_data(a: Any) -> AlertData:
    return AlertData(
        id=a.id,
        participant_id=a.participant_id,
        device_id=a.device_id,
        kind=a.kind,
        severity=a.severity,
        opened_at=aware(a.opened_at),
        lat=a.lat,
        lon=a.lon,
        state=a.state,
        acknowledged_by=a.acknowledged_by,
        acknowledged_at=aware(a.acknowledged_at),
        resolved_by=a.resolved_by,
        resolved_at=aware(a.resolved_at),
        incident_id=a.incident_id,
        detail=a.detail,
    )


def incident_data(i: Any) -> IncidentData:
    return IncidentData(
        id=i.id,
        participant_id=i.participant_id,
        device_id=i.device_id,
        family=i.family,
        kinds=list(i.kinds or []),
        severity=i.severity,
        state=i.state,
        opened_at=aware(i.opened_at),
        updated_at=aware(i.updated_at),
        last_alert_at=aware(i.last_alert_at),
        alert_count=i.alert_count,
        needs_action=bool(i.needs_action),
        needs_action_since=aware(i.needs_action_since),
        due_at=aware(i.due_at),
        acknowledged_by=i.acknowledged_by,
        acknowledged_at=aware(i.acknowledged_at),
        resolved_by=i.resolved_by,
        resolved_at=aware(i.resolved_at),
        resolution=i.resolution or "",
    )


def note_data(n: Any) -> NoteData:
    return NoteData(
        id=n.id,
        participant_id=n.participant_id,
        kind=n.kind,
        outcome=n.outcome,
        text=n.text,
        author=n.author,
        occurred_at=aware(n.occurred_at),
        place=n.place,
        lat=n.lat,
        lon=n.lon,
    )


def officer_data(o: Any) -> OfficerData:
    return OfficerData(
        id=o.id,
        username=o.username,
        display_name=o.display_name,
        office_lat=o.office_lat,
        office_lon=o.office_lon,
    )


def position_data(p: Any) -> PositionData:
    return PositionData(
        id=p.id,
        device_id=p.device_id,
        participant_id=p.participant_id,
        fix_time=aware(p.fix_time),
        received_at=aware(p.received_at),
        lat=p.lat,
        lon=p.lon,
        accuracy_m=p.accuracy_m,
        speed_kmh=p.speed_kmh,
        source=p.source,
        flags=[f for f in (p.flags or "").split(",") if f],
        via=p.via or "",
        bearing=p.bearing,
        altitude_m=p.altitude_m,
        hdop=p.hdop,
    )


DEVICE_COLUMNS = (
    "id", "participant_id", "kind", "serial", "version", "battery_pct", "charging", "strap", "last_contact_at",
    "expected_interval_s", "last_fix_time", "last_gps_at", "last_lat", "last_lon", "last_accuracy_m",
    "last_speed_kmh", "last_source", "rule_state",
)


def _iso(value: datetime) -> str:
    return value.isoformat() + "Z" if value.tzinfo is None else value.isoformat().replace("+00:00", "Z")


def _js(text: str) -> str:
    """JSON string literal; the common case (no quote, backslash or control character) skips json.dumps."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text)


def device_json(d: Any) -> str:
    """The same JSON as dump(device_data(d)), built with plain string formatting for the ingestion path
    (a test checks the two agree). repr(float) is what json.dumps writes for a finite float."""
    parts = [
        f'"id":{_js(d.id)},"participant_id":{_js(d.participant_id)},"kind":"{d.kind}","serial":{_js(d.serial)}'
    ]
    if d.battery_pct is not None:
        parts.append(f'"battery_pct":{int(d.battery_pct)}')
    if d.charging:
        parts.append('"charging":true')
    if d.strap != "ok":
        parts.append(f'"strap":"{d.strap}"')
    if d.last_contact_at is not None:
        parts.append(f'"last_contact_at":"{_iso(d.last_contact_at)}"')
    if d.expected_interval_s != 60:
        parts.append(f'"expected_interval_s":{int(d.expected_interval_s)}')
    if d.last_fix_time is not None and d.last_lat is not None and d.last_lon is not None:
        fix = f'"fix_time":"{_iso(d.last_fix_time)}","lat":{float(d.last_lat)!r},"lon":{float(d.last_lon)!r}'
        if d.last_accuracy_m:
            fix += f',"accuracy_m":{float(d.last_accuracy_m)!r}'
        if d.last_speed_kmh is not None:
            fix += f',"speed_kmh":{float(d.last_speed_kmh)!r}'
        if d.last_source and d.last_source != "gps":
            fix += f',"source":"{d.last_source}"'
        parts.append('"last_fix":{' + fix + "}")
    return "{" + ",".join(parts) + "}"


#: entity name -> row-to-model converter, used by the change feed
TO_WIRE = {
    "participant": participant_data,
    "device": device_data,
    "zone": zone_data,
    "appointment": appointment_data,
    "alert": alert_data,
    "incident": incident_data,
    "note": note_data,
}
