"""Officer actions: validate, then write the local effect AND the outbox entry in ONE durable
transaction, so an action is either fully recorded (visible now, sent later exactly once) or not
at all. Each function returns the action id (a client UUID; the server deduplicates on it).

Bad input raises ActionInvalid with a sentence for the officer and writes nothing. Everything
here blocks on the store's writer: call from a worker, never the GUI thread.

Targets: note-type actions take a participant id or case number; alert actions an alert id.
base_version: alert actions carry the local alert's version (the server answers `conflict` only
if the alert was resolved since, see sync_server.actions.alert_action_conflicts); note-type actions are additive and carry none, so a participant
edited on the server never turns a note into a conflict.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from local_db import audit as audit_log
from local_db.models import Alert, Participant
from local_db.store import Store
from workstation import protocol as p
from workstation.rules.incidents import note_problem
from workstation.sync import effects, outbox
from workstation.sync.rows import utcnow


class ActionInvalid(ValueError):
    """The action cannot be recorded as given; nothing was written."""


def add_note(store: Store, participant: str, text: str) -> str:
    return _record(store, "add_note", participant, {"text": text})


def record_contact(
    store: Store,
    participant: str,
    *,
    outcome: str,
    occurred_at: datetime,
    kind: str = "contact",
    text: str = "",
    place: str = "",
    lat: float | None = None,
    lon: float | None = None,
) -> str:
    payload = {"kind": kind, "outcome": outcome, "occurred_at": occurred_at, "place": place,
               "lat": lat, "lon": lon, "text": text}  # fmt: skip
    return _record(store, "record_contact", participant, payload)


def record_home_visit(store: Store, participant: str, **fields: Any) -> str:
    return record_contact(store, participant, kind="home_visit", **fields)


def record_checkin(
    store: Store,
    participant: str,
    *,
    occurred_at: datetime,
    kind: str = "office_checkin",
    place: str = "",
    appointment_id: str | None = None,
) -> str:
    payload = {"kind": kind, "occurred_at": occurred_at, "place": place, "appointment_id": appointment_id}
    return _record(store, "record_checkin", participant, payload)


def request_schedule_change(
    store: Store, participant: str, *, requested_time: datetime, reason: str, appointment_id: str | None = None
) -> str:
    payload = {"requested_time": requested_time, "reason": reason, "appointment_id": appointment_id}
    return _record(store, "request_schedule_change", participant, payload)


def acknowledge_alert(store: Store, alert_id: str, note: str = "") -> str:
    return _record(store, "acknowledge_alert", alert_id, {"note": note})


def resolve_alert(store: Store, alert_id: str, note: str = "", resolution: str = "resolved") -> str:
    return _record(store, "resolve_alert", alert_id, {"resolution": resolution, "note": note})


# --------------------------------------------------------------------------- internals


def _record(store: Store, kind: str, target: str, payload: dict[str, Any]) -> str:
    try:
        typed = p.ACTION_PAYLOADS[kind].model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "input"
        raise ActionInvalid(f"{kind.replace('_', ' ')}: {where}: {first.get('msg', 'invalid')}") from None
    wire_payload = typed.model_dump(mode="json", exclude_none=True)
    action_id = str(uuid.uuid4())
    now = utcnow()

    def write(session: Session) -> str:
        target_id, participant_id, base_version = _resolve_target(session, kind, target, typed)
        action = outbox.enqueue(
            session,
            kind=kind,
            target=target_id,
            payload=wire_payload,
            participant_id=participant_id,
            base_version=base_version,
            created_at=now,
            action_id=action_id,
        )
        effects.apply_local_effect(session, action, effects.officer_name(session), now)
        # (security) AU-2: the audit row commits with the action, or neither does
        audit_log.append_in(session, store, "action", f"{kind}:{target_id}", "ok", action.id)
        return action.id

    return store.write(write, durable=True)


def _resolve_target(session: Session, kind: str, target: str, payload: p.WireModel) -> tuple[str, str, int | None]:
    if kind in p.ALERT_ACTIONS:
        alert = session.get(Alert, target)
        if alert is None:
            raise ActionInvalid(f"there is no alert {target} in this caseload")
        problem = note_problem([alert.kind], payload.note) if kind == "resolve_alert" else None  # type: ignore[attr-defined]
        if problem:
            raise ActionInvalid(problem)
        if kind == "resolve_alert" and alert.state == "resolved":
            raise ActionInvalid("this alert is already resolved")
        if kind == "acknowledge_alert" and alert.state != "open":
            raise ActionInvalid(f"this alert is already {alert.state}")
        return alert.id, alert.participant_id, alert.version
    participant = session.scalars(
        select(Participant).where(or_(Participant.id == target, Participant.case_number == target))
    ).first()
    if participant is None:
        raise ActionInvalid(f"there is no participant {target} in this caseload")
    return participant.id, participant.id, None
