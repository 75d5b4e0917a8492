"""What the laptop holds for one participant and window, gathered from the store into plain records.

Every record is a dict of JSON values (times as UTC ISO strings), built from *all* the columns the
local table has, so a field another part of the workstation starts recording (position provenance,
incident notes, a participant's time zone) reaches the packet and its manifest without a change
here. What the laptop does not hold is collected as sentences in `not_held` and printed in the
section it concerns: a court must never mistake a gap in this laptop's data for an absence of events.

One read transaction (one consistent snapshot); nothing is written here.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, get_args, get_origin

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from local_db.models import (
    Alert,
    Appointment,
    Base,
    Device,
    Note,
    Officer,
    OutboxAction,
    Participant,
    Position,
    SyncState,
    Zone,
)
from local_db.timeutil import to_db
from workstation import protocol as p
from workstation.reports.window import ReportWindow, utc_iso
from workstation.rules.schedule import effective_time_zone, participant_time_zone

#: Provenance an evidence packet should show for each position (issue: source, accuracy, receipt time,
#: and the flags late / invalid / mock / drift). Whatever of it this version does not record is stated.
EXPECTED_POSITION_FLAGS = ("late", "invalid", "mock", "drift")

#: a window starting this little before the retention horizon ("the last 7 days" picked a minute ago)
#: loses nothing worth a sentence: the purge runs with the sync, not to the second
RETENTION_SLACK = timedelta(minutes=15)


class ParticipantNotHeld(LookupError):
    """No participant with that case number is in this laptop's caseload."""


@dataclass
class PacketContents:
    packet_id: str
    generated_at: datetime  # aware UTC
    window: ReportWindow
    agency: str
    officer: dict[str, Any]
    workstation_id: str
    participant: dict[str, Any]
    devices: list[dict[str, Any]]
    zones: list[dict[str, Any]]
    appointments: list[dict[str, Any]]
    positions: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    #: section key -> sentences about what this laptop does not hold for that section
    not_held: dict[str, list[str]] = field(default_factory=dict)
    #: position flags this laptop can record (shown in the positions table); the rest are stated as not recorded
    recorded_flags: tuple[str, ...] = ()
    last_sync_at: datetime | None = None
    photo: bytes | None = None

    def state(self, section: str, sentence: str) -> None:
        self.not_held.setdefault(section, []).append(sentence)

    @property
    def case_number(self) -> str:
        return str(self.participant["case_number"])

    @property
    def participant_name(self) -> str:
        return f"{self.participant['first_name']} {self.participant['last_name']}"


def json_value(value: Any) -> Any:
    """A column value as JSON: times to UTC ISO, dates to ISO, bytes to their SHA-256 (never inline)."""
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return {"sha256": hashlib.sha256(bytes(value)).hexdigest(), "bytes": len(bytes(value))}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


def columns_of(model: type[Base], *, skip: Iterable[str] = ()) -> list[str]:
    skipped = set(skip)
    return [column.key for column in model.__table__.columns if column.key not in skipped]


def record_of(row: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: json_value(getattr(row, name)) for name in names}


def flag_vocabulary() -> tuple[str, ...]:
    """The position flags the wire protocol lets ingestion record: every literal value found in the
    annotation of PositionData.flags, however it is nested (list, tuple, optional, an alias)."""
    found: list[str] = []

    def walk(annotation: Any) -> None:
        if get_origin(annotation) is Literal:
            found.extend(str(v) for v in get_args(annotation))
            return
        for inner in get_args(annotation):
            walk(inner)

    walk(p.PositionData.model_fields["flags"].annotation)
    return tuple(dict.fromkeys(found))


def boolean_position_columns() -> tuple[str, ...]:
    """Yes/no provenance columns of the local position table (e.g. a `mock` column), if any."""
    return tuple(
        column.key
        for column in Position.__table__.columns
        if column.type.python_type is bool
    )


