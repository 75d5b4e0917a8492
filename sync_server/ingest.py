"""Device fix ingestion and the rules evaluated on it.

One code path for every source: the OsmAnd endpoint, the vendor gateway batch endpoint and the simulator
all call `ingest_fixes`. A batch is validated whole first (unknown serials, fixes in the future): a bad
batch writes nothing. Then one transaction writes positions, device state, alerts and change-feed entries
with bulk statements (COPY on PostgreSQL), and live events go out after the commit. `order_fixes`
(checks that need no database) and `apply_fixes` (rules and writes) are also the cluster's pieces:
its receivers validate with the first, its rules workers call the second (sync_server/cluster).

Rules: zone exit of an inclusion zone while its schedule applies (curfew_violation when it has a schedule,
zone_exit otherwise), exclusion zone entry (zone_entry), battery low (<= 20%) and critical (<= 5%), strap
tamper / device removed from gateway events. Alerts fire on transitions only (the device's `rule_state`
remembers which rules are currently violated). Drift guard: a fix implying an impossible speed, or whose
accuracy radius reaches across a zone edge, is flagged and changes no zone state, so it raises nothing.
`check_silence` (run periodically) raises no_communication / no_gps and missed check-ins, and folds
many devices of one vendor gateway or area falling silent together into one outage incident.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, make_dataclass
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from sync_server.caseload import officer_of, upsert_entry
from sync_server.changes import ChangeEntry, append_changes, live_incident_events
from sync_server.db import Database, to_naive_utc, utcnow
from sync_server.incidents import IncidentGrouper, RaisedAlert, auto_resolve, escalate, fold_outages
from sync_server.live import LiveHub, row_event
from sync_server.models import Alert, Appointment, Device, Participant
from sync_server.rawsql import Raw, allocate
from sync_server.wire import DEVICE_COLUMNS, alert_data, device_json, dump
from sync_server.zones import ZoneCache
from workstation.protocol import FixOutcome, GatewayFix, IngestResult
from workstation.rules.geo import distance_m, zone_signed_distance
from workstation.rules.incidents import (
    CRITICAL_BATTERY_PCT,
    LOW_BATTERY_PCT,
    OUTAGE_KIND,
    active_conditions,
    severity_of,
)
from workstation.rules.schedule import zone_rule_binds

IMPOSSIBLE_SPEED_KMH = 250.0
CHECKIN_GRACE = timedelta(hours=1)



class IngestError(ValueError):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


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


# One device's row as a plain mutable object (ORM objects cost too much in this loop). A slotted
# dataclass gets a generated __init__ with one assignment per field: 3x faster than a setattr loop.
_Device = make_dataclass(
    "_Device", [*DEVICE_COLUMNS, "officer_id"], slots=True, eq=False, repr=False
)
_DATETIME_COLUMNS = tuple(DEVICE_COLUMNS.index(c) for c in ("last_contact_at", "last_fix_time", "last_gps_at"))
_CHARGING_COLUMN = DEVICE_COLUMNS.index("charging")
_RULE_STATE_COLUMN = DEVICE_COLUMNS.index("rule_state")


_SELECT_DEVICES = (
    "SELECT " + ", ".join(f"d.{c}" for c in DEVICE_COLUMNS) + ", p.officer_id "
    "FROM device d JOIN participant p ON p.id = d.participant_id WHERE d.serial IN ({})"
)
_UPDATE_DEVICE = (
    "UPDATE device SET version = ?, battery_pct = ?, charging = ?, strap = ?, last_contact_at = ?, "
    "last_fix_time = ?, last_gps_at = ?, last_lat = ?, last_lon = ?, last_accuracy_m = ?, last_speed_kmh = ?, "
    "last_source = ?, rule_state = ? WHERE id = ?"
)


class TimedFix(NamedTuple):
    """A fix ready for the rules."""

    fix_time: datetime  # naive UTC
    fix: GatewayFix
    received_at: datetime  # naive UTC
    via: str  # provenance: "osmand", "gateway:NAME", "simulator"


POSITION_COLUMNS = (
    "id", "device_id", "participant_id", "fix_time", "received_at", "lat", "lon", "accuracy_m", "speed_kmh",
    "source", "flags", "via", "bearing", "altitude_m", "hdop",
)
#: the same fix stored before (a tracker resending after a lost answer)
_SAME_FIX = (
    "SELECT 1 FROM position WHERE participant_id = ? AND fix_time = ? AND device_id = ? AND lat = ? AND lon = ? "
    "LIMIT 1"
)
#: the device's last trusted position before a time (what the rules saw then, for a late fix)
_PREVIOUS_POSITION = (
    "SELECT fix_time, lat, lon, accuracy_m FROM position WHERE participant_id = ? AND device_id = ? "
    "AND fix_time < ? AND flags NOT LIKE ? AND flags NOT LIKE ? ORDER BY fix_time DESC LIMIT 1"
)


@dataclass
class AppliedFixes:
    """What one application of fixes did: live events to publish after the commit, alerts raised, and
    which of the fixes (indexes into the `timed` given) were already stored and so changed nothing."""

    live: list[tuple[str, str | Callable[[], str]]]
    alerts_raised: int
    duplicates: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Bounds:
    """How far from its receipt a fix's own time may be (configurable: ServerOptions, sync-server flags)."""

    #: a device clock a little ahead is normal; more lets a forged fix outrank every genuine one
    max_future_s: float = 60.0
    #: trackers buffer points while out of coverage and send them later; older than this is refused
    max_past_s: float = 7 * 86_400.0


