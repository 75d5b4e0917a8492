"""ORM models of the officer's local, encrypted store.

The shapes mirror workstation/protocol.py (the wire) so a synced row is stored as it arrived,
plus local-only bookkeeping: the outbox, the sync cursor, the audit chain and settings.
Rows synced from the server carry its `version`; rows the officer creates carry a client UUID
as their id and `pending = True` until the server has applied the action that created them.

No Qt here (import-linter contract). Times are stored as timezone-naive UTC datetimes
(SQLite has no time zone type); convert at the edges with local_db.timeutil.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}
    # every model here is mapped to one Table (declarative), which the bulk statements use
    __table__: ClassVar[Table]


class Officer(Base):
    __tablename__ = "officer"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    office_lat: Mapped[float | None] = mapped_column(Float)
    office_lon: Mapped[float | None] = mapped_column(Float)


class Participant(Base):
    __tablename__ = "participant"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    case_number: Mapped[str] = mapped_column(String(64), unique=True)
    first_name: Mapped[str] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(200))
    dob: Mapped[date | None] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(20), default="en")
    phone: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    home_lat: Mapped[float | None] = mapped_column(Float)
    home_lon: Mapped[float | None] = mapped_column(Float)
    program: Mapped[str] = mapped_column(String(100), default="")
    risk_level: Mapped[str] = mapped_column(String(10), default="medium")
    legal_flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    supervision_start: Mapped[date | None] = mapped_column(Date)
    supervision_end: Mapped[date | None] = mapped_column(Date)
    officer_id: Mapped[str] = mapped_column(String(64))
    photo_url: Mapped[str | None] = mapped_column(String(300))
    photo: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_participant_name", "last_name", "first_name"),)


class Device(Base):
    __tablename__ = "device"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    battery_pct: Mapped[int | None] = mapped_column(Integer)
    charging: Mapped[bool] = mapped_column(Boolean, default=False)
    strap: Mapped[str] = mapped_column(String(20), default="ok")
    last_contact_at: Mapped[datetime | None] = mapped_column(DateTime)
    expected_interval_s: Mapped[int] = mapped_column(Integer, default=60)
    # Denormalised last fix: the caseload table and the map read it without touching `position`.
    last_fix_time: Mapped[datetime | None] = mapped_column(DateTime)
    last_lat: Mapped[float | None] = mapped_column(Float)
    last_lon: Mapped[float | None] = mapped_column(Float)
    last_accuracy_m: Mapped[float | None] = mapped_column(Float)
    last_speed_kmh: Mapped[float | None] = mapped_column(Float)
    last_source: Mapped[str | None] = mapped_column(String(10))

    __table_args__ = (Index("ix_device_participant", "participant_id"),)


class Position(Base):
    __tablename__ = "position"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"))
    fix_time: Mapped[datetime] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float, default=0.0)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(10), default="gps")
    #: drift, impossible_speed, late, invalid, mock (workstation.protocol.PositionFlag)
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: provenance: "osmand" (the device's own key), "gateway:NAME", "simulator"; "" before servers said
    via: Mapped[str] = mapped_column(String(80), default="", server_default="")
    bearing: Mapped[float | None] = mapped_column(Float)
    altitude_m: Mapped[float | None] = mapped_column(Float)
    hdop: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        # track of one device in time order; retention purge by fix_time
        Index("ix_position_device_time", "device_id", "fix_time"),
        Index("ix_position_time", "fix_time"),
        Index("ix_position_participant", "participant_id"),
    )


class Zone(Base):
    __tablename__ = "zone"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    shape: Mapped[str] = mapped_column(String(20))
    center_lat: Mapped[float | None] = mapped_column(Float)
    center_lon: Mapped[float | None] = mapped_column(Float)
    radius_m: Mapped[float | None] = mapped_column(Float)
    polygon: Mapped[list[Any] | None] = mapped_column(JSON)
    schedule: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: IANA zone of the schedule; NULL = the agency's default (configuration)
    time_zone: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_zone_participant", "participant_id"),)


class Appointment(Base):
    __tablename__ = "appointment"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    place: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")

    __table_args__ = (
        Index("ix_appointment_participant_time", "participant_id", "starts_at"),
        Index("ix_appointment_time", "starts_at"),
    )


class Incident(Base):
    """A server incident (workstation.protocol.IncidentData); its alerts carry its id."""

    __tablename__ = "incident"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"))
    device_id: Mapped[str | None] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(30))
    kinds: Mapped[list[Any]] = mapped_column(JSON, default=list)
    severity: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default="open")
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    last_alert_at: Mapped[datetime] = mapped_column(DateTime)
    alert_count: Mapped[int] = mapped_column(Integer, default=1)
    needs_action: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_action_since: Mapped[datetime | None] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolution: Mapped[str] = mapped_column(String(200), default="")
    # an acknowledge/resolve queued in the outbox and not yet applied by the server
    pending: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_incident_participant", "participant_id"),
        Index("ix_incident_state_due", "state", "due_at"),
    )


class Alert(Base):
    __tablename__ = "alert"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"))
    device_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(10))
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(20), default="open")
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    incident_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(300), default="")
    # an acknowledge/resolve queued in the outbox and not yet applied by the server
    pending: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_alert_participant_state", "participant_id", "state"),
        Index("ix_alert_state_opened", "state", "opened_at"),
        Index("ix_alert_incident", "incident_id"),
    )


class Note(Base):
    """Notes and contacts (visits, check-ins, schedule requests): the participant's timeline."""

    __tablename__ = "note"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30), default="note")
    outcome: Mapped[str | None] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    place: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # created here and not yet applied by the server (shown as "pending" in the timeline)
    pending: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_note_participant_time", "participant_id", "occurred_at"),)


