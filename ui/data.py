"""The screens' read queries: store -> immutable snapshots for the widgets.

Every function here takes an open Store, reads through one read_session (one consistent
snapshot) and returns frozen dataclasses or tuples, never ORM rows, so the result can be
handed from the worker thread that ran it to the GUI thread. Call them through ui.tasks.run_task,
never on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from local_db import audit as audit_log
from local_db.models import (
    Alert,
    Appointment,
    Device,
    Note,
    Officer,
    OutboxAction,
    Participant,
    Position,
    SyncJournal,
    SyncState,
    Zone,
)
from local_db.queries import CaseloadRow, caseload_rows
from local_db.store import Store
from local_db.timeutil import utc_now
from workstation.incidents import AlertFact, Incident, build_incidents
from workstation.route import PlannedVisit, ZoneRule

#: Resolved alerts stay visible (greyed) this long, so "what happened today" stays reachable.
RESOLVED_KEEP = timedelta(hours=24)


def _alert_fact(a: Alert) -> AlertFact:
    return AlertFact(
        id=a.id, participant_id=a.participant_id, device_id=a.device_id, kind=a.kind, severity=a.severity,
        opened_at=a.opened_at, state=a.state, detail=a.detail, pending=a.pending, incident_id=a.incident_id,
        lat=a.lat, lon=a.lon,
    )


@dataclass(frozen=True, slots=True)
class LiveFix:
    """A position or device-status update for one device (plain data from the live feed)."""

    device_id: str
    fix_time: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    battery_pct: int | None = None
    charging: bool | None = None
    strap: str | None = None


@dataclass(frozen=True)
class CaseloadSnapshot:
    rows: list[CaseloadRow]
    incidents: list[Incident]
    open_incidents: dict[str, int]
    names: dict[str, str]
    raw_alerts: int
    officer_name: str
    pending_actions: int
    #: outbox actions in conflict or rejected (waiting for the officer)
    outbox_problems: int
    last_sync_at: datetime | None
    #: device id -> map marker dict
    markers: dict[str, dict]
    #: rows that differ from the previous snapshot (None: participants added/removed/reordered)
    changed_rows: list[int] | None
    #: markers that differ from the previous snapshot (None: no previous snapshot)
    changed_markers: list[dict] | None


#: A fix older than this is stale (devices report every minute; 15 missed reports is a problem).
STALE_AFTER = timedelta(minutes=15)


def device_marker(r: CaseloadRow, has_incident: bool, now: datetime) -> dict:
    """The map's device dict for one caseload row (maps.view.MapView.set_devices format)."""
    if r.last_fix_time is None or r.last_lat is None:
        state = "no_fix"
    elif has_incident:
        state = "incident"
    elif now - r.last_fix_time > STALE_AFTER:
        state = "stale"
    else:
        state = "ok"
    return {
        "device_id": r.device_id, "participant_id": r.participant_id, "label": f"{r.last_name}, {r.first_name}",
        "lat": r.last_lat, "lon": r.last_lon,
        "fix_time": r.last_fix_time.isoformat() + "Z" if r.last_fix_time else None,
        "accuracy_m": r.last_accuracy_m, "state": state,
    }