DEFAULT_BOUNDS = Bounds()


def refused(error: str, detail: str) -> FixOutcome:
    return FixOutcome(status="rejected", error=error, detail=detail)


ACCEPTED = FixOutcome(status="accepted")
DUPLICATE = FixOutcome(status="duplicate")


def ingest_fixes(
    db: Database, fixes: Sequence[GatewayFix | FixOutcome], hub: LiveHub | None = None, now: datetime | None = None,
    via: str = "", bounds: Bounds = DEFAULT_BOUNDS,
) -> IngestResult:
    """Apply every acceptable fix in one transaction and answer per fix, in the order given.

    A FixOutcome among `fixes` is a refusal decided by the caller (it keeps its place in the answer).
    Each fix is judged on its own: a fix of an unknown device or outside `bounds` is refused without
    touching its neighbours. `via` is the provenance stored with each position ("osmand",
    "gateway:NAME", "simulator")."""
    now = now or db.now()
    outcomes: list[FixOutcome] = [ACCEPTED] * len(fixes)
    candidates: list[tuple[int, GatewayFix]] = []
    for i, item in enumerate(fixes):
        if isinstance(item, FixOutcome):
            outcomes[i] = item
        else:
            candidates.append((i, item))
    applied = None
    if candidates:
        timed, slots = screen_fixes(candidates, now, via, bounds, outcomes)
        if timed:
            with db.write() as session:
                raw = Raw(session)
                devices = load_devices(raw, list({t.fix.serial for t in timed}))
                known = [k for k, t in enumerate(timed) if t.fix.serial in devices]
                for k, t in enumerate(timed):
                    if t.fix.serial not in devices:
                        outcomes[slots[k]] = refused("unknown_device", f"unknown device serial {t.fix.serial[:64]}")
                if known:
                    applied = apply_fixes(
                        session, raw, devices, db.zone_cache, [timed[k] for k in known], live=hub is not None,
                        response_times=db.response_times, curfew_grace=db.curfew_grace,
                    )
                    for k in applied.duplicates:
                        outcomes[slots[known[k]]] = DUPLICATE
            if hub is not None and applied is not None:
                hub.publish(applied.live)
    rejected = sum(1 for o in outcomes if o.status == "rejected")
    return IngestResult(
        accepted=len(fixes) - rejected, alerts_raised=applied.alerts_raised if applied else 0, rejected=rejected,
        results=outcomes,
    )


