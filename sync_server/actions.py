"""POST /v1/actions:batch: apply officer actions exactly once.

A batch runs in one transaction: look up the ids in `applied_action`; for each new one check the target
and base_version, apply the effect, and insert its `applied_action` row in the same transaction as the
effect (the primary key refuses a second application, even from a concurrent request; the batch is then
redone one action per transaction). Outcomes:

- applied: the effect happened; `result` is what it created (a note row, the updated alert).
- duplicate: the id was applied before with the same payload; the original result is returned.
- rejected: the same id came with a different payload, or the payload is invalid, or the target is
  unknown or belongs to another officer (never revealing which), or a tamper-class alert is resolved
  without a note, or a time the officer gave is out of bounds (TimeBounds). Nothing is recorded, so a
  corrected action needs a new id.
- already_resolved: an acknowledge/resolve of an incident that was closed meanwhile (by the monitoring
  centre, another officer, or its condition clearing); the officer's note is recorded, and `reason`
  says "already resolved by X at T; your note was added".
- conflict: base_version is given and the target's version differs from it; `current` is the target's
  server state. Nothing is recorded: the client may resend the same id after the officer decides.
  An acknowledge/resolve conflicts only with a resolution made since its base version (see
  alert_action_conflicts): new data on the alert or its incident never turns it into a conflict.

Effects append change-feed entries, so the client sees the result on its next pull. A note created by
an action has the action's id as its id (str(uuid)), so the client's pending local note is replaced by
the synced one instead of duplicated.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sync_server import incidents as incident_rows
from sync_server.auth import Caller
from sync_server.caseload import upsert_entry
from sync_server.changes import append_changes, live_incident_events
from sync_server.db import Database, to_naive_utc, utcnow
from sync_server.live import LiveHub
from sync_server.models import Alert, AppliedAction, Appointment, Incident, Note, Participant
from sync_server.wire import alert_data, incident_data, note_data, participant_data
from workstation.protocol import (
    ALERT_ACTIONS,
    INCIDENT_ACTIONS,
    Action,
    ActionResult,
)
from workstation.rules.incidents import CLOSED_STATES, already_resolved_message, note_problem
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE, time_zone


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Conflict(Exception):
    def __init__(self, version: int, current: dict[str, Any]) -> None:
        super().__init__("conflict")
        self.version, self.current = version, current


@dataclass(frozen=True)
class TimeBounds:
    """Where times an officer supplies may lie. Each is compared while still timezone-aware, so no
    date, however far out, reaches a conversion that could overflow."""

    #: how far back an action may be dated (a workstation offline for long still syncs its work)
    past_limit: timedelta = timedelta(days=365)
    #: how far ahead of the server's clock (a workstation's clock runs a little fast)
    skew: timedelta = timedelta(minutes=5)
    #: how far ahead a requested appointment time may be
    schedule_ahead: timedelta = timedelta(days=400)
    #: supervision starts at midnight of its date in the agency's zone
    agency_time_zone: str = DEFAULT_AGENCY_TIME_ZONE

    def problem(
        self, name: str, value: datetime, now: datetime, supervision_start: date | None = None,
        ahead: timedelta | None = None,
    ) -> str | None:
        """Why `value` is out of bounds, or None. `ahead` admits future times (requested times)."""
        earliest = now - self.past_limit
        if supervision_start is not None:
            earliest = max(earliest, datetime.combine(supervision_start, time(), tzinfo=time_zone(self.agency_time_zone)))
        latest = now + (ahead if ahead is not None else self.skew)
        if ahead is not None:
            earliest = now - self.skew
        if value < earliest:
            return f"{name} {value.isoformat()} is before {earliest.isoformat(timespec='minutes')}"
        if value > latest:
            return f"{name} {value.isoformat()} is after {latest.isoformat(timespec='minutes')}"
        return None


def _check_times(action: Action, payload: Any, participant: Participant | None, bounds: TimeBounds) -> None:
    now = datetime.now(UTC)
    start = participant.supervision_start if participant is not None else None
    checks = [("created_at", action.created_at, start, None)]
    if isinstance(getattr(payload, "occurred_at", None), datetime):
        checks.append(("occurred_at", payload.occurred_at, start, None))
    if isinstance(getattr(payload, "requested_time", None), datetime):
        checks.append(("requested_time", payload.requested_time, None, bounds.schedule_ahead))
    for name, value, supervision_start, ahead in checks:
        if problem := bounds.problem(name, value, now, supervision_start, ahead):
            raise _Reject(problem)


def payload_digest(action: Action) -> str:
    canonical = json.dumps(
        {"kind": action.kind, "target": action.target, "base_version": action.base_version,
         "payload": action.payload},
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def apply_batch(
    db: Database, caller: Caller, actions: list[Action], bounds: TimeBounds = TimeBounds(),
    hub: LiveHub | None = None,
) -> list[ActionResult]:
    """Apply a batch in one transaction; if a concurrent request inserted one of its ids first (the
    primary key refuses it), redo the batch one action per transaction so each gets its own answer.
    The incidents it acknowledged or resolved go out on the live stream after the commit (the
    officer's other workstations follow without a pull)."""
    try:
        return _apply_and_announce(db, caller, actions, bounds, hub)
    except IntegrityError:
        return [apply_one(db, caller, action, bounds, hub) for action in actions]


def apply_one(
    db: Database, caller: Caller, action: Action, bounds: TimeBounds = TimeBounds(), hub: LiveHub | None = None,
) -> ActionResult:
    try:
        return _apply_and_announce(db, caller, [action], bounds, hub)[0]
    except IntegrityError:
        with db.read() as session:
            previous = session.get(AppliedAction, str(action.id))
            if previous is None:
                raise
            return _replay(previous, payload_digest(action), caller)


def _apply_and_announce(
    db: Database, caller: Caller, actions: list[Action], bounds: TimeBounds, hub: LiveHub | None,
) -> list[ActionResult]:
    with db.write() as session:
        results = _run(session, caller, actions, bounds)
        live = live_incident_events(session)
    if hub is not None:
        hub.publish(live)
    return results


def _run(session: Session, caller: Caller, actions: list[Action], bounds: TimeBounds) -> list[ActionResult]:
    """Decide and apply each action. Every check of an action happens before its first write, so a
    rejected or conflicting action leaves nothing behind and never disturbs the others."""
    ids = [str(a.id) for a in actions]
    previous = {row.id: row for row in session.scalars(select(AppliedAction).where(AppliedAction.id.in_(ids)))}
    touched: dict[tuple[str, str], Any] = {}
    now = utcnow()
    loaded = _preload(session, actions)  # held: the identity map only keeps weak references
    with session.no_autoflush:
        applied: list[dict[str, Any]] = []
        results = [_decide(session, caller, action, previous, touched, now, applied, bounds) for action in actions]
    session.flush()
    # New rows go in with executemany: ORM unit-of-work bookkeeping cost more than the SQL itself.
    notes = [vars(row) for (entity, _), row in touched.items() if entity == "note"]
    for table, rows in ((Note.__table__, notes), (AppliedAction.__table__, applied)):
        if rows:
            session.execute(insert(table), rows)
    # One feed entry per touched row, from its final state (a batch may change a row twice).
    append_changes(session, [upsert_entry(entity, row, caller.officer_id) for (entity, _), row in touched.items()])
    del loaded
    return results


def _preload(session: Session, actions: list[Action]) -> list[Any]:
    """Load every target in two queries, so the per-action lookups below hit the identity map."""
    alert_ids = [a.target for a in actions if a.kind in ALERT_ACTIONS]
    incident_ids = [a.target for a in actions if a.kind in INCIDENT_ACTIONS]
    participant_ids = {a.target for a in actions if a.kind not in ALERT_ACTIONS | INCIDENT_ACTIONS}
    loaded: list[Any] = []
    if alert_ids:
        loaded.extend(session.scalars(select(Alert).where(Alert.id.in_(alert_ids))))
    if incident_ids:
        loaded.extend(session.scalars(select(Incident).where(Incident.id.in_(incident_ids))))
    participant_ids.update(row.participant_id for row in loaded)
    if participant_ids:
        loaded.extend(session.scalars(select(Participant).where(Participant.id.in_(participant_ids))))
    return loaded


def _decide(
    session: Session, caller: Caller, action: Action, previous: dict[str, AppliedAction],
    touched: dict[tuple[str, str], Any], now: datetime, applied: list[dict[str, Any]], bounds: TimeBounds,
) -> ActionResult:
    digest = payload_digest(action)
    if str(action.id) in previous:
        return _replay(previous[str(action.id)], digest, caller)
    try:
        version, result = _apply(session, caller, action, touched, bounds)
    except _Reject as exc:
        return ActionResult(id=action.id, status="rejected", reason=exc.reason)
    except _Conflict as exc:
        return ActionResult(
            id=action.id, status="conflict", server_version=exc.version, current=exc.current,
            reason="the record changed on the server since this action was made",
        )
    applied.append(dict(
        id=str(action.id), officer_id=caller.officer_id, kind=action.kind, target=action.target,
        payload_digest=digest, server_version=version, result=result, applied_at=now,
    ))
    if ALREADY_RESOLVED in result:
        return ActionResult(id=action.id, status="already_resolved", server_version=version, result=result,
                            reason=result[ALREADY_RESOLVED])
    return ActionResult(id=action.id, status="applied", server_version=version, result=result)


def _replay(previous: AppliedAction, digest: str, caller: Caller) -> ActionResult:
    if previous.payload_digest != digest or previous.officer_id != caller.officer_id:
        return ActionResult(
            id=previous.id, status="rejected",
            reason="this action id was already used for a different action",
        )
    return ActionResult(
        id=previous.id, status="duplicate", server_version=previous.server_version, result=previous.result
    )


def _json(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _apply(
    session: Session, caller: Caller, action: Action, touched: dict[tuple[str, str], Any], bounds: TimeBounds
) -> tuple[int, dict[str, Any]]:
    try:
        payload = action.typed_payload()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        raise _Reject(f"invalid payload for {action.kind}: {where}: {first.get('msg', 'invalid')}") from None
    if action.kind in ALERT_ACTIONS:
        _check_times(action, payload, None, bounds)
        return _alert_action(session, caller, action, payload, touched)
    if action.kind in INCIDENT_ACTIONS:
        _check_times(action, payload, None, bounds)
        return _incident_action(session, caller, action, payload, touched)
    participant = session.get(Participant, action.target)
    if participant is None or participant.officer_id != caller.officer_id:
        raise _Reject("unknown participant")
    _check_times(action, payload, participant, bounds)
    if action.base_version is not None and participant.version != action.base_version:
        raise _Conflict(participant.version, _json(participant_data(participant)))
    note = _new_note(action, participant.id, caller)
    if action.kind == "add_note":
        note.kind, note.text = "note", payload.text
    elif action.kind == "record_contact":
        note.kind, note.outcome, note.text = payload.kind, payload.outcome, payload.text
        note.occurred_at, note.place = to_naive_utc(payload.occurred_at), payload.place
        note.lat, note.lon = payload.lat, payload.lon
    elif action.kind == "record_checkin":
        note.kind, note.occurred_at, note.place = payload.kind, to_naive_utc(payload.occurred_at), payload.place
        note.text = "Checked in"
        if payload.appointment_id is not None:
            appt = _own_appointment(session, participant.id, payload.appointment_id)
            appt.status = "completed"
            appt.version += 1
            touched["appointment", appt.id] = appt
    elif action.kind == "request_schedule_change":
        if payload.appointment_id is not None:
            _own_appointment(session, participant.id, payload.appointment_id)
        note.kind = "schedule_request"
        note.text = f"Requested {to_naive_utc(payload.requested_time):%Y-%m-%d %H:%M} UTC: {payload.reason}"
    touched["note", note.id] = note
    return participant.version, _json(note_data(note))


def _new_note(action: Action, participant_id: str, caller: Caller) -> SimpleNamespace:
    """A note row to insert (plain attributes: the wire converter and the insert both read it)."""
    return SimpleNamespace(
        id=str(action.id), version=1, participant_id=participant_id, kind="note", outcome=None, text="",
        author=caller.username, occurred_at=to_naive_utc(action.created_at), place="", lat=None, lon=None,
    )


def _own_appointment(session: Session, participant_id: str, appointment_id: str) -> Appointment:
    appt = session.get(Appointment, appointment_id)
    if appt is None or appt.participant_id != participant_id:
        raise _Reject("unknown appointment")
    return appt


#: result key of an incident action that found the incident closed (status "already_resolved")
ALREADY_RESOLVED = "already_resolved"


def _incident_action(
    session: Session, caller: Caller, action: Action, payload: Any, touched: dict[tuple[str, str], Any]
) -> tuple[int, dict[str, Any]]:
    """Acknowledge or resolve a server incident. Its version moves with every new alert, so the
    action never conflicts on it; an incident closed meanwhile (by the monitoring centre, another
    officer or its condition clearing) ends as "already resolved by X at T; your note was added"."""
    inc = session.get(Incident, action.target)
    owner = session.get(Participant, inc.participant_id) if inc is not None else None
    if inc is None or owner is None or owner.officer_id != caller.officer_id:
        raise _Reject("unknown incident")
    problem = note_problem(inc.kinds or (), payload.note) if action.kind == "resolve_incident" else None
    if problem:
        raise _Reject(problem)
    note_text = payload.note.strip()
    if note_text:
        note = _new_note(action, inc.participant_id, caller)
        note.text = note_text
        touched["note", note.id] = note
    result: dict[str, Any] = {}
    if inc.state in CLOSED_STATES:
        result[ALREADY_RESOLVED] = already_resolved_message(inc.resolved_by, inc.resolved_at, bool(note_text))
    else:
        resolution = getattr(payload, "resolution", "")
        for entity, row in incident_rows.officer_action(session, inc, action.kind, caller.username, resolution,
                                                         utcnow()):
            touched[entity, row.id] = row
    result["incident"] = _json(incident_data(inc))
    return inc.version, result


def alert_action_conflicts(state: str, version: int, base_version: int | None) -> bool:
    """Whether an acknowledge/resolve conflicts with the alert as the server holds it.

    Only what the action decides counts: the alert's state. New data on the alert (a later version
    that is still open or acknowledged) changes nothing the officer decided, so the action applies;
    an acknowledge of an already acknowledged alert is already true. A resolution the officer did not
    see (resolved since base_version) is the one real conflict. The same action sent again on top of
    that resolution (keep mine: base_version is the current version) applies: its note is recorded
    and the resolution stands.
    """
    return state == "resolved" and base_version != version


def _alert_action(
    session: Session, caller: Caller, action: Action, payload: Any, touched: dict[tuple[str, str], Any]
) -> tuple[int, dict[str, Any]]:
    alert = session.get(Alert, action.target)
    owner = session.get(Participant, alert.participant_id) if alert is not None else None
    if alert is None or owner is None or owner.officer_id != caller.officer_id:
        raise _Reject("unknown alert")
    problem = note_problem([alert.kind], payload.note) if action.kind == "resolve_alert" else None
    if problem:
        raise _Reject(problem)
    if alert_action_conflicts(alert.state, alert.version, action.base_version):
        raise _Conflict(alert.version, _json(alert_data(alert)))
    now = utcnow()
    changed = False
    if alert.state == "open" and action.kind == "acknowledge_alert":
        alert.state, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", caller.username, now
        changed = True
    elif alert.state != "resolved" and action.kind == "resolve_alert":
        if alert.acknowledged_at is None:
            alert.acknowledged_by, alert.acknowledged_at = caller.username, now
        alert.state, alert.resolved_by, alert.resolved_at = "resolved", caller.username, now
        alert.detail = (payload.resolution or alert.detail)[:200]
        changed = True
    if changed:
        alert.version += 1
        touched["alert", alert.id] = alert
    note_text = payload.note.strip()
    if note_text:
        note = _new_note(action, alert.participant_id, caller)
        note.text = note_text
        touched["note", note.id] = note
    return alert.version, _json(alert_data(alert))
