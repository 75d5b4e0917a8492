"""POST /v1/actions:batch: apply officer actions exactly once.

Each action runs in its own transaction: look up its id in `applied_action`; if absent, check the target
and base_version, apply the effect, and insert the `applied_action` row in the same transaction (the
primary key refuses a second application, even from a concurrent request). Outcomes:

- applied: the effect happened; `result` is what it created (a note row, the updated alert).
- duplicate: the id was applied before with the same payload; the original result is returned.
- rejected: the same id came with a different payload, or the payload is invalid, or the target is
  unknown or belongs to another officer (never revealing which), or a tamper-class alert is resolved
  without a note. Nothing is recorded, so a corrected action needs a new id.
- conflict: base_version is given and the target's version differs from it; `current` is the target's
  server state. Nothing is recorded: the client may resend the same id after the officer decides.

Effects append change-feed entries, so the client sees the result on its next pull. A note created by
an action has the action's id as its id (str(uuid)), so the client's pending local note is replaced by
the synced one instead of duplicated.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sync_server.auth import Caller
from sync_server.caseload import record
from sync_server.db import Database, to_naive_utc, utcnow
from sync_server.models import Alert, AppliedAction, Appointment, Note, Participant
from sync_server.wire import alert_data, note_data, participant_data
from workstation.protocol import (
    ALERT_ACTIONS,
    TAMPER_CLASS_ALERTS,
    Action,
    ActionResult,
)


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Conflict(Exception):
    def __init__(self, version: int, current: dict[str, Any]) -> None:
        super().__init__("conflict")
        self.version, self.current = version, current


def payload_digest(action: Action) -> str:
    canonical = json.dumps(
        {"kind": action.kind, "target": action.target, "base_version": action.base_version,
         "payload": action.payload},
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def apply_batch(db: Database, caller: Caller, actions: list[Action]) -> list[ActionResult]:
    return [apply_one(db, caller, action) for action in actions]


def apply_one(db: Database, caller: Caller, action: Action) -> ActionResult:
    digest = payload_digest(action)
    try:
        with db.write() as session:
            previous = session.get(AppliedAction, str(action.id))
            if previous is not None:
                return _replay(previous, digest, caller)
            version, result = _apply(session, caller, action)
            session.add(AppliedAction(
                id=str(action.id), officer_id=caller.officer_id, kind=action.kind, target=action.target,
                payload_digest=digest, server_version=version, result=result, applied_at=utcnow(),
            ))
            session.flush()
    except _Reject as exc:
        return ActionResult(id=action.id, status="rejected", reason=exc.reason)
    except _Conflict as exc:
        return ActionResult(
            id=action.id, status="conflict", server_version=exc.version, current=exc.current,
            reason="the record changed on the server since this action was made",
        )
    except IntegrityError:
        # A concurrent request applied the same id between our lookup and our insert.
        with db.read() as session:
            previous = session.get(AppliedAction, str(action.id))
            if previous is None:
                raise
            return _replay(previous, digest, caller)
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


def _apply(session: Session, caller: Caller, action: Action) -> tuple[int, dict[str, Any]]:
    try:
        payload = action.typed_payload()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        raise _Reject(f"invalid payload for {action.kind}: {where}: {first.get('msg', 'invalid')}") from None
    if action.kind in ALERT_ACTIONS:
        return _alert_action(session, caller, action, payload)
    participant = session.get(Participant, action.target)
    if participant is None or participant.officer_id != caller.officer_id:
        raise _Reject("unknown participant")
    if action.base_version is not None and participant.version != action.base_version:
        raise _Conflict(participant.version, _json(participant_data(participant)))
    note = Note(
        id=str(action.id), version=1, participant_id=participant.id, author=caller.username,
        occurred_at=to_naive_utc(action.created_at), place="", text="",
    )
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
            record(session, "appointment", appt, caller.officer_id)
    elif action.kind == "request_schedule_change":
        if payload.appointment_id is not None:
            _own_appointment(session, participant.id, payload.appointment_id)
        note.kind = "schedule_request"
        note.text = f"Requested {to_naive_utc(payload.requested_time):%Y-%m-%d %H:%M} UTC: {payload.reason}"
    session.add(note)
    record(session, "note", note, caller.officer_id)
    return participant.version, _json(note_data(note))


def _own_appointment(session: Session, participant_id: str, appointment_id: str) -> Appointment:
    appt = session.get(Appointment, appointment_id)
    if appt is None or appt.participant_id != participant_id:
        raise _Reject("unknown appointment")
    return appt


def _alert_action(session: Session, caller: Caller, action: Action, payload: Any) -> tuple[int, dict[str, Any]]:
    alert = session.get(Alert, action.target)
    owner = session.get(Participant, alert.participant_id) if alert is not None else None
    if alert is None or owner is None or owner.officer_id != caller.officer_id:
        raise _Reject("unknown alert")
    if action.base_version is not None and alert.version != action.base_version:
        raise _Conflict(alert.version, _json(alert_data(alert)))
    now = utcnow()
    if action.kind == "acknowledge_alert":
        if alert.state == "resolved":
            raise _Conflict(alert.version, _json(alert_data(alert)))
        if alert.state == "open":
            alert.state, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", caller.username, now
            alert.version += 1
    else:
        if alert.kind in TAMPER_CLASS_ALERTS and not payload.note.strip():
            raise _Reject(f"a {alert.kind.replace('_', ' ')} alert cannot be resolved without a note")
        if alert.state == "resolved":
            raise _Conflict(alert.version, _json(alert_data(alert)))
        if alert.acknowledged_at is None:
            alert.acknowledged_by, alert.acknowledged_at = caller.username, now
        alert.state, alert.resolved_by, alert.resolved_at = "resolved", caller.username, now
        alert.detail = (payload.resolution or alert.detail)[:200]
        alert.version += 1
    record(session, "alert", alert, caller.officer_id)
    note_text = payload.note.strip()
    if note_text:
        note = Note(
            id=str(action.id), version=1, participant_id=alert.participant_id, kind="note", text=note_text,
            author=caller.username, occurred_at=to_naive_utc(action.created_at), place="",
        )
        session.add(note)
        record(session, "note", note, caller.officer_id)
    return alert.version, _json(alert_data(alert))