def load_caseload(
    store: Store,
    now: datetime | None = None,
    previous: CaseloadSnapshot | None = None,
) -> CaseloadSnapshot:
    """Read the caseload and derive everything the window shows from it. With `previous` (the
    snapshot on screen), also work out here, off the GUI thread, which rows and which map markers
    changed, so applying the new snapshot costs the GUI thread only the changed cells."""
    now = now or utc_now()
    with store.read_session() as session:
        rows = caseload_rows(session, now=now)
        alerts = session.scalars(
            select(Alert).where(or_(Alert.state != "resolved", Alert.resolved_at >= now - RESOLVED_KEEP))
        ).all()
        facts = [_alert_fact(a) for a in alerts]
        pending = session.scalar(
            select(func.count()).select_from(OutboxAction).where(OutboxAction.state.in_(("queued", "sending")))
        )
        problems = session.scalar(
            select(func.count()).select_from(OutboxAction).where(OutboxAction.state.in_(("conflict", "rejected")))
        )
        state = session.scalars(select(SyncState).order_by(SyncState.id.desc())).first()
        last_pull = state.last_pull_at if state else None
        officer = session.scalars(select(Officer)).first()
        officer_name = officer.display_name if officer else ""
    risk = {r.participant_id: r.risk_level for r in rows}
    incidents = build_incidents(facts, risk)
    counts: dict[str, int] = {}
    for incident in incidents:
        if incident.state != "resolved":
            counts[incident.participant_id] = counts.get(incident.participant_id, 0) + 1
    names = {r.participant_id: f"{r.first_name} {r.last_name}" for r in rows}
    markers = {r.device_id: device_marker(r, bool(counts.get(r.participant_id)), now) for r in rows if r.device_id}
    changed_rows: list[int] | None = None
    changed_markers: list[dict] | None = None
    if previous is not None:
        old_rows = previous.rows
        if len(old_rows) == len(rows) and all(
            a.participant_id == b.participant_id for a, b in zip(old_rows, rows, strict=True)
        ):
            changed_rows = [i for i, (a, b) in enumerate(zip(old_rows, rows, strict=True)) if a != b]
        old_markers = previous.markers
        changed_markers = [m for key, m in markers.items() if old_markers.get(key) != m]
    return CaseloadSnapshot(
        markers=markers,
        changed_rows=changed_rows,
        changed_markers=changed_markers,
        rows=rows,
        incidents=incidents,
        open_incidents=counts,
        names=names,
        raw_alerts=len(facts),
        officer_name=officer_name,
        pending_actions=int(pending or 0),
        outbox_problems=int(problems or 0),
        last_sync_at=last_pull,
    )


@dataclass(frozen=True)
class DeviceInfo:
    id: str
    kind: str
    serial: str
    battery_pct: int | None
    charging: bool
    strap: str
    last_contact_at: datetime | None
    last_fix_time: datetime | None
    last_lat: float | None
    last_lon: float | None
    last_accuracy_m: float | None
    last_source: str | None


@dataclass(frozen=True)
class ZoneInfo:
    id: str
    name: str
    kind: str
    shape: str
    center_lat: float | None
    center_lon: float | None
    radius_m: float | None
    polygon: list[Any] | None
    schedule: list[Any]


@dataclass(frozen=True)
class AppointmentInfo:
    id: str
    kind: str
    starts_at: datetime
    place: str
    status: str


@dataclass(frozen=True)
class NoteInfo:
    id: str
    kind: str
    outcome: str | None
    text: str
    author: str
    occurred_at: datetime
    place: str
    pending: bool


@dataclass(frozen=True)
class ParticipantRecord:
    id: str
    version: int
    case_number: str
    first_name: str
    last_name: str
    dob: date | None
    language: str
    phone: str
    address: str
    home_lat: float | None
    home_lon: float | None
    program: str
    risk_level: str
    legal_flags: tuple[str, ...]
    supervision_start: date | None
    supervision_end: date | None
    photo: bytes | None
    devices: tuple[DeviceInfo, ...]
    zones: tuple[ZoneInfo, ...]
    appointments: tuple[AppointmentInfo, ...]
    alerts: tuple[AlertFact, ...]
    notes: tuple[NoteInfo, ...]
    track: tuple[tuple[float, float, datetime], ...]
    #: note / alert id -> the outbox state of its unfinished local action ("queued" | "sending" |
    #: "conflict"), so pending markers can say how far the action got
    outbox_states: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def load_participant(store: Store, participant_id: str, track_hours: int = 24) -> ParticipantRecord | None:
    # (security) AU-2: every view of a participant record is audited first; if the audit row
    # cannot be written the record is not read (AccessRefused, shown by the task's error path)
    return audit_log.audited_access(
        store, "view_participant", f"participant:{participant_id}",
        lambda: _read_participant(store, participant_id, track_hours),
    )  # fmt: skip


