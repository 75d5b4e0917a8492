"""Device fix ingestion and the rules evaluated on it.

One code path for every source: the OsmAnd endpoint, the vendor gateway batch endpoint and the simulator
all call `ingest_fixes`. A batch is validated whole first (unknown serials, fixes in the future): a bad
batch writes nothing. Then one transaction writes positions, device state, alerts and change-feed entries
with executemany statements, and live events go out after the commit.

Rules: zone exit of an inclusion zone while its schedule applies (curfew_violation when it has a schedule,
zone_exit otherwise), exclusion zone entry (zone_entry), battery low (<= 20%) and critical (<= 5%), strap
tamper / device removed from gateway events. Alerts fire on transitions only (the device's `rule_state`
remembers which rules are currently violated). Drift guard: a fix implying an impossible speed, or whose
accuracy radius reaches across a zone edge, is flagged and changes no zone state, so it raises nothing.
`check_silence` (run periodically) raises no_communication / no_gps and missed check-ins.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from sync_server.caseload import officer_of, upsert_entry
from sync_server.changes import ChangeEntry, append_changes
from sync_server.db import Database, to_naive_utc, utcnow
from sync_server.geo import distance_m, schedule_active, zone_signed_distance
from sync_server.live import LiveHub
from sync_server.models import Alert, Appointment, Device, Participant, Position, Zone
from sync_server.wire import alert_data, device_data, dump
from workstation.protocol import GatewayFix, IngestResult

FUTURE_TOLERANCE = timedelta(minutes=5)
IMPOSSIBLE_SPEED_KMH = 250.0
LOW_BATTERY, CRITICAL_BATTERY = 20, 5
INCIDENT_WINDOW = timedelta(minutes=30)
CHECKIN_GRACE = timedelta(hours=1)

SEVERITY = {
    "strap_tamper": "critical",
    "device_removed": "critical",
    "battery_critical": "high",
    "low_battery": "low",
    "charging": "info",
    "no_gps": "medium",
    "no_communication": "high",
    "zone_exit": "high",
    "zone_entry": "high",
    "curfew_violation": "high",
    "missed_checkin": "medium",
}


class IngestError(ValueError):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


@dataclass
class _DeviceState:
    row: Any
    officer_id: str
    state: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass
class NewAlert:
    participant_id: str
    officer_id: str
    device_id: str | None
    kind: str
    opened_at: datetime
    lat: float | None = None
    lon: float | None = None
    detail: str = ""


def ingest_fixes(
    db: Database, fixes: Sequence[GatewayFix], hub: LiveHub | None = None, now: datetime | None = None
) -> IngestResult:
    now = now or utcnow()
    if not fixes:
        return IngestResult(accepted=0, alerts_raised=0)
    limit = now + FUTURE_TOLERANCE
    for fix in fixes:
        if to_naive_utc(fix.fix_time) > limit:
            raise IngestError(
                422, "fix_in_future", f"fix_time {fix.fix_time.isoformat()} of {fix.serial} is in the future"
            )
    serials = {f.serial for f in fixes}
    live: list[tuple[str, str]] = []
    with db.write() as session:
        devices = _load_devices(session, serials)
        unknown = sorted(serials - devices.keys())
        if unknown:
            raise IngestError(422, "unknown_device", "unknown device serial(s): " + ", ".join(unknown[:10]))
        zones = _load_zones(session, {d.row.participant_id for d in devices.values()})
        positions: list[dict[str, Any]] = []
        owners: list[_DeviceState] = []
        alerts: list[NewAlert] = []
        for fix in sorted(fixes, key=lambda f: to_naive_utc(f.fix_time)):
            dev = devices[fix.serial]
            positions.append(_apply_fix(dev, fix, zones.get(dev.row.participant_id, ()), now, alerts))
            owners.append(dev)
        ids = session.execute(
            insert(Position).returning(Position.id, sort_by_parameter_order=True), positions
        ).scalars().all()
        device_updates = []
        entries = []
        for dev in devices.values():
            dev.changes["version"] = dev.row.version + 1
            dev.changes["rule_state"] = dev.state
            for key, value in dev.changes.items():
                setattr(dev.row, key, value)
            device_updates.append({"b_id": dev.row.id, **{k: getattr(dev.row, k) for k in _DEVICE_COLUMNS}})
            entries.append(
                ChangeEntry(
                    dev.officer_id, dev.row.participant_id, "device", dev.row.id, "upsert", dev.row.version,
                    dump(device_data(dev.row)),
                )
            )
        session.execute(
            update(Device.__table__).where(Device.__table__.c.id == bindparam("b_id")), device_updates
        )
        append_changes(session, entries)
        if hub is not None:
            for pos_id, pos, dev in zip(ids, positions, owners, strict=True):
                live.append((dev.officer_id, _fix_event(pos_id, pos, dev.row)))
        # after the fixes: an alert is announced after the fix that caused it
        raised = raise_alerts(session, alerts, live if hub is not None else None)
    if hub is not None:
        hub.publish(live)
    return IngestResult(accepted=len(fixes), alerts_raised=raised)


_DEVICE_COLUMNS = (
    "version", "battery_pct", "charging", "strap", "last_contact_at", "last_fix_time", "last_gps_at", "last_lat",
    "last_lon", "last_accuracy_m", "last_speed_kmh", "last_source", "rule_state",
)


class _Row:
    """A plain attribute bag for a device row (cheaper than ORM objects for a hot loop)."""

    def __init__(self, mapping: Any) -> None:
        self.__dict__.update(mapping)


def _load_devices(session: Session, serials: set[str]) -> dict[str, _DeviceState]:
    t = Device.__table__
    rows = session.execute(
        select(t, Participant.officer_id.label("officer_id"))
        .join(Participant, Participant.id == t.c.participant_id)
        .where(t.c.serial.in_(serials))
    ).mappings()
    out = {}
    for m in rows:
        row = _Row(m)
        out[row.serial] = _DeviceState(row=row, officer_id=m["officer_id"], state=dict(row.rule_state or {}))
    return out


def _load_zones(session: Session, participant_ids: set[str]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    if participant_ids:
        for z in session.execute(select(Zone.__table__).where(Zone.participant_id.in_(participant_ids))):
            grouped[z.participant_id].append(z)
    return grouped


def _apply_fix(dev: _DeviceState, fix: GatewayFix, zones: Sequence[Any], now: datetime, alerts: list) -> dict:
    row, changes = dev.row, dev.changes
    fix_time = to_naive_utc(fix.fix_time)
    current = lambda key: changes.get(key, getattr(row, key))  # noqa: E731 - tiny local accessor
    flags: list[str] = []
    last_time = current("last_fix_time")
    newer = last_time is None or fix_time > last_time
    if newer and last_time is not None and current("last_lat") is not None:
        dt = (fix_time - last_time).total_seconds()
        moved = distance_m(current("last_lat"), current("last_lon"), fix.lat, fix.lon)
        slack = fix.accuracy_m + (current("last_accuracy_m") or 0.0)
        if dt > 0 and moved > slack and (moved - slack) / dt * 3.6 > IMPOSSIBLE_SPEED_KMH:
            flags.append("impossible_speed")
    if newer:
        for zone in zones:
            signed = zone_signed_distance(zone, fix.lat, fix.lon)
            if abs(signed) < fix.accuracy_m:
                if "drift" not in flags:
                    flags.append("drift")
                continue
            if "impossible_speed" in flags:
                continue
            inside = signed < 0
            active = schedule_active(zone.schedule or [], fix_time)
            violating = active and (inside if zone.kind == "exclusion" else not inside)
            key = f"z:{zone.id}"
            if violating and not dev.state.get(key):
                kind = "zone_entry" if zone.kind == "exclusion" else (
                    "curfew_violation" if zone.schedule else "zone_exit"
                )
                alerts.append(
                    NewAlert(row.participant_id, dev.officer_id, row.id, kind, fix_time, fix.lat, fix.lon,
                             detail=zone.name[:200])
                )
            dev.state[key] = violating
        changes.update(
            last_fix_time=fix_time,
            last_lat=fix.lat,
            last_lon=fix.lon,
            last_accuracy_m=fix.accuracy_m,
            last_speed_kmh=fix.speed_kmh,
            last_source=fix.source,
        )
        if fix.source == "gps":
            changes["last_gps_at"] = fix_time
    if fix.battery_pct is not None:
        before = current("battery_pct")
        for threshold, kind in ((CRITICAL_BATTERY, "battery_critical"), (LOW_BATTERY, "low_battery")):
            if fix.battery_pct <= threshold:
                if before is None or before > threshold:
                    alerts.append(NewAlert(row.participant_id, dev.officer_id, row.id, kind, fix_time, fix.lat,
                                           fix.lon, detail=f"battery {fix.battery_pct}%"))
                break
        changes["battery_pct"] = fix.battery_pct
    if fix.charging is not None:
        changes["charging"] = fix.charging
    if fix.event in ("strap_tamper", "device_removed"):
        changes["strap"] = "tampered" if fix.event == "strap_tamper" else "removed"
        alerts.append(NewAlert(row.participant_id, dev.officer_id, row.id, fix.event, fix_time, fix.lat, fix.lon))
    elif fix.event == "strap_restored":
        changes["strap"] = "ok"
    # Silence alerts re-arm as soon as the device talks (and has GPS) again.
    dev.state.pop("no_comm", None)
    if fix.source == "gps":
        dev.state.pop("no_gps", None)
    changes["last_contact_at"] = max(now, current("last_contact_at") or now)
    return {
        "device_id": row.id,
        "participant_id": row.participant_id,
        "fix_time": fix_time,
        "received_at": now,
        "lat": fix.lat,
        "lon": fix.lon,
        "accuracy_m": fix.accuracy_m,
        "speed_kmh": fix.speed_kmh,
        "source": fix.source,
        "flags": ",".join(flags),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"


def _fix_event(pos_id: int, pos: dict[str, Any], row: Any) -> str:
    fix = {
        "id": pos_id,
        "device_id": pos["device_id"],
        "participant_id": pos["participant_id"],
        "fix_time": _iso(pos["fix_time"]),
        "received_at": _iso(pos["received_at"]),
        "lat": pos["lat"],
        "lon": pos["lon"],
        "accuracy_m": pos["accuracy_m"],
        "speed_kmh": pos["speed_kmh"],
        "source": pos["source"],
        "flags": [f for f in pos["flags"].split(",") if f],
    }
    device = {
        "device_id": row.id,
        "battery_pct": row.battery_pct,
        "charging": bool(row.charging),
        "strap": row.strap,
        "last_contact_at": _iso(row.last_contact_at),
    }
    return json.dumps({"type": "fix", "fix": fix, "device": device}, separators=(",", ":"))


def raise_alerts(session: Session, alerts: Sequence[NewAlert], live: list[tuple[str, str]] | None = None) -> int:
    """Insert alerts with incident grouping, append their feed entries and queue their live events.

    Alerts of one device within 30 minutes of that device's previous alert join its incident.
    """
    if not alerts:
        return 0
    incidents: dict[str, tuple[str, datetime]] = {}
    device_ids = {a.device_id for a in alerts if a.device_id}
    if device_ids:
        latest = (
            select(Alert.device_id, Alert.incident_id, Alert.opened_at)
            .where(Alert.device_id.in_(device_ids))
            .order_by(Alert.opened_at)
        )
        for device_id, incident_id, opened_at in session.execute(latest):
            incidents[device_id] = (incident_id, opened_at)
    rows, entries = [], []
    for a in alerts:
        alert_id = f"al-{uuid.uuid4().hex[:20]}"
        incident = alert_id
        previous = incidents.get(a.device_id) if a.device_id else None
        if previous and previous[0] and a.opened_at - previous[1] <= INCIDENT_WINDOW:
            incident = previous[0]
        if a.device_id:
            incidents[a.device_id] = (incident, a.opened_at)
        row = Alert(
            id=alert_id, version=1, participant_id=a.participant_id, device_id=a.device_id, kind=a.kind,
            severity=SEVERITY[a.kind], opened_at=a.opened_at, lat=a.lat, lon=a.lon, state="open",
            incident_id=incident, detail=a.detail,
        )
        rows.append(row)
        data = dump(alert_data(row))
        entries.append(ChangeEntry(a.officer_id, a.participant_id, "alert", alert_id, "upsert", 1, data))
        if live is not None:
            live.append((a.officer_id, f'{{"type":"alert","alert":{data}}}'))
    session.add_all(rows)
    session.flush()
    append_changes(session, entries)
    return len(rows)


def check_silence(db: Database, hub: LiveHub | None = None, now: datetime | None = None) -> int:
    """Raise no_communication / no_gps for silent devices and missed_checkin for lapsed check-ins."""
    now = now or utcnow()
    live: list[tuple[str, str]] = []
    with db.write() as session:
        alerts: list[NewAlert] = []
        rows = session.execute(
            select(
                Device.id, Device.participant_id, Device.expected_interval_s, Device.last_contact_at,
                Device.last_gps_at, Device.rule_state, Device.last_lat, Device.last_lon, Participant.officer_id,
            ).join(Participant, Participant.id == Device.participant_id)
        ).all()
        state_updates = []
        for r in rows:
            allowed = timedelta(seconds=max(5 * r.expected_interval_s, 300))
            state = dict(r.rule_state or {})
            kind = None
            if r.last_contact_at is not None and now - r.last_contact_at > allowed and not state.get("no_comm"):
                kind, state["no_comm"] = "no_communication", True
            elif (
                r.last_contact_at is not None
                and now - r.last_contact_at <= allowed
                and r.last_gps_at is not None
                and now - r.last_gps_at > allowed
                and not state.get("no_gps")
            ):
                kind, state["no_gps"] = "no_gps", True
            if kind:
                alerts.append(NewAlert(r.participant_id, r.officer_id, r.id, kind, now, r.last_lat, r.last_lon))
                state_updates.append({"b_id": r.id, "rule_state": state})
        if state_updates:
            session.execute(
                update(Device.__table__).where(Device.__table__.c.id == bindparam("b_id")), state_updates
            )
        lapsed = session.scalars(
            select(Appointment).where(
                Appointment.kind.in_(("office_checkin", "app_checkin")),
                Appointment.status == "scheduled",
                Appointment.starts_at < now - CHECKIN_GRACE,
            )
        ).all()
        entries = []
        for appt in lapsed:
            appt.status = "missed"
            appt.version += 1
            officer_id = officer_of(session, appt.participant_id)
            entries.append(upsert_entry("appointment", appt, officer_id))
            alerts.append(
                NewAlert(appt.participant_id, officer_id, None, "missed_checkin", now, appt.lat, appt.lon,
                         detail=f"{appt.kind.replace('_', ' ')} at {appt.starts_at:%Y-%m-%d %H:%M} UTC")
            )
        session.flush()
        append_changes(session, entries)
        raised = raise_alerts(session, alerts, live)
    if hub is not None:
        hub.publish(live)
    return raised