def gather_packet(
    session: Session,
    case_number: str,
    window: ReportWindow,
    *,
    officer_username: str,
    workstation_id: str,
    agency: str,
    retention_days: int,
    agency_time_zone: str,
    now: datetime | None = None,
    packet_id: str | None = None,
) -> PacketContents:
    """Everything the packet shows, read in one snapshot. Raises ParticipantNotHeld."""
    now_aware = (now or datetime.now(UTC)).astimezone(UTC)
    participant = session.scalar(select(Participant).where(Participant.case_number == case_number))
    if participant is None:
        raise ParticipantNotHeld(f"no participant with case number {case_number!r} is held on this laptop")
    start, end = to_db(window.start), to_db(window.end)
    pid = participant.id

    officer = session.scalar(select(Officer).where(Officer.username == officer_username)) or session.scalar(
        select(Officer).limit(1)
    )
    contents = PacketContents(
        packet_id=packet_id or str(uuid.uuid4()),
        generated_at=now_aware,
        window=window,
        agency=agency,
        officer={
            "username": officer.username if officer else officer_username,
            "display_name": officer.display_name if officer else "",
        },
        workstation_id=workstation_id,
        participant=record_of(participant, columns_of(Participant)),
        devices=[
            record_of(d, columns_of(Device))
            for d in session.scalars(select(Device).where(Device.participant_id == pid).order_by(Device.id))
        ],
        zones=[
            record_of(z, columns_of(Zone))
            for z in session.scalars(select(Zone).where(Zone.participant_id == pid).order_by(Zone.name, Zone.id))
        ],
        appointments=[
            record_of(a, columns_of(Appointment))
            for a in session.scalars(
                select(Appointment)
                .where(Appointment.participant_id == pid, Appointment.starts_at >= start, Appointment.starts_at < end)
                .order_by(Appointment.starts_at, Appointment.id)
            )
        ],
        positions=_positions(session, pid, start, end),
        alerts=_alerts(session, pid, start, end),
        notes=[
            record_of(n, columns_of(Note))
            for n in session.scalars(
                select(Note)
                .where(Note.participant_id == pid, Note.occurred_at >= start, Note.occurred_at < end)
                .order_by(Note.occurred_at, Note.id)
            )
        ],
        recorded_flags=tuple(dict.fromkeys((*flag_vocabulary(), *boolean_position_columns()))),
        photo=bytes(participant.photo) if participant.photo else None,
    )
    state = session.get(SyncState, 1)
    contents.last_sync_at = state.last_pull_at.replace(tzinfo=UTC) if state and state.last_pull_at else None
    for zone in contents.zones:
        zone["effective_time_zone"] = effective_time_zone(zone.get("time_zone"), agency_time_zone)
    _state_gaps(session, contents, pid, start, end, now_aware, retention_days, agency_time_zone)
    return contents


def packet_time_zone(session: Session, case_number: str, agency_time_zone: str) -> str:
    """The zone a packet prints its times in by default: the participant's (from their zones' time zones)."""
    zones = session.scalars(
        select(Zone.time_zone).join(Participant, Participant.id == Zone.participant_id)
        .where(Participant.case_number == case_number)
    )
    return participant_time_zone(zones, agency_time_zone)


