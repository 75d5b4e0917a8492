"""The local effect of each officer action: what the officer sees at once, before any sync.

Used when the action is recorded (workstation.actions) and when its outcome comes back
(workstation.sync.outbox): notes, contacts, check-ins and schedule requests appear in the
participant's timeline as a pending Note whose id is the action id; acknowledging/resolving an
alert changes the local alert and marks it pending.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from local_db.models import Alert, Incident, Note, Officer, OutboxAction
from workstation import protocol as p
from workstation.sync.rows import naive_utc

NOTE_ACTIONS = frozenset({"add_note", "record_contact", "record_checkin", "request_schedule_change"})


def officer_name(session: Session) -> str:
    officer = session.scalars(select(Officer).limit(1)).first()
    return officer.username if officer is not None else ""


def pending_note_row(action: OutboxAction, author: str) -> dict[str, Any]:
    """The timeline entry an action creates, as Note columns (pending until the server has it)."""
    payload = p.ACTION_PAYLOADS[action.kind].model_validate(action.payload)
    row: dict[str, Any] = {
        "id": action.id,
        "participant_id": action.participant_id or action.target,
        "version": 0,
        "kind": "note",
        "outcome": None,
        "text": "",
        "author": author,
        "occurred_at": action.created_at,
        "place": "",
        "lat": None,
        "lon": None,
        "pending": True,
    }
    if isinstance(payload, p.AddNotePayload):
        row["text"] = payload.text
    elif isinstance(payload, p.RecordContactPayload):
        row.update(
            kind=payload.kind, outcome=payload.outcome, text=payload.text, place=payload.place,
            occurred_at=naive_utc(payload.occurred_at), lat=payload.lat, lon=payload.lon,
        )
    elif isinstance(payload, p.RecordCheckinPayload):
        row.update(kind=payload.kind, place=payload.place, occurred_at=naive_utc(payload.occurred_at))
    elif isinstance(payload, p.RequestScheduleChangePayload):
        when = naive_utc(payload.requested_time)
        row.update(kind="schedule_request", text=f"Requested {when:%Y-%m-%d %H:%M} UTC: {payload.reason}")
    return row


def apply_local_effect(session: Session, action: OutboxAction, author: str, now: datetime) -> None:
    if action.kind in NOTE_ACTIONS:
        session.execute(delete(Note).where(Note.id == action.id))
        session.add(Note(**pending_note_row(action, author)))
    elif action.kind == "acknowledge_alert":
        session.execute(
            update(Alert)
            .where(Alert.id == action.target, Alert.state == "open")
            .values(state="acknowledged", acknowledged_by=author, acknowledged_at=now, pending=True)
        )
    elif action.kind == "resolve_alert":
        session.execute(
            update(Alert)
            .where(Alert.id == action.target)
            .values(state="resolved", resolved_by=author, resolved_at=now, pending=True)
        )
    elif action.kind in p.INCIDENT_ACTIONS:
        _incident_effect(session, action.kind, action.target, author, now)


def _incident_effect(session: Session, kind: str, incident_id: str, author: str, now: datetime) -> None:
    """The incident shows what the officer did (pending, so a pull does not undo it before the server
    answers); its alerts follow, unmarked: the incident row is what the queue reads."""
    if kind == "acknowledge_incident":
        session.execute(
            update(Incident).where(Incident.id == incident_id, Incident.state == "open")
            .values(state="acknowledged", acknowledged_by=author, acknowledged_at=now)
        )
        session.execute(
            update(Alert).where(Alert.incident_id == incident_id, Alert.state == "open")
            .values(state="acknowledged", acknowledged_by=author, acknowledged_at=now)
        )
    else:
        session.execute(
            update(Incident).where(Incident.id == incident_id, Incident.state.in_(("open", "acknowledged")))
            .values(state="resolved", resolved_by=author, resolved_at=now)
        )
        session.execute(
            update(Alert).where(Alert.incident_id == incident_id, Alert.state != "resolved")
            .values(state="resolved", resolved_by=author, resolved_at=now)
        )
    session.execute(update(Incident).where(Incident.id == incident_id).values(pending=True))


def undo_local_effect(session: Session, action: OutboxAction) -> None:
    """The server will never apply this action: drop the pending timeline entry or alert mark.

    The officer's words stay in the outbox action (quarantined with the reason), so nothing typed
    is lost; the alert keeps the state shown until the server's row is re-applied by the caller.
    """
    if action.kind in NOTE_ACTIONS:
        session.execute(delete(Note).where(Note.id == action.id, Note.pending.is_(True)))
    elif action.kind in p.ALERT_ACTIONS:
        session.execute(update(Alert).where(Alert.id == action.target).values(pending=False))
    elif action.kind in p.INCIDENT_ACTIONS:
        session.execute(update(Incident).where(Incident.id == action.target).values(pending=False))