def screen_fixes(
    candidates: Sequence[tuple[int, GatewayFix]], received_at: datetime, via: str, bounds: Bounds,
    outcomes: list[FixOutcome],
) -> tuple[list[TimedFix], list[int]]:
    """The checks a fix passes before it may change anything, needing no database (the cluster's
    receivers run them too). Refusals go into `outcomes` at the fix's index; returns the acceptable
    fixes in fix-time order with their indexes."""
    latest = received_at + timedelta(seconds=bounds.max_future_s)
    earliest = received_at - timedelta(seconds=bounds.max_past_s)
    kept: list[tuple[TimedFix, int]] = []
    for i, fix in candidates:
        try:
            fix_time = to_naive_utc(fix.fix_time)
        except OverflowError:
            outcomes[i] = refused("invalid_fix_time", "fix_time is out of range once converted to UTC")
            continue
        if fix_time > latest:
            outcomes[i] = refused(
                "fix_in_future", f"fix_time {fix_time.isoformat()}Z is more than {bounds.max_future_s:g} s after "
                f"its receipt ({received_at.isoformat(timespec='seconds')}Z)",
            )
        elif fix_time < earliest:
            outcomes[i] = refused(
                "fix_too_old", f"fix_time {fix_time.isoformat()}Z is more than {bounds.max_past_s:g} s before "
                f"its receipt ({received_at.isoformat(timespec='seconds')}Z)",
            )
        else:
            kept.append((TimedFix(fix_time, fix, received_at, via), i))
    kept.sort(key=lambda item: item[0].fix_time)
    return [t for t, _ in kept], [i for _, i in kept]


def order_fixes(fixes: Sequence[GatewayFix], received_at: datetime, via: str = "") -> list[TimedFix]:
    """screen_fixes for a whole batch that must be acceptable as a whole: raises on the first refusal."""
    outcomes = [ACCEPTED] * len(fixes)
    timed, _ = screen_fixes(list(enumerate(fixes)), received_at, via, DEFAULT_BOUNDS, outcomes)
    for fix, outcome in zip(fixes, outcomes, strict=True):
        if outcome.status == "rejected":
            raise IngestError(422, outcome.error or "rejected", f"{fix.serial[:64]}: {outcome.detail}")
    return timed


def apply_fixes(
    session: Session, raw: Raw, devices: dict[str, _Device], zone_cache: ZoneCache, timed: Sequence[TimedFix],
    live: bool, response_times: Mapping[str, timedelta] | None = None, curfew_grace: timedelta = timedelta(0),
) -> AppliedFixes:
    """Run the rules on `timed` (in order) against `devices` (serial -> state, updated in place; every
    fix's device must be there) and write positions, device state, change-feed entries and alerts in
    the session's transaction. The all-in-one server and the cluster's rules workers both call this,
    with the agency's response times (Database.response_times) for the incidents' due times and its
    curfew grace (Database.curfew_grace: rules.schedule.zone_rule_binds)."""
    zones = zone_cache.for_participants(session, {d.participant_id for d in devices.values()})
    first_id = allocate(raw, "position", len(timed))
    positions: list[tuple] = []
    alerts: list[NewAlert] = []
    duplicates: list[int] = []
    stored: list[TimedFix] = []
    seen: set[tuple] = set()
    # trusted positions of this batch per device, for late fixes (they are not in the database yet)
    history: dict[str, list[tuple]] = defaultdict(list)
    cleared: set[str] = set()

    def previous(dev: _Device, before: datetime) -> tuple | None:
        rows = raw.fetchall(
            _PREVIOUS_POSITION, (dev.participant_id, dev.id, raw.dt_param(before), "%invalid%", "%mock%")
        )
        best = (raw.dt_value(rows[0][0]), *rows[0][1:]) if rows else None
        for item in history[dev.id]:
            if item[0] < before and (best is None or item[0] > best[0]):
                best = item
        return best

    for i, (fix_time, fix, received_at, via) in enumerate(timed):
        dev = devices[fix.serial]
        same = (dev.id, fix_time, fix.lat, fix.lon)
        if same in seen or (
            (dev.last_fix_time is not None and fix_time <= dev.last_fix_time or not fix.valid or fix.mock)
            and raw.fetchall(_SAME_FIX, (dev.participant_id, raw.dt_param(fix_time), dev.id, fix.lat, fix.lon))
        ):
            duplicates.append(i)
            continue
        seen.add(same)
        flags = _apply_fix(
            dev, fix, fix_time, zones.get(dev.participant_id, ()), received_at, alerts, partial(previous, dev), cleared,
            curfew_grace,
        )
        if fix.valid and not fix.mock:
            history[dev.id].append((fix_time, fix.lat, fix.lon, fix.accuracy_m))
        positions.append((
            first_id + i, dev.id, dev.participant_id, fix_time, received_at, fix.lat, fix.lon, fix.accuracy_m,
            fix.speed_kmh, fix.source, flags, via, fix.bearing, fix.altitude_m, fix.hdop,
        ))
        stored.append(timed[i])
    raw.copy_rows("position", POSITION_COLUMNS, positions)
    _write_devices(session, raw, devices.values())
    events: list[tuple[str, str | Callable[[], str]]] = []
    if live:
        for position, timed_fix in zip(positions, stored, strict=True):
            dev = devices[timed_fix.fix.serial]
            events.append((dev.officer_id, partial(_fix_event, position, _status(dev))))
    # after the fixes: an alert is announced after the fix that caused it
    now = max((item[2] for item in timed), default=None) or utcnow()
    raised = raise_alerts(session, alerts, events if live else None, now=now, response_times=response_times)
    _auto_resolve(session, [dev for dev in devices.values() if dev.id in cleared], now)
    if live:
        events += live_incident_events(session)
    return AppliedFixes(events, raised, duplicates)


