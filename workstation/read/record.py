"""One participant's record: identity, devices, zones, appointments, alerts, notes and track."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from local_db import audit as audit_log
from local_db.models import Alert, Appointment, Device, Note, OutboxAction, Participant, Position, Zone
from local_db.store import Store
from local_db.timeutil import utc_now
from workstation.incidents import AlertFact
from workstation.read.caseload import alert_fact
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE, effective_time_zone, participant_time_zone


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
    #: the IANA zone the schedule is written in (the agency's default filled in)
    time_zone: str = DEFAULT_AGENCY_TIME_ZONE


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
class TrackProvenance:
    """How the positions of the record's window reached the server, and what was flagged."""

    positions: int = 0
    #: position flag (late, invalid, mock, drift, impossible_speed) -> positions carrying it
    flagged: tuple[tuple[str, int], ...] = ()
    #: provenance ("osmand", "gateway:NAME", "simulator", "" = not said) -> positions
    via: tuple[tuple[str, int], ...] = ()
    last_via: str = ""
    last_received_at: datetime | None = None


def track_provenance(rows: Iterable[tuple[Any, ...]]) -> TrackProvenance:
    """From (flags, via, received_at) rows in fix-time order."""
    flagged: Counter[str] = Counter()
    via: Counter[str] = Counter()
    n, last = 0, None
    for flags, source, received in rows:
        n += 1
        flagged.update(str(f) for f in flags or ())
        via[source or ""] += 1
        last = (source or "", received)
    return TrackProvenance(
        n, tuple(sorted(flagged.items())), tuple(via.most_common()), *(last or ("", None))
    )


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
    #: where the participant lives by the clock (workstation.rules.schedule.participant_time_zone)
    time_zone: str = DEFAULT_AGENCY_TIME_ZONE
    #: provenance and flags of the positions of `track`
    provenance: TrackProvenance = field(default_factory=TrackProvenance)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def load_participant(
    store: Store, participant_id: str, track_hours: int = 24, agency_time_zone: str = DEFAULT_AGENCY_TIME_ZONE
) -> ParticipantRecord | None:
    # (security) AU-2: every view of a participant record is audited first; if the audit row
    # cannot be written the record is not read (AccessRefused, shown by the task's error path)
    return audit_log.audited_access(
        store, "view_participant", f"participant:{participant_id}",
        lambda: _read_participant(store, participant_id, track_hours, agency_time_zone),
    )  # fmt: skip


def _read_participant(
    store: Store, participant_id: str, track_hours: int, agency_time_zone: str
) -> ParticipantRecord | None:
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
            select(Position.lat, Position.lon, Position.fix_time, Position.flags, Position.via, Position.received_at)
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
                         list(z.schedule or []), effective_time_zone(z.time_zone, agency_time_zone))
                for z in zones
            ),
            appointments=tuple(AppointmentInfo(a.id, a.kind, a.starts_at, a.place, a.status) for a in appts),
            alerts=tuple(alert_fact(a) for a in alerts),
            notes=tuple(
                NoteInfo(n.id, n.kind, n.outcome, n.text, n.author, n.occurred_at, n.place, n.pending) for n in notes
            ),
            track=tuple((lat, lon, t) for lat, lon, t, *_ in track),
            provenance=track_provenance(row[3:] for row in track),
            outbox_states=outbox_states,
            time_zone=participant_time_zone((z.time_zone for z in zones), agency_time_zone),
        )