class OutboxAction(Base):
    """An officer action waiting to reach the server, written in the same transaction as its
    local effect. The id is the client UUID the server deduplicates on, so re-sending is safe.

    state: queued -> sending -> done | conflict | rejected (conflict/rejected never block the rest).
    """

    __tablename__ = "outbox_action"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)  # creation order, push order
    kind: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str | None] = mapped_column(String(64))
    base_version: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    done_at: Mapped[datetime | None] = mapped_column(DateTime)
    server_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_outbox_state_seq", "state", "seq"),
        # a participant's pending actions, in order (detail view, conflict view); migration 0002
        Index("ix_outbox_participant_seq", "participant_id", "seq"),
    )


class SyncState(Base):
    """One row per server/officer: the pull cursor, stored in the same transaction as each page."""

    __tablename__ = "sync_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server_url: Mapped[str] = mapped_column(String(300), default="")
    officer_id: Mapped[str | None] = mapped_column(String(64))
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    live_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_pull_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_push_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_contact_at: Mapped[datetime | None] = mapped_column(DateTime)
    audit_acked_seq: Mapped[int] = mapped_column(Integer, default=0)
    #: given by the server at this workstation's enrolment; proves audit uploads come from here (0004)
    workstation_credential: Mapped[str | None] = mapped_column(String(100))


class SyncJournal(Base):
    """What each sync brought and sent (shown to the officer as the sync journal)."""

    __tablename__ = "sync_journal"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str] = mapped_column(String(20), default="running")
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    """Append-only, hash-chained audit trail: hash = sha256(prev_hash || canonical row)."""

    __tablename__ = "audit_event"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    officer: Mapped[str] = mapped_column(String(100))
    workstation_id: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(40))
    object: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Setting(Base):
    """Typed settings persisted as JSON values; only values the user changed are stored."""

    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


#: Tables that hang off a participant, purged with it when it is reassigned away (tombstone).
PARTICIPANT_CHILDREN = (Device, Position, Zone, Appointment, Alert, Incident, Note)