def _read_participant(store: Store, participant_id: str, track_hours: int) -> ParticipantRecord | None:
    since = utc_now() - timedelta(hours=track_hours)
    with store.read_session() as s:
        p = s.get(Participant, participant_id)
        if p is None:
            return None
        devices = s.scalars(select(Device).where(Device.participant_id == participant_id)).all()
        zones = s.scalars(select(Zone).where(Zone.participant_id == participant_id).order_by(Zone.name)).all()
        appts = s.scalars(
            select(Appointment).where(Appointment.participant_id == participant_id).order_by(Appointment.starts_at)
        ).all()
        alerts = s.scalars(
            select(Alert).where(Alert.participant_id == participant_id).order_by(Alert.opened_at.desc()).limit(200)
        ).all()
        notes = s.scalars(
            select(Note).where(Note.participant_id == participant_id).order_by(Note.occurred_at.desc()).limit(200)
        ).all()
        outbox_states: dict[str, str] = {}
        for action_id, target, state in s.execute(
            select(OutboxAction.id, OutboxAction.target, OutboxAction.state)
            .where(OutboxAction.participant_id == participant_id,
                   OutboxAction.state.in_(("queued", "sending", "conflict")))
            .order_by(OutboxAction.seq)
        ):
            outbox_states[action_id] = state  # an offline note's id is its action's id
            outbox_states[target] = state  # an alert's pending acknowledge/resolve
        track = s.execute(
            select(Position.lat, Position.lon, Position.fix_time)
            .where(Position.participant_id == participant_id, Position.fix_time >= since)
            .order_by(Position.fix_time)
            .limit(2000)
        ).all()
        return ParticipantRecord(
            id=p.id, version=p.version, case_number=p.case_number, first_name=p.first_name, last_name=p.last_name,
            dob=p.dob, language=p.language, phone=p.phone, address=p.address, home_lat=p.home_lat,
            home_lon=p.home_lon, program=p.program, risk_level=p.risk_level, legal_flags=tuple(p.legal_flags or ()),
            supervision_start=p.supervision_start, supervision_end=p.supervision_end, photo=p.photo,
            devices=tuple(
                DeviceInfo(d.id, d.kind, d.serial, d.battery_pct, d.charging, d.strap, d.last_contact_at,
                           d.last_fix_time, d.last_lat, d.last_lon, d.last_accuracy_m, d.last_source)
                for d in devices
            ),
            zones=tuple(
                ZoneInfo(z.id, z.name, z.kind, z.shape, z.center_lat, z.center_lon, z.radius_m, z.polygon,
                         list(z.schedule or []))
                for z in zones
            ),
            appointments=tuple(AppointmentInfo(a.id, a.kind, a.starts_at, a.place, a.status) for a in appts),
            alerts=tuple(_alert_fact(a) for a in alerts),
            notes=tuple(
                NoteInfo(n.id, n.kind, n.outcome, n.text, n.author, n.occurred_at, n.place, n.pending) for n in notes
            ),
            track=tuple((lat, lon, t) for lat, lon, t in track),
            outbox_states=outbox_states,
        )


@dataclass(frozen=True)
class OutboxItem:
    id: str
    seq: int
    kind: str
    target: str
    participant_id: str | None
    payload: dict
    created_at: datetime
    state: str
    attempts: int
    last_error: str | None
    server_result: dict | None


def load_outbox(store: Store, limit: int = 500) -> list[OutboxItem]:
    with store.read_session() as s:
        rows = s.scalars(select(OutboxAction).order_by(OutboxAction.seq.desc()).limit(limit)).all()
        return [
            OutboxItem(a.id, a.seq, a.kind, a.target, a.participant_id, dict(a.payload or {}), a.created_at, a.state,
                       a.attempts, a.last_error, dict(a.server_result) if a.server_result else None)
            for a in rows
        ]