def _auto_resolve(session: Session, devices: Sequence[_Device], now: datetime) -> None:
    """Close the self-clearing incidents of devices whose conditions stopped (sync_server.incidents)."""
    if devices:
        append_changes(session, auto_resolve(
            session, {dev.id: (_active_conditions(dev), dev.officer_id) for dev in devices}, now
        ))


def _active_conditions(dev: _Device) -> frozenset[str]:
    state = dev.rule_state
    outside = any(value for key, value in state.items() if key.startswith("z:"))
    return active_conditions(dev.battery_pct, dev.charging, bool(state.get("no_comm")), bool(state.get("no_gps")),
                             outside)


def _write_devices(session: Session, raw: Raw, devices: Iterable[_Device]) -> None:
    """Store the devices' new state (a new version each) with their change-feed entries."""
    dt_param = cache(raw.dt_param)  # last_contact_at is the receipt time of most rows
    updates, entries = [], []
    for dev in devices:
        dev.version += 1
        updates.append((
            dev.version, dev.battery_pct, dev.charging, dev.strap, dt_param(dev.last_contact_at),
            dt_param(dev.last_fix_time), dt_param(dev.last_gps_at), dev.last_lat, dev.last_lon,
            dev.last_accuracy_m, dev.last_speed_kmh, dev.last_source,
            json.dumps(dev.rule_state, separators=(",", ":")) if dev.rule_state else "{}", dev.id,
        ))
        entries.append(ChangeEntry(
            dev.officer_id, dev.participant_id, "device", dev.id, "upsert", dev.version, device_json(dev)
        ))
    raw.executemany(_UPDATE_DEVICE, updates)
    append_changes(session, entries)


def load_devices(raw: Raw, serials: Sequence[str]) -> dict[str, _Device]:
    out: dict[str, _Device] = {}
    chunk = 5000  # well under SQLite's bound-parameter limit
    dt_value, json_value = raw.dt_value, raw.json_value
    for start in range(0, len(serials), chunk):
        part = serials[start:start + chunk]
        for row in raw.fetchall(_SELECT_DEVICES.format(raw.placeholders(len(part))), part):
            values = list(row)
            for i in _DATETIME_COLUMNS:
                values[i] = dt_value(values[i])
            rule_state = values[_RULE_STATE_COLUMN]
            # most devices violate nothing: skip decoding their empty state
            values[_RULE_STATE_COLUMN] = {} if rule_state in (None, "{}") else dict(json_value(rule_state) or {})
            values[_CHARGING_COLUMN] = bool(values[_CHARGING_COLUMN])
            dev = _Device(*values)
            out[dev.serial] = dev
    return out