def _positions(session: Session, pid: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    names = columns_of(Position, skip=("participant_id",))
    columns = [getattr(Position, name) for name in names]
    rows = session.execute(
        select(*columns)
        .where(Position.participant_id == pid, Position.fix_time >= start, Position.fix_time < end)
        .order_by(Position.fix_time, Position.id)
    )
    # plain tuples, not ORM rows: a week at one fix a minute is 10,080 of them
    return [{name: json_value(value) for name, value in zip(names, row, strict=True)} for row in rows]


def _alerts(session: Session, pid: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Alerts opened in the window, and earlier ones still unresolved when it began."""
    alerts = session.scalars(
        select(Alert)
        .where(
            Alert.participant_id == pid,
            Alert.opened_at < end,
            or_(Alert.opened_at >= start, Alert.resolved_at.is_(None), Alert.resolved_at >= start),
        )
        .order_by(Alert.opened_at, Alert.id)
    ).all()
    records = [record_of(a, columns_of(Alert)) for a in alerts]
    notes = _officer_alert_notes(session, [a.id for a in alerts])
    for record in records:
        record["officer_notes"] = notes.get(record["id"], [])
    return records


def _officer_alert_notes(session: Session, alert_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Notes this laptop's officer wrote when acknowledging or resolving (kept with the outbox action)."""
    if not alert_ids:
        return {}
    found: dict[str, list[dict[str, Any]]] = {}
    actions = session.scalars(
        select(OutboxAction)
        .where(
            OutboxAction.kind.in_(("acknowledge_alert", "resolve_alert")),
            OutboxAction.target.in_(alert_ids),
        )
        .order_by(OutboxAction.seq)
    )
    for action in actions:
        note = str((action.payload or {}).get("note") or "")
        found.setdefault(action.target, []).append(
            {
                "action": action.kind,
                "at": utc_iso(action.created_at),
                "note": note,
                "resolution": (action.payload or {}).get("resolution"),
                "state": action.state,
            }
        )
    return found


def _state_gaps(
    session: Session,
    contents: PacketContents,
    pid: str,
    start: datetime,
    end: datetime,
    now: datetime,
    retention_days: int,
    agency_time_zone: str,
) -> None:
    win = contents.window
    if contents.last_sync_at is None:
        contents.state("packet", "This laptop has never completed a sync: it holds only what it recorded itself.")
    else:
        contents.state(
            "packet",
            f"Data as of the last sync with the agency server, {win.local(contents.last_sync_at)}; "
            "later changes on the server are not in this packet.",
        )
    if end > to_db(now):
        contents.state("packet", f"The window ends after this packet was generated ({win.local(now)}).")

    if not contents.participant.get("photo"):
        contents.state("participant", "Photo: not held on this laptop.")

    if not any("assign" in name for name in columns_of(Device)):
        contents.state("devices", "Device assignment dates: not recorded on this laptop (devices listed as currently assigned).")

    without_zone = [z["name"] for z in contents.zones if not z.get("time_zone")]
    if without_zone:
        contents.state(
            "zones",
            f"No time zone of its own is recorded on this laptop for: {', '.join(without_zone)}; its schedule is "
            f"read in the agency's default time zone, {agency_time_zone}.",
        )

    cutoff = to_db(now) - timedelta(days=retention_days)
    if start < cutoff - RETENTION_SLACK:
        contents.state(
            "positions",
            f"Positions before {win.local(cutoff, seconds=False)} are past this laptop's retention "
            f"({retention_days} days) and are not in this packet; the agency server holds the full history.",
        )
    first_held, last_held = session.execute(
        select(func.min(Position.fix_time), func.max(Position.fix_time)).where(Position.participant_id == pid)
    ).one()
    if not contents.positions:
        contents.state("positions", "No position of this participant in the window is held on this laptop.")
    elif first_held is not None and first_held > max(start, cutoff) + timedelta(minutes=10):
        contents.state(
            "positions",
            f"This laptop holds positions of this participant from {win.local(first_held)} only; earlier ones "
            "in the window were never received by it.",
        )
    if last_held is not None and contents.positions and last_held < min(end, to_db(now)) - timedelta(hours=1):
        contents.state("positions", f"The last position this laptop holds is from {win.local(last_held)}.")
    missing_flags = [f for f in EXPECTED_POSITION_FLAGS if f not in contents.recorded_flags]
    if missing_flags:
        contents.state(
            "positions",
            "Provenance flags not recorded on this laptop: " + ", ".join(missing_flags) + "; the flags recorded are "
            + ", ".join(contents.recorded_flags) + ".",
        )

    if not any("note" in name for name in columns_of(Alert)):
        contents.state(
            "incidents",
            "Notes written when an alert was acknowledged or resolved on another workstation or at the agency are "
            "not synced to this laptop; only this laptop's own notes are shown.",
        )
    if not contents.alerts:
        contents.state("incidents", "No alert of this participant in the window is held on this laptop.")
    pending = sum(1 for n in contents.notes if n.get("pending"))
    if pending:
        contents.state("notes", f"{pending} of these entries {'is' if pending == 1 else 'are'} not yet confirmed by "
                                "the agency server (pending).")
    if not contents.notes:
        contents.state("notes", "No note, contact or visit of this participant in the window is held on this laptop.")

