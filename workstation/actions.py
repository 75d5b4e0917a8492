"""Officer actions: validate, then write the local effect AND the outbox entry in ONE durable
transaction, so an action is either fully recorded (visible now, sent later exactly once) or not
at all.

`record(store, target, payload)` is the one way in: the payload's type (a workstation.protocol
action payload) names the action, so a front end builds the typed payload (a form's result, a CLI
argument) and hands it over; nothing dispatches on strings. It returns `Recorded`: the action id
(a client UUID; the server deduplicates on it) and the `Changes` it made, so a screen refreshes
what changed and nothing else. The keyword helpers below (add_note, record_contact, ...) build
the payload for callers that have plain values (the CLI, tests, the demo).

Bad input raises ActionInvalid with a sentence for the officer and writes nothing. Everything
here blocks on the store's writer: call from a worker, never the GUI thread.

Targets: note-type actions take a participant id or case number; alert actions an alert id.
base_version: alert actions carry the local alert's version (the server answers `conflict` only
if the alert was resolved since, see sync_server.actions.alert_action_conflicts); note-type
actions are additive and carry none, so a participant edited on the server never turns a note
into a conflict.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from local_db import audit as audit_log
from local_db.models import Alert, Incident, Participant
from local_db.store import Store
from workstation import protocol as p
from workstation.changes import Changes
from workstation.rules.incidents import CLOSED_STATES, note_problem
from workstation.sync import effects, outbox
from workstation.sync.rows import utcnow

P = TypeVar("P", bound=p.WireModel)


class ActionInvalid(ValueError):
    """The action cannot be recorded as given; nothing was written."""


@dataclass(frozen=True)
class Recorded:
    action_id: str
    changes: Changes


def record(store: Store, target: str, payload: p.WireModel) -> Recorded:
    """Record one officer action on `target` (participant id or case number; alert id for alert
    actions); the payload's type says which action it is."""
    kind = p.action_kind(payload)
    wire_payload = payload.model_dump(mode="json", exclude_none=True)
    action_id = str(uuid.uuid4())
    now = utcnow()

    def write(session: Session) -> Recorded:
        target_id, participant_id, base_version = _resolve_target(session, kind, target, payload)
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
        alerts = frozenset({target_id}) if kind in p.ALERT_ACTIONS else frozenset()
        incidents = frozenset({target_id}) if kind in p.INCIDENT_ACTIONS else frozenset()
        changes = Changes(participants=frozenset({participant_id}), alerts=alerts, outbox=frozenset({action.id}),
                          incidents=incidents)
        return Recorded(action.id, changes)

    return store.write(write, durable=True)


def add_note(store: Store, participant: str, text: str) -> str:
    return record(store, participant, _payload(p.AddNotePayload, text=text)).action_id


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
    payload = _payload(p.RecordContactPayload, kind=kind, outcome=outcome, occurred_at=occurred_at, place=place,
                       lat=lat, lon=lon, text=text)  # fmt: skip
    return record(store, participant, payload).action_id


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
    payload = _payload(p.RecordCheckinPayload, kind=kind, occurred_at=occurred_at, place=place,
                       appointment_id=appointment_id)  # fmt: skip
    return record(store, participant, payload).action_id


def request_schedule_change(
    store: Store, participant: str, *, requested_time: datetime, reason: str, appointment_id: str | None = None
) -> str:
    payload = _payload(p.RequestScheduleChangePayload, requested_time=requested_time, reason=reason,
                       appointment_id=appointment_id)  # fmt: skip
    return record(store, participant, payload).action_id


def acknowledge_alert(store: Store, alert_id: str, note: str = "") -> str:
    return record(store, alert_id, _payload(p.AcknowledgeAlertPayload, note=note)).action_id


def resolve_alert(store: Store, alert_id: str, note: str = "", resolution: str = "resolved") -> str:
    return record(store, alert_id, _payload(p.ResolveAlertPayload, resolution=resolution, note=note)).action_id


def acknowledge_server_incident(store: Store, incident_id: str, note: str = "") -> str:
    """Queue an acknowledge of a server incident (one outbox action, whatever its alert count)."""
    return record(store, incident_id, _payload(p.AcknowledgeIncidentPayload, note=note)).action_id


def resolve_server_incident(store: Store, incident_id: str, note: str = "", resolution: str = "resolved") -> str:
    return record(store, incident_id, _payload(p.ResolveIncidentPayload, resolution=resolution, note=note)).action_id


# --------------------------------------------------------------------------- internals


def _payload(model: type[P], **fields: Any) -> P:
    """Build a typed payload from plain values; a bad value is an ActionInvalid sentence."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "input"
        name = p.action_kind(model).replace("_", " ")
        raise ActionInvalid(f"{name}: {where}: {first.get('msg', 'invalid')}") from None


def _resolve_target(session: Session, kind: str, target: str, payload: p.WireModel) -> tuple[str, str, int | None]:
    if kind in p.ALERT_ACTIONS:
        alert = session.get(Alert, target)
        if alert is None:
            raise ActionInvalid(f"there is no alert {target} in this caseload")
        problem = note_problem([alert.kind], payload.note) if isinstance(payload, p.ResolveAlertPayload) else None
        if problem:
            raise ActionInvalid(problem)
        if kind == "resolve_alert" and alert.state == "resolved":
            raise ActionInvalid("this alert is already resolved")
        if kind == "acknowledge_alert" and alert.state != "open":
            raise ActionInvalid(f"this alert is already {alert.state}")
        return alert.id, alert.participant_id, alert.version
    if kind in p.INCIDENT_ACTIONS:
        incident = session.get(Incident, target)
        if incident is None:
            raise ActionInvalid(f"there is no incident {target} in this caseload")
        problem = note_problem(incident.kinds or (), payload.note) if isinstance(payload, p.ResolveIncidentPayload) else None
        if problem:
            raise ActionInvalid(problem)
        if kind == "resolve_incident" and incident.state in CLOSED_STATES:
            raise ActionInvalid("this incident is already resolved")
        if kind == "acknowledge_incident" and incident.state != "open":
            raise ActionInvalid(f"this incident is already {incident.state.replace('_', '-')}")
        # no base version: an incident's version moves with every new alert, and a closed one is
        # answered "already resolved" by the server, never a conflict
        return incident.id, incident.participant_id, None
    participant = session.scalars(
        select(Participant).where(or_(Participant.id == target, Participant.case_number == target))
    ).first()
    if participant is None:
        raise ActionInvalid(f"there is no participant {target} in this caseload")
    return participant.id, participant.id, None