def _battery_rules(
    dev: _Device, battery_pct: int, at: datetime, lat: float | None, lon: float | None, alerts: list[NewAlert]
) -> None:
    before = dev.battery_pct
    for threshold, kind in ((CRITICAL_BATTERY_PCT, "battery_critical"), (LOW_BATTERY_PCT, "low_battery")):
        if battery_pct <= threshold:
            if before is None or before > threshold:
                alerts.append(NewAlert(dev.participant_id, dev.officer_id, dev.id, kind, at, lat, lon,
                                       detail=f"battery {battery_pct}%"))
            break
    dev.battery_pct = battery_pct


def _power_recovers(dev: _Device, battery_pct: int | None, charging: bool | None) -> bool:
    """Battery back above the low threshold, or charging started."""
    back_up = battery_pct is not None and dev.battery_pct is not None and dev.battery_pct <= LOW_BATTERY_PCT < battery_pct
    return back_up or bool(charging and not dev.charging)


def _zone_verdicts(
    zones: Sequence[Any], lat: float, lon: float, accuracy_m: float, at: datetime, curfew_grace: timedelta,
) -> Iterator[tuple]:
    """(zone, violating) per zone at that place and time; violating is None where the accuracy circle
    reaches across the zone's edge (drift: no verdict either way)."""
    for zone in zones:
        signed = zone_signed_distance(zone, lat, lon)
        if abs(signed) < accuracy_m:
            yield zone, None
            continue
        inside = signed < 0
        active = zone_rule_binds(zone.kind, zone.schedule, at, zone.time_zone, curfew_grace)
        yield zone, active and (inside if zone.kind == "exclusion" else not inside)


def _zone_alert_kind(zone: Any) -> str:
    return "zone_entry" if zone.kind == "exclusion" else ("curfew_violation" if zone.schedule else "zone_exit")


def _late(fix_time: datetime, now: datetime) -> str:
    return f" (late: fix at {fix_time:%Y-%m-%d %H:%M:%S} UTC, received {now:%Y-%m-%d %H:%M:%S} UTC)"


