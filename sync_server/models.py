"""The server's own SQLAlchemy tables (it never imports the workstation's local_db).

Shapes follow the wire models in workstation.protocol. Times are stored as naive UTC.
`change_log` is the per-officer change feed: one row per (officer, entity, row id), holding the row's
latest state as pre-serialized JSON, so a full pull is a single index range scan plus string joins.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class Setting(Base):
    """Server secrets generated on first start (the admin key)."""

    __tablename__ = "server_setting"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))


class Officer(Base):
    __tablename__ = "officer"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    office_lat: Mapped[float | None] = mapped_column(Float)
    office_lon: Mapped[float | None] = mapped_column(Float)
    password_hash: Mapped[str] = mapped_column(String(300))
    #: password logins are refused until then (failed-login lockout); sessions keep working
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    #: `sync-server disable`: no login, no refresh, no request, no live stream
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: base32 TOTP secret (`sync-server mfa enrol USER`); when set, logins need a one-time code
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: the last TOTP step accepted, so an observed code cannot be replayed
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)


class LoginFailure(Base):
    __tablename__ = "login_failure"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    officer_id: Mapped[str] = mapped_column(ForeignKey("officer.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)


class Workstation(Base):
    __tablename__ = "workstation"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: the officer it is enrolled to (at its first login); another officer's login naming it is refused
    officer_id: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: SHA-256 of the workstation credential handed out once at enrolment (sync_server.auth.enrol)
    credential_hash: Mapped[str | None] = mapped_column(String(64))


class SessionToken(Base):
    """Opaque bearer tokens, stored as SHA-256 digests so a database leak yields no live token."""

    __tablename__ = "session_token"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # access | refresh
    officer_id: Mapped[str] = mapped_column(ForeignKey("officer.id", ondelete="CASCADE"))
    workstation_id: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    #: every token descended from one password login; a reused refresh token revokes the family
    family: Mapped[str] = mapped_column(String(32), index=True)
    #: when a refresh token was rotated; kept until it expires so a second use is recognised
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class Participant(Base):
    __tablename__ = "participant"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    case_number: Mapped[str] = mapped_column(String(64), unique=True)
    first_name: Mapped[str] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(200))
    dob: Mapped[date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(20), default="en")
    phone: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    home_lat: Mapped[float | None] = mapped_column(Float)
    home_lon: Mapped[float | None] = mapped_column(Float)
    program: Mapped[str] = mapped_column(String(100), default="")
    risk_level: Mapped[str] = mapped_column(String(10), default="medium")
    legal_flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    supervision_start: Mapped[date | None] = mapped_column(Date)
    supervision_end: Mapped[date | None] = mapped_column(Date)
    officer_id: Mapped[str] = mapped_column(ForeignKey("officer.id"), index=True)
    photo_url: Mapped[str | None] = mapped_column(String(200))


class Device(Base):
    __tablename__ = "device"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    battery_pct: Mapped[int | None] = mapped_column(Integer)
    charging: Mapped[bool] = mapped_column(Boolean, default=False)
    strap: Mapped[str] = mapped_column(String(20), default="ok")
    last_contact_at: Mapped[datetime | None] = mapped_column(DateTime)
    expected_interval_s: Mapped[int] = mapped_column(Integer, default=60)
    last_fix_time: Mapped[datetime | None] = mapped_column(DateTime)
    last_gps_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_lat: Mapped[float | None] = mapped_column(Float)
    last_lon: Mapped[float | None] = mapped_column(Float)
    last_accuracy_m: Mapped[float | None] = mapped_column(Float)
    last_speed_kmh: Mapped[float | None] = mapped_column(Float)
    last_source: Mapped[str | None] = mapped_column(String(10))
    #: per-zone inside/outside memory of the rules engine, so alerts fire on transitions only
    rule_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: SHA-256 of the device's own key (sync_server.device_keys); None: it cannot report by itself
    key_hash: Mapped[str | None] = mapped_column(String(64))
    #: the vendor gateway allowed to report for this device (Gateway.name)
    gateway: Mapped[str | None] = mapped_column(String(64))


class Gateway(Base):
    """A vendor gateway posting batches to /v1/ingest/fixes with its own key (stored hashed)."""

    __tablename__ = "gateway"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Position(Base):
    __tablename__ = "position"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str] = mapped_column(String(64))
    fix_time: Mapped[datetime] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float, default=0.0)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(10), default="gps")
    flags: Mapped[str] = mapped_column(String(80), default="")  # comma-separated, cheap to write
    #: provenance: how the fix arrived ("osmand" = the device's own key, "gateway:NAME", "simulator")
    via: Mapped[str] = mapped_column(String(80), default="")
    bearing: Mapped[float | None] = mapped_column(Float)
    altitude_m: Mapped[float | None] = mapped_column(Float)
    hdop: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_position_participant_time", "participant_id", "fix_time"),)


class Zone(Base):
    __tablename__ = "zone"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    shape: Mapped[str] = mapped_column(String(20))
    center_lat: Mapped[float | None] = mapped_column(Float)
    center_lon: Mapped[float | None] = mapped_column(Float)
    radius_m: Mapped[float | None] = mapped_column(Float)
    polygon: Mapped[list[Any] | None] = mapped_column(JSON)
    schedule: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: IANA zone the schedule's wall-clock times are in; NULL = the agency's default (configuration)
    time_zone: Mapped[str | None] = mapped_column(String(64))


class Appointment(Base):
    __tablename__ = "appointment"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    starts_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    place: Mapped[str] = mapped_column(String(200), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")


class Incident(Base):
    """Related alerts of one participant's device and family, the unit an officer works on
    (definition: workstation.rules.incidents; written by sync_server.incidents)."""

    __tablename__ = "incident"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(30))
    kinds: Mapped[list[Any]] = mapped_column(JSON, default=list)
    severity: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default="open")
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    last_alert_at: Mapped[datetime] = mapped_column(DateTime)
    alert_count: Mapped[int] = mapped_column(Integer, default=1)
    auto_resolvable: Mapped[bool] = mapped_column(Boolean, default=False)
    #: when an uncleared incident starts needing an officer (the watchdog flips needs_action then)
    escalate_at: Mapped[datetime | None] = mapped_column(DateTime)
    needs_action: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_action_since: Mapped[datetime | None] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolution: Mapped[str] = mapped_column(String(200), default="")
    #: an outage incident's group ("gateway:NAME" or "area:LAT:LON", workstation.rules.incidents.outage_groups)
    outage_group: Mapped[str | None] = mapped_column(String(80))

    __table_args__ = (
        Index("ix_incident_open", "state", "participant_id"),
        Index("ix_incident_device_state", "device_id", "state"),
        Index("ix_incident_escalation", "needs_action", "escalate_at"),
    )


class Alert(Base):
    __tablename__ = "alert"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
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
    detail: Mapped[str] = mapped_column(String(200), default="")


class Note(Base):
    __tablename__ = "note"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30), default="note")
    outcome: Mapped[str | None] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    place: Mapped[str] = mapped_column(String(200), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)


class ChangeLog(Base):
    """Latest state of each row in each officer's feed; re-appending a row moves it to a new seq."""

    __tablename__ = "change_log"
    # A surrogate key, so moving a row to a new seq updates one index entry instead of re-keying the row.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    officer_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(20))
    row_id: Mapped[str] = mapped_column(String(64))
    op: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("officer_id", "entity", "row_id", name="uq_change_row"),
        Index("ix_change_officer_seq", "officer_id", "seq"),
        Index("ix_change_officer_participant", "officer_id", "participant_id"),
        # AUTOINCREMENT: without it SQLite reuses the highest deleted seq, so a re-appended row could get
        # a seq at or below a client's cursor and never reach it (found by the sync helper's tests)
        {"sqlite_autoincrement": True},
    )


