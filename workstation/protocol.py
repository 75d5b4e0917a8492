"""Wire schemas of the sync protocol, defined once for both ends.

The workstation validates every server payload against these models before it touches the
local store, and the reference server (sync_server/) builds its OpenAPI document from them.
This module must import nothing else of ours (an import-linter contract checks it), because
sync_server and maps are allowed to import it and nothing more of workstation.

Times are timezone-aware UTC datetimes on the wire (ISO-8601). Server rows carry `version`
(monotonic per row); rows the officer creates carry a client UUID as their id.

Errors: every 4xx/5xx body is an ErrorBody. A revoked workstation gets HTTP 403 with
error="workstation_revoked" and wipe=true on every request (login included); 401 means a missing,
invalid or expired token (refresh or log in again), or a refused login (the same answer for a wrong
password, an unknown user and a locked or disabled account); 429 too many failed logins from this
address (Retry-After). A note created by an action
has id = str(action.id), so the synced note replaces the client's pending one.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from workstation.rules.schedule import is_time_zone

PROTOCOL_VERSION = 1


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _utc_representable(value: datetime) -> datetime:
    # 0001-01-01T00:00:00+05:00 is a valid ISO-8601 time that has no UTC equivalent (it would fall
    # before year 1): refused here, as bad input, instead of overflowing wherever it is converted
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the time is outside the range of UTC dates") from None
    return value


#: a time the server converts to UTC on arrival (a device's fix, a track window), so it must have one
UtcTime = Annotated[datetime, AfterValidator(_utc_representable)]
Latitude = Annotated[float, Field(ge=-90.0, le=90.0), AfterValidator(_finite)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0), AfterValidator(_finite)]
ShortText = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=10_000)]
RowId = Annotated[str, Field(min_length=1, max_length=64)]


def _known_time_zone(value: str) -> str:
    if not is_time_zone(value):
        raise ValueError("must be an IANA time zone name such as America/Chicago")
    return value


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_time_zone)]
#: A counter or version stored in a SQLite/PostgreSQL BIGINT: larger values would fail at the
#: database (OverflowError) after validation passed, so they are refused here (found by the fuzz
#: campaign, tests/reliability/fuzzers.py).
#: the largest value a 64-bit signed column holds (PostgreSQL BIGINT)
MAX_INT64 = 2**63 - 1
Counter = Annotated[int, Field(ge=0, le=MAX_INT64)]


class WireModel(BaseModel):
    # Unknown fields are an error: a payload we do not understand is rejected whole rather than
    # half-applied (every network input is hostile until validated).
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- vocabularies

RiskLevel = Literal["low", "medium", "high"]
DeviceKind = Literal["ankle", "wrist", "phone_app"]
StrapState = Literal["ok", "tampered", "removed", "not_applicable"]
FixSource = Literal["gps", "wifi", "cell"]
ZoneKind = Literal["inclusion", "exclusion"]
ZoneShape = Literal["circle", "polygon"]
AppointmentKind = Literal["office_checkin", "home_visit", "court_hearing", "app_checkin"]
AppointmentStatus = Literal["scheduled", "completed", "missed", "cancelled"]
AlertKind = Literal[
    "strap_tamper",
    "device_removed",
    "low_battery",
    "battery_critical",
    "charging",
    "no_gps",
    "no_communication",
    "zone_exit",
    "zone_entry",
    "curfew_violation",
    "missed_checkin",
    "mock_location",
    "sos",
]
AlertSeverity = Literal["info", "low", "medium", "high", "critical"]
AlertState = Literal["open", "acknowledged", "resolved"]
IncidentState = Literal["open", "acknowledged", "resolved", "auto_resolved"]
NoteKind = Literal["note", "contact", "home_visit", "office_checkin", "app_checkin", "schedule_request"]
ContactOutcome = Literal["met", "not_home", "refused", "left_message", "phone_contact", "other"]
LegalFlag = Literal[
    "stay_of_removal", "asylum_pending", "final_order", "court_date_pending", "work_permit", "none"
]


# --------------------------------------------------------------------------- entities (sync data)


class ScheduleWindow(WireModel):
    """A weekly window; `days` are ISO weekdays 1..7; times are local HH:MM; end < start wraps midnight."""

    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(min_length=1, max_length=7)
    start: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    end: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class ParticipantData(WireModel):
    id: RowId
    case_number: ShortText
    first_name: ShortText
    last_name: ShortText
    dob: date
    language: ShortText = "en"
    phone: ShortText = ""
    address: ShortText = ""
    home_lat: Latitude | None = None
    home_lon: Longitude | None = None
    program: ShortText = ""
    risk_level: RiskLevel = "medium"
    legal_flags: list[LegalFlag] = Field(default_factory=list, max_length=8)
    supervision_start: date | None = None
    supervision_end: date | None = None
    officer_id: RowId
    photo_url: ShortText | None = None


class LastFix(WireModel):
    fix_time: datetime
    lat: Latitude
    lon: Longitude
    accuracy_m: Annotated[float, Field(ge=0, le=100_000)] = 0.0
    speed_kmh: Annotated[float, Field(ge=0, le=2_000)] | None = None
    source: FixSource = "gps"


class DeviceData(WireModel):
    id: RowId
    participant_id: RowId
    kind: DeviceKind
    serial: ShortText
    battery_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    charging: bool = False
    strap: StrapState = "ok"
    last_contact_at: datetime | None = None
    expected_interval_s: Annotated[int, Field(ge=1, le=86_400)] = 60
    last_fix: LastFix | None = None


PositionFlag = Literal["drift", "impossible_speed", "late", "invalid", "mock"]


class PositionData(WireModel):
    id: Counter
    device_id: RowId
    participant_id: RowId
    fix_time: datetime
    received_at: datetime
    lat: Latitude
    lon: Longitude
    accuracy_m: Annotated[float, Field(ge=0, le=100_000)] = 0.0
    speed_kmh: Annotated[float, Field(ge=0, le=2_000)] | None = None
    source: FixSource = "gps"
    #: "drift" (accuracy circle crosses a zone edge) or "impossible_speed" (never raise an alert by
    #: themselves); "late" (older than the device's current fix when it arrived: evaluated at its own
    #: time, never moved the current position), "invalid" (the device said the fix is not valid: no GPS
    #: credit, no rules), "mock" (a phone app reported a mock location)
    flags: list[PositionFlag] = Field(default_factory=list)
    #: provenance: "osmand" (the device's own key), "gateway:NAME", "simulator"; "" from older servers
    via: ShortText = ""
    bearing: Annotated[float, Field(ge=0, le=360)] | None = None
    altitude_m: Annotated[float, Field(ge=-1_000, le=20_000)] | None = None
    #: horizontal dilution of precision as the device reported it (not metres)
    hdop: Annotated[float, Field(ge=0, le=1_000)] | None = None


class ZoneData(WireModel):
    id: RowId
    participant_id: RowId
    name: ShortText
    kind: ZoneKind
    shape: ZoneShape
    center_lat: Latitude | None = None
    center_lon: Longitude | None = None
    radius_m: Annotated[float, Field(gt=0, le=100_000)] | None = None
    #: polygon ring as [[lat, lon], ...]; at least 3 points when shape == "polygon".
    polygon: list[tuple[Latitude, Longitude]] | None = Field(default=None, max_length=500)
    #: when the rule applies; empty = always (a curfew is an inclusion zone with night windows).
    schedule: list[ScheduleWindow] = Field(default_factory=list, max_length=14)
    #: IANA time zone the schedule's times are in; None = the agency's default (configuration)
    time_zone: TimeZoneName | None = None


class AppointmentData(WireModel):
    id: RowId
    participant_id: RowId
    kind: AppointmentKind
    starts_at: datetime
    place: ShortText = ""
    lat: Latitude | None = None
    lon: Longitude | None = None
    status: AppointmentStatus = "scheduled"


class AlertData(WireModel):
    id: RowId
    participant_id: RowId
    device_id: RowId | None = None
    kind: AlertKind
    severity: AlertSeverity
    opened_at: datetime
    lat: Latitude | None = None
    lon: Longitude | None = None
    state: AlertState = "open"
    acknowledged_by: ShortText | None = None
    acknowledged_at: datetime | None = None
    resolved_by: ShortText | None = None
    resolved_at: datetime | None = None
    incident_id: RowId | None = None
    detail: ShortText = ""


class IncidentData(WireModel):
    """A server incident: related alerts of one participant's device and family (the definition is
    workstation.rules.incidents). `needs_action` is true from the moment an officer is needed (at once
    for kinds that never clear by themselves, after a delay for those that may) and stays true;
    `due_at` is the response deadline counted from then. Its alerts carry its id (`incident_id`)."""

    id: RowId
    participant_id: RowId
    device_id: RowId | None = None
    family: ShortText
    kinds: list[AlertKind] = Field(min_length=1, max_length=20)
    severity: AlertSeverity
    state: IncidentState = "open"
    opened_at: datetime
    updated_at: datetime
    last_alert_at: datetime
    alert_count: Counter = 1
    needs_action: bool = False
    needs_action_since: datetime | None = None
    due_at: datetime | None = None
    acknowledged_by: ShortText | None = None
    acknowledged_at: datetime | None = None
    resolved_by: ShortText | None = None
    resolved_at: datetime | None = None
    #: why it was closed: the officer's resolution, or the condition that cleared (auto_resolved)
    resolution: ShortText = ""


class NoteData(WireModel):
    id: RowId
    participant_id: RowId
    kind: NoteKind = "note"
    outcome: ContactOutcome | None = None
    text: LongText = ""
    author: ShortText = ""
    occurred_at: datetime
    place: ShortText = ""
    lat: Latitude | None = None
    lon: Longitude | None = None


class OfficerData(WireModel):
    id: RowId
    username: ShortText
    display_name: ShortText
    office_lat: Latitude | None = None
    office_lon: Longitude | None = None


# --------------------------------------------------------------------------- pull: /v1/sync/changes


class _ChangeBase(WireModel):
    id: RowId
    op: Literal["upsert", "delete"]
    version: Counter


class ParticipantChange(_ChangeBase):
    entity: Literal["participant"]
    data: ParticipantData | None = None


class DeviceChange(_ChangeBase):
    entity: Literal["device"]
    data: DeviceData | None = None


class ZoneChange(_ChangeBase):
    entity: Literal["zone"]
    data: ZoneData | None = None


class AppointmentChange(_ChangeBase):
    entity: Literal["appointment"]
    data: AppointmentData | None = None


class AlertChange(_ChangeBase):
    entity: Literal["alert"]
    data: AlertData | None = None


class IncidentChange(_ChangeBase):
    entity: Literal["incident"]
    data: IncidentData | None = None


class NoteChange(_ChangeBase):
    entity: Literal["note"]
    data: NoteData | None = None


Change = Annotated[
    ParticipantChange | DeviceChange | ZoneChange | AppointmentChange | AlertChange | IncidentChange | NoteChange,
    Field(discriminator="entity"),
]
ENTITIES = ("participant", "device", "zone", "appointment", "alert", "incident", "note")


class ChangesPage(WireModel):
    """One page of the officer's change feed, in sequence order.

    An upsert carries `data`; a delete carries none. A participant reassigned away from the
    officer arrives as a `participant` delete: the client purges it and everything hanging off it.
    `remaining` is the number of changes after this page (for progress bars).
    """

    changes: list[Change]
    next_cursor: Counter
    has_more: bool
    remaining: Counter = 0


# --------------------------------------------------------------------------- push: /v1/actions:batch

ActionKind = Literal[
    "add_note",
    "record_contact",
    "acknowledge_alert",
    "resolve_alert",
    "record_checkin",
    "request_schedule_change",
    "acknowledge_incident",
    "resolve_incident",
]


class AddNotePayload(WireModel):
    text: Annotated[str, Field(min_length=1, max_length=10_000)]


class RecordContactPayload(WireModel):
    kind: Literal["contact", "home_visit"]
    outcome: ContactOutcome
    occurred_at: datetime
    place: ShortText = ""
    lat: Latitude | None = None
    lon: Longitude | None = None
    text: LongText = ""


class AcknowledgeAlertPayload(WireModel):
    note: LongText = ""


class ResolveAlertPayload(WireModel):
    resolution: ShortText = "resolved"
    #: required (non-empty) for tamper-class alerts (workstation.rules.incidents.note_problem)
    note: LongText = ""


class AcknowledgeIncidentPayload(WireModel):
    note: LongText = ""


class ResolveIncidentPayload(WireModel):
    resolution: ShortText = "resolved"
    #: required (non-empty) when the incident holds a tamper-class alert
    note: LongText = ""


class RecordCheckinPayload(WireModel):
    kind: Literal["office_checkin", "app_checkin"]
    occurred_at: datetime
    place: ShortText = ""
    appointment_id: RowId | None = None


class RequestScheduleChangePayload(WireModel):
    appointment_id: RowId | None = None
    requested_time: datetime
    reason: Annotated[str, Field(min_length=1, max_length=2_000)]


#: action kind -> payload model; `target` is a participant id, except alert actions (an alert id) and
#: incident actions (an incident id).
ACTION_PAYLOADS: dict[str, type[WireModel]] = {
    "add_note": AddNotePayload,
    "record_contact": RecordContactPayload,
    "acknowledge_alert": AcknowledgeAlertPayload,
    "resolve_alert": ResolveAlertPayload,
    "record_checkin": RecordCheckinPayload,
    "request_schedule_change": RequestScheduleChangePayload,
    "acknowledge_incident": AcknowledgeIncidentPayload,
    "resolve_incident": ResolveIncidentPayload,
}
ALERT_ACTIONS: frozenset[str] = frozenset({"acknowledge_alert", "resolve_alert"})
#: actions whose target is a server incident id (IncidentData.id)
INCIDENT_ACTIONS: frozenset[str] = frozenset({"acknowledge_incident", "resolve_incident"})
_ACTION_KIND_OF: dict[type[WireModel], str] = {model: kind for kind, model in ACTION_PAYLOADS.items()}


def action_kind(payload: WireModel | type[WireModel]) -> str:
    """The action a payload (or payload model) stands for: its type names the action."""
    model = payload if isinstance(payload, type) else type(payload)
    try:
        return _ACTION_KIND_OF[model]
    except KeyError:
        raise TypeError(f"{model.__name__} is not an action payload") from None


class Action(WireModel):
    id: uuid.UUID
    kind: ActionKind
    target: RowId
    base_version: Counter | None = None
    payload: dict[str, Any]
    created_at: datetime

    def typed_payload(self) -> WireModel:
        """Validate `payload` against the model for `kind` (raises pydantic.ValidationError)."""
        return ACTION_PAYLOADS[self.kind].model_validate(self.payload)


class ActionBatch(WireModel):
    actions: list[Action] = Field(min_length=1, max_length=500)


#: already_resolved: an acknowledge/resolve of an incident someone else closed meanwhile; the officer's
#: note was recorded and `reason` says by whom and when ("already resolved by X at T; your note was added")
ActionStatus = Literal["applied", "duplicate", "conflict", "rejected", "already_resolved"]


class ActionResult(WireModel):
    id: uuid.UUID
    status: ActionStatus
    #: why it was rejected or conflicted, in words an officer can read
    reason: str | None = None
    #: the server version of the target after the action (applied/duplicate) or now (conflict)
    server_version: int | None = None
    #: conflict: the target's current server state (a ParticipantData/AlertData dict)
    current: dict[str, Any] | None = None
    #: applied/duplicate: what the action created (for example the note row)
    result: dict[str, Any] | None = None


class ActionBatchResult(WireModel):
    results: list[ActionResult]


# --------------------------------------------------------------------------- auth


class TokenRequest(WireModel):
    username: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=1_000)]
    workstation_id: Annotated[str, Field(min_length=1, max_length=100)]
    one_time_code: Annotated[str, Field(max_length=20)] | None = None
    workstation_version: Annotated[str, Field(max_length=40)] | None = None


class RefreshRequest(WireModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=500)]


#: CJIS IA-5(1): passwords of at least eight characters (checked by the server and by both clients)
MIN_PASSWORD_LENGTH = 8


class PasswordChangeRequest(WireModel):
    """POST /v1/auth/password (authenticated): the server credential changes; the workstation re-wraps
    its local key with the same new password right after (workstation.security.key_change)."""

    current_password: Annotated[str, Field(min_length=1, max_length=1_000)]
    new_password: Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=1_000)]


class PasswordChangeResult(WireModel):
    changed: bool = True


class TokenResponse(WireModel):
    access_token: str
    refresh_token: str
    expires_in: int
    officer: OfficerData
    #: given once, at the workstation's enrolment (its first login): the workstation keeps it in its
    #: encrypted store and proves with it (header X-Workstation-Credential) that an upload filed under
    #: its id comes from it
    workstation_credential: str | None = None


class ErrorBody(WireModel):
    """Every 4xx/5xx body. `wipe` = true means this workstation was revoked: crypto-wipe now."""

    error: str
    detail: str = ""
    wipe: bool = False


# --------------------------------------------------------------------------- participant detail


class ParticipantDetail(WireModel):
    participant: ParticipantData
    devices: list[DeviceData]
    zones: list[ZoneData]
    appointments: list[AppointmentData]
    open_alerts: list[AlertData]
    notes: list[NoteData]


class TrackResponse(WireModel):
    """GET /v1/participants/{case_number}/track?hours=H: full tracks are fetched on demand."""

    positions: list[PositionData]


# --------------------------------------------------------------------------- live: /v1/live (SSE)


class DeviceStatus(WireModel):
    device_id: RowId
    battery_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    charging: bool = False
    strap: StrapState = "ok"
    last_contact_at: datetime | None = None


class LiveEvent(WireModel):
    """One SSE `data:` line; the SSE `id:` equals `seq`. Resume with `?after=SEQ` or Last-Event-ID."""

    seq: Counter
    #: "end": the server closes the stream after this event, because the caller's authorisation no
    #: longer holds (`reason` is the error code a request would get: token_expired, account_disabled,
    #: workstation_revoked, invalid_token); reconnecting tells the client what to do next
    type: Literal["fix", "alert", "incident", "heartbeat", "end"]
    fix: PositionData | None = None
    device: DeviceStatus | None = None
    alert: AlertData | None = None
    #: an incident record the server changed (raised, escalated to needs-action, cleared, folded into
    #: an outage), so the queue shows what needs an officer without waiting for the next pull
    incident: IncidentData | None = None
    #: the server's version of the row this event carries (an alert or an incident), so an action the
    #: officer takes on it carries a real base version; None from older servers
    version: Counter | None = None
    reason: ShortText | None = None


# --------------------------------------------------------------------------- ingestion


class GatewayFix(WireModel):
    serial: ShortText
    fix_time: UtcTime
    lat: Latitude
    lon: Longitude
    accuracy_m: Annotated[float, Field(ge=0, le=100_000)] = 10.0
    speed_kmh: Annotated[float, Field(ge=0, le=2_000)] | None = None
    bearing: Annotated[float, Field(ge=0, le=360)] | None = None
    altitude_m: Annotated[float, Field(ge=-1_000, le=20_000)] | None = None
    battery_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    charging: bool | None = None
    source: FixSource = "gps"
    #: vendor events that come with a fix; "sos": the wearer pressed the alarm
    event: Literal["strap_tamper", "device_removed", "strap_restored", "sos"] | None = None
    #: false: the device says this is not a valid fix (stored flagged "invalid", no GPS credit, no rules)
    valid: bool = True
    #: true: a phone app reports a mock (simulated) location (stored flagged, raises mock_location)
    mock: bool = False
    hdop: Annotated[float, Field(ge=0, le=1_000)] | None = None


class GatewayBatch(WireModel):
    fixes: list[GatewayFix] = Field(min_length=1, max_length=5_000)


class FixOutcome(WireModel):
    """What became of one fix of a batch (or one ping)."""

    #: duplicate: the same fix (device, fix time, position) was already stored; nothing changed
    status: Literal["accepted", "duplicate", "rejected"]
    #: rejected: a code (fix_in_future, fix_too_old, unknown_device, device_not_assigned, invalid_fix, ...)
    error: str | None = None
    detail: str | None = None


class IngestResult(WireModel):
    #: fixes not rejected (accepted or duplicate)
    accepted: int
    alerts_raised: int
    rejected: int = 0
    #: one outcome per fix, in the order they were sent
    results: list[FixOutcome] = Field(default_factory=list)


# --------------------------------------------------------------------------- audit upload


class AuditRecord(WireModel):
    seq: Annotated[int, Field(ge=1, le=MAX_INT64)]
    at: datetime
    officer: ShortText
    workstation_id: ShortText
    event: ShortText
    object: ShortText = ""
    outcome: ShortText = "ok"
    detail: LongText = ""
    prev_hash: Annotated[str, Field(max_length=128)]
    hash: Annotated[str, Field(max_length=128)]


class AuditBatch(WireModel):
    records: list[AuditRecord] = Field(min_length=1, max_length=5_000)


class AuditAck(WireModel):
    acknowledged_through: int
    #: False when the batch does not continue the chain the server already holds from this
    #: workstation (a gap, a link that does not hold, a row that differs from the server's copy)
    chain_ok: bool = True
    #: the first seq at which it does not (None when chain_ok)
    broken_at: int | None = None
    reason: ShortText = ""



# --------------------------------------------------------------------------- report signing keys

#: an Ed25519 public key: 32 raw bytes, standard base64 (44 characters with padding)
Ed25519PublicKeyB64 = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$")]
#: SHA-256 of the raw public key, lowercase hex: the name a key is filed and looked up under
KeyFingerprint = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class SigningKeyRegistration(WireModel):
    """PUT /v1/workstation/signing-key: the public half of the key this workstation seals reports with."""

    algorithm: Literal["ed25519"] = "ed25519"
    public_key: Ed25519PublicKeyB64


class SigningKeyRecord(WireModel):
    """The server's record of a report-signing key (GET /v1/signing-keys/{fingerprint})."""

    fingerprint: KeyFingerprint
    algorithm: Literal["ed25519"] = "ed25519"
    public_key: Ed25519PublicKeyB64
    workstation_id: ShortText
    officer_username: ShortText
    registered_at: datetime
    #: the workstation was revoked (lost or stolen) at this time; reports sealed after it are suspect
    workstation_revoked_at: datetime | None = None

ChangeAdapter: TypeAdapter[Any] = TypeAdapter(Change)