def _apply_fix(
    dev: _Device, fix: GatewayFix, fix_time: datetime, zones: Sequence[Any], now: datetime, alerts: list[NewAlert],
    previous: Callable[[datetime], tuple | None], cleared: set[str], curfew_grace: timedelta = timedelta(0),
) -> str:
    """Update the device from one fix, evaluate the rules, queue alerts; returns the position's flags.

    A condition that stops (battery back above the threshold or charging, contact or GPS back, back
    inside a zone) adds the device to `cleared`, so its self-clearing incidents are re-examined.

    A fix older than the device's current one (store and forward) is judged at its own time against
    the position before it (`previous(fix_time)`), raises what it shows late, and never moves the
    current position (its battery and strap readings still count, as they always did). A fix
    the device calls invalid, or a mock location, is contact but never evidence: no rules, no GPS credit.
    """
    flags: list[str] = []
    state = dev.rule_state
    trusted = fix.valid and not fix.mock
    newer = dev.last_fix_time is None or fix_time > dev.last_fix_time
    late = not newer  # the device already reported a later (or this same) time
    if late:
        flags.append("late")
    if not fix.valid:
        flags.append("invalid")
    if fix.mock:
        flags.append("mock")
    late_note = _late(fix_time, now) if late else ""
    if trusted and newer and dev.last_fix_time is not None and dev.last_lat is not None:
        dt = (fix_time - dev.last_fix_time).total_seconds()
        moved = distance_m(dev.last_lat, dev.last_lon, fix.lat, fix.lon)
        slack = fix.accuracy_m + (dev.last_accuracy_m or 0.0)
        if dt > 0 and moved > slack and (moved - slack) / dt * 3.6 > IMPOSSIBLE_SPEED_KMH:
            flags.append("impossible_speed")
    if trusted and newer:
        for zone, violating in _zone_verdicts(zones, fix.lat, fix.lon, fix.accuracy_m, fix_time, curfew_grace):
            if violating is None:
                if "drift" not in flags:
                    flags.append("drift")
                continue
            if "impossible_speed" in flags:  # an impossible jump changes no zone state
                continue
            key = f"z:{zone.id}"
            if violating and not state.get(key):
                alerts.append(NewAlert(dev.participant_id, dev.officer_id, dev.id, _zone_alert_kind(zone), fix_time,
                                       fix.lat, fix.lon, detail=zone.name[:200]))
            if state.get(key) and not violating:
                cleared.add(dev.id)
            if violating or key in state:
                state[key] = violating
        dev.last_fix_time, dev.last_lat, dev.last_lon = fix_time, fix.lat, fix.lon
        dev.last_accuracy_m, dev.last_speed_kmh, dev.last_source = fix.accuracy_m, fix.speed_kmh, fix.source
        if fix.source == "gps":
            dev.last_gps_at = fix_time
    elif trusted and zones:
        # With no earlier position (purged, or a device seeded without history) the fix cannot show a
        # transition: it stays flagged late and raises nothing.
        before = previous(fix_time)
        was = None
        if before is not None:
            was = {z.id: v for z, v in _zone_verdicts(zones, before[1], before[2], before[3] or 0.0, before[0], curfew_grace)}
        for zone, violating in _zone_verdicts(zones, fix.lat, fix.lon, fix.accuracy_m, fix_time, curfew_grace):
            if violating is None:
                if "drift" not in flags:
                    flags.append("drift")
            elif violating and was is not None and not was.get(zone.id):
                alerts.append(NewAlert(dev.participant_id, dev.officer_id, dev.id, _zone_alert_kind(zone), fix_time,
                                       fix.lat, fix.lon, detail=(zone.name[:100] + late_note)[:200]))
    if _power_recovers(dev, fix.battery_pct, fix.charging):
        cleared.add(dev.id)
    if fix.battery_pct is not None:
        _battery_rules(dev, fix.battery_pct, fix_time, fix.lat, fix.lon, alerts)
    if fix.charging is not None:
        dev.charging = fix.charging
    if fix.event in ("strap_tamper", "device_removed", "sos"):
        alerts.append(NewAlert(dev.participant_id, dev.officer_id, dev.id, fix.event, fix_time, fix.lat, fix.lon,
                               detail=late_note.strip()))
    if fix.event in ("strap_tamper", "device_removed"):
        dev.strap = "tampered" if fix.event == "strap_tamper" else "removed"
    elif fix.event == "strap_restored":
        dev.strap = "ok"
    if fix.mock and not state.get("mock"):
        # raised once per episode; a genuine fix after it ends the episode
        alerts.append(NewAlert(dev.participant_id, dev.officer_id, dev.id, "mock_location", fix_time, fix.lat,
                               fix.lon, detail=("the device reported a mock (simulated) location" + late_note)[:200]))
        state["mock"] = True
    elif trusted and newer:
        state.pop("mock", None)
    # Silence alerts re-arm as soon as the device talks (and has GPS) again.
    if state.pop("no_comm", None):
        cleared.add(dev.id)
    if trusted and fix.source == "gps" and state.pop("no_gps", None):
        cleared.add(dev.id)
    if dev.last_contact_at is None or now > dev.last_contact_at:
        dev.last_contact_at = now
    return ",".join(flags)


def record_contact(
    db: Database, serial: str, battery_pct: int | None, charging: bool, hub: LiveHub | None = None,
    now: datetime | None = None,
) -> None:
    """A ping without a position (cell or wifi only): the device is alive (contact, battery), nothing
    more; no position is stored and no location rule runs."""
    now = now or db.now()
    with db.write() as session:
        raw = Raw(session)
        dev = load_devices(raw, [serial]).get(serial)
        if dev is None:
            raise IngestError(422, "unknown_device", f"unknown device serial {serial[:64]}")
        apply_contact(session, raw, dev, battery_pct, charging, now, db.response_times)
        live = live_incident_events(session)  # what the contact cleared
    if hub is not None:
        hub.publish(live)


def apply_contact(
    session: Session, raw: Raw, dev: _Device, battery_pct: int | None, charging: bool, now: datetime,
    response_times: Mapping[str, timedelta] | None = None,
) -> None:
    """Record one position-less ping of `dev` (updated in place) in the session's transaction: contact
    and power, the battery rules, and the incidents that contact or power clears. The all-in-one server
    and the cluster's rules workers both call this."""
    alerts: list[NewAlert] = []
    recovered = _power_recovers(dev, battery_pct, charging)
    if battery_pct is not None:
        _battery_rules(dev, battery_pct, now, dev.last_lat, dev.last_lon, alerts)
    dev.charging = charging
    recovered = bool(dev.rule_state.pop("no_comm", None)) or recovered
    dev.last_contact_at = max(now, dev.last_contact_at or now)
    _write_devices(session, raw, [dev])
    raise_alerts(session, alerts, now=now, response_times=response_times)
    _auto_resolve(session, [dev] if recovered else [], now)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"