@dataclass(frozen=True)
class JournalEntry:
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    summary: dict
    error: str | None


def load_journal(store: Store, limit: int = 200) -> list[JournalEntry]:
    with store.read_session() as s:
        rows = s.scalars(select(SyncJournal).order_by(SyncJournal.started_at.desc()).limit(limit)).all()
        return [JournalEntry(j.started_at, j.finished_at, j.outcome, dict(j.summary or {}), j.error) for j in rows]


def _zone_rule(z: Zone) -> ZoneRule:
    windows = tuple(
        (tuple(w.get("days", ())), w.get("start", "00:00"), w.get("end", "00:00")) for w in (z.schedule or [])
    )
    return ZoneRule(z.name, z.kind, z.center_lat, z.center_lon, windows)


def load_todays_visits(store: Store, day_start_utc: datetime, day_end_utc: datetime) -> tuple[list[PlannedVisit], tuple[float, float] | None]:
    """Today's scheduled appointments the officer attends (home visits; court hearings to attend
    too), with the participant's device and schedule; plus the officer's office as route start."""
    with store.read_session() as s:
        appts = s.scalars(
            select(Appointment).where(
                Appointment.starts_at >= day_start_utc,
                Appointment.starts_at < day_end_utc,
                Appointment.status == "scheduled",
                Appointment.kind.in_(("home_visit", "court_hearing", "office_checkin")),
            ).order_by(Appointment.starts_at)
        ).all()
        pids = {a.participant_id for a in appts}
        people = {p.id: p for p in s.scalars(select(Participant).where(Participant.id.in_(pids)))} if pids else {}
        devices: dict[str, Device] = {}
        for d in s.scalars(select(Device).where(Device.participant_id.in_(pids))) if pids else ():
            best = devices.get(d.participant_id)
            if best is None or (d.last_fix_time or datetime.min) > (best.last_fix_time or datetime.min):
                devices[d.participant_id] = d
        zones: dict[str, list[ZoneRule]] = {}
        for z in s.scalars(select(Zone).where(Zone.participant_id.in_(pids))) if pids else ():
            zones.setdefault(z.participant_id, []).append(_zone_rule(z))
        officer = s.scalars(select(Officer)).first()
        start = (officer.office_lat, officer.office_lon) if officer and officer.office_lat is not None else None
        visits: list[PlannedVisit] = []
        for a in appts:
            p = people.get(a.participant_id)
            if p is None:
                continue
            d = devices.get(a.participant_id)
            lat = a.lat if a.lat is not None else p.home_lat
            lon = a.lon if a.lon is not None else p.home_lon
            visits.append(
                PlannedVisit(
                    participant_id=p.id, name=f"{p.first_name} {p.last_name}", case_number=p.case_number,
                    starts_at=a.starts_at, kind=a.kind, place=a.place or p.address, lat=lat, lon=lon,
                    home_lat=p.home_lat, home_lon=p.home_lon,
                    device_lat=d.last_lat if d else None, device_lon=d.last_lon if d else None,
                    fix_time=d.last_fix_time if d else None, zones=tuple(zones.get(p.id, ())),
                )
            )
    return visits, start


def load_device_fixes(store: Store, device_ids: list[str]) -> list:
    """Current last-fix and status columns of the given devices, as LiveFix values."""
    out = []
    with store.read_session() as s:
        for start in range(0, len(device_ids), 500):
            chunk = device_ids[start:start + 500]
            for d in s.execute(
                select(Device.id, Device.last_fix_time, Device.last_lat, Device.last_lon, Device.last_accuracy_m,
                       Device.battery_pct, Device.charging, Device.strap).where(Device.id.in_(chunk))
            ):
                out.append(LiveFix(d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]))
    return out