class AppliedAction(Base):
    """One row per applied officer action; the primary key is the client's action UUID.

    Inserted in the same transaction as the action's effect, so the database itself refuses a second
    application (an action is applied exactly once, however often it is resent).
    """

    __tablename__ = "applied_action"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    officer_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(64))
    payload_digest: Mapped[str] = mapped_column(String(64))
    server_version: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    applied_at: Mapped[datetime] = mapped_column(DateTime)


class AuditUpload(Base):
    """Audit records uploaded by workstations (hash-chained on the client; stored as received)."""

    __tablename__ = "audit_upload"
    workstation_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    officer_id: Mapped[str] = mapped_column(String(64))
    record: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime)


class AuditChainBreak(Base):
    """Where a workstation's uploaded audit chain stopped continuing the server's copy (sync_server.audit_chain)."""

    __tablename__ = "audit_chain_break"
    workstation_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(DateTime)


class AuditUploadConflict(Base):
    """A received audit row whose seq the server already holds with another hash (a rewritten history,
    or a store re-created under the same workstation id): kept beside the held copy, never dropped."""

    __tablename__ = "audit_upload_conflict"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workstation_id: Mapped[str] = mapped_column(String(100), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    officer_id: Mapped[str] = mapped_column(String(64))
    record: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime)


class Counter(Base):
    """Named sequences allocated in blocks (sync_server.rawsql.allocate): change-feed seq, position id."""

    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class SigningKey(Base):
    """The public half of a workstation's report-signing key (Ed25519), filed under its SHA-256 fingerprint.

    Rows are never updated or deleted: a packet sealed years ago must still find the key that sealed it.
    """

    __tablename__ = "signing_key"
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    workstation_id: Mapped[str] = mapped_column(String(100), index=True)
    officer_id: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(DateTime)


class ClusterApplied(Base):
    """A FIXES message a rules worker applied (sync_server.cluster.rules), written in the transaction
    that applied it: a redelivery finds its id here and changes nothing; per partition, the highest
    stream sequence is where the worker resumes after a crash."""

    __tablename__ = "cluster_applied"
    msg_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer)
    stream_seq: Mapped[int] = mapped_column(BigInteger)
    applied_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_cluster_applied_partition_seq", "partition", "stream_seq"),)


class ClusterOutbox(Base):
    """Live events of one applied rules batch, written with it and deleted once the broker stored them,
    so a worker killed between its commit and its publish sends them when it restarts."""

    __tablename__ = "cluster_outbox"
    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    #: zstd-compressed JSON: [[officer_id, [event text, ...]], ...]
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class ClusterSlot(Base):
    """A rules-worker slot (a set of FIXES partitions, sync_server.cluster.slots): the epoch goes up each
    time a worker takes the slot, and a round commits only under the epoch its worker took."""

    __tablename__ = "cluster_slot"
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(200))
    claimed_at: Mapped[datetime] = mapped_column(DateTime)