def _status(dev: _Device) -> tuple:
    """The device status as it is now (the event may be rendered later, after the device moved on)."""
    return dev.id, dev.battery_pct, dev.charging, dev.strap, dev.last_contact_at


def _fix_event(position: tuple, status: tuple) -> str:
    (pos_id, device_id, participant_id, fix_time, received_at, lat, lon, accuracy, speed, source, flags, via,
     bearing, altitude, hdop) = position
    fix = {
        "id": pos_id, "device_id": device_id, "participant_id": participant_id, "fix_time": _iso(fix_time),
        "received_at": _iso(received_at), "lat": lat, "lon": lon, "accuracy_m": accuracy, "speed_kmh": speed,
        "source": source, "flags": flags.split(",") if flags else [], "via": via, "bearing": bearing,
        "altitude_m": altitude, "hdop": hdop,
    }
    device_id, battery, charging, strap, last_contact = status
    device = {
        "device_id": device_id, "battery_pct": battery, "charging": charging, "strap": strap,
        "last_contact_at": _iso(last_contact),
    }
    return json.dumps({"type": "fix", "fix": fix, "device": device}, separators=(",", ":"))


def raise_alerts(
    session: Session, alerts: Sequence[NewAlert], live: list[tuple[str, str]] | None = None,
    now: datetime | None = None, response_times: Mapping[str, timedelta] | None = None,
) -> int:
    """Insert alerts into their incidents (sync_server.incidents), append the feed entries of both and
    queue the alerts' live events."""
    if not alerts:
        return 0
    grouper = IncidentGrouper(session, {a.participant_id for a in alerts}, now or utcnow(), response_times)
    rows, entries = [], []
    for a in alerts:
        alert_id = f"al-{uuid.uuid4().hex[:20]}"
        severity = severity_of(a.kind)
        incident_id = grouper.assign(RaisedAlert(a.participant_id, a.officer_id, a.device_id, a.kind, a.opened_at),
                                     severity)
        row = Alert(
            id=alert_id, version=1, participant_id=a.participant_id, device_id=a.device_id, kind=a.kind,
            severity=severity, opened_at=a.opened_at, lat=a.lat, lon=a.lon, state="open",
            incident_id=incident_id, detail=a.detail,
        )
        rows.append(row)
        data = dump(alert_data(row))
        entries.append(ChangeEntry(a.officer_id, a.participant_id, "alert", alert_id, "upsert", 1, data))
        if live is not None:
            live.append((a.officer_id, row_event("alert", row.version, data)))
    incident_entries = grouper.flush()
    session.add_all(rows)
    session.flush()
    append_changes(session, incident_entries + entries)
    return len(rows)


def check_silence(db: Database, hub: LiveHub | None = None, now: datetime | None = None) -> int:
    """Raise no_communication / no_gps for silent devices and missed_checkin for lapsed check-ins."""
    now = now or db.now()
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
                # GPS missing while the device kept talking: a device that just fell silent has its last
                # GPS fix a transmission interval before its last contact, and that is not a GPS loss
                and r.last_contact_at - r.last_gps_at > allowed
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
        raised = raise_alerts(session, alerts, live, now, db.response_times)
        if any(a.kind == OUTAGE_KIND for a in alerts):
            folded = fold_outages(session, now, db.response_times)
            append_changes(session, folded)
            # the live alert already queued names its device's own incident: its newer version names the outage
            live += [(e.officer_id, row_event("alert", e.version, e.data)) for e in folded
                     if e.entity == "alert" and e.data is not None]
        append_changes(session, escalate(session, now, db.response_times))
        live += live_incident_events(session)
    if hub is not None:
        hub.publish(live)
    return raised
