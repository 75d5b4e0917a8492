"""The outbox: officer actions waiting for the server, and what happens when its answer comes.

States (OutboxAction.state):
  queued     written with its local effect, not yet sent
  sending    handed to the server at least once without an answer (resent as is: same id, so the
             server answers `duplicate` if the first copy was applied and only the ack was lost)
  done       applied (or duplicate); the server's row replaced the local pending one
  conflict   the target changed on the server since base_version; the server state is kept in
             server_result["current"] until the officer picks keep_mine() or use_server()
  rejected   permanently invalid (reason in last_error); the local effect was undone, the
             officer's words stay here
  discarded  a conflict the officer resolved with use_server(): the server's state was applied.

keep_mine() re-queues the SAME action id with base_version = the server's current version. That
is what the reference server expects (sync_server/actions.py): a conflict records nothing under
the id, so the same id may come back after the officer decided; once applied, the id (with its
payload digest, which includes base_version) is what deduplicates any resend. A rejection also
records nothing, but it is final: a corrected action is a new action with a new id.

Conflicts and rejections never block the actions behind them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from local_db.models import Alert, Base, Incident, Note, OutboxAction, Participant
from workstation import protocol as p
from workstation.local_time import local_text
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE
from workstation.sync import effects
from workstation.sync.rows import alert_row, incident_row, note_row, participant_row, utcnow
from workstation.sync.upsert import upsert_statement

OPEN_STATES = ("queued", "sending")
UNRESOLVED_STATES = ("queued", "sending", "conflict")


@dataclass
class ResultCounts:
    applied: int = 0
    duplicate: int = 0
    conflict: int = 0
    rejected: int = 0
    #: incident actions that found the incident closed meanwhile (done; the reason says by whom)
    already_resolved: int = 0
    #: alerts whose acknowledge/resolve was answered (their rows may have changed)
    alerts: set[str] = field(default_factory=set)
    #: server incidents whose acknowledge/resolve was answered
    incidents: set[str] = field(default_factory=set)
    #: participants whose actions were answered (their records' pending marks changed)
    participants: set[str] = field(default_factory=set)

    def add(self, other: ResultCounts) -> None:
        self.applied += other.applied
        self.duplicate += other.duplicate
        self.conflict += other.conflict
        self.rejected += other.rejected
        self.already_resolved += other.already_resolved
        self.alerts |= other.alerts
        self.incidents |= other.incidents
        self.participants |= other.participants


def enqueue(
    session: Session,
    *,
    kind: str,
    target: str,
    payload: dict[str, Any],
    participant_id: str | None,
    base_version: int | None,
    created_at: datetime,
    action_id: str | None = None,
) -> OutboxAction:
    """Add an action after the ones already queued (its local effect is the caller's job)."""
    last = session.scalar(select(func.max(OutboxAction.seq))) or 0
    action = OutboxAction(
        id=action_id or str(uuid.uuid4()),
        seq=last + 1,
        kind=kind,
        target=target,
        participant_id=participant_id,
        base_version=base_version,
        payload=payload,
        created_at=created_at,
        state="queued",
        attempts=0,
    )
    session.add(action)
    session.flush()
    return action


def wire_action(action: Any) -> dict[str, Any]:
    """The JSON form the server expects (protocol.Action)."""
    created = action.created_at
    return {
        "id": action.id,
        "kind": action.kind,
        "target": action.target,
        "base_version": action.base_version,
        "payload": action.payload,
        "created_at": created.isoformat() + ("Z" if created.tzinfo is None else ""),
    }


def next_batch(session: Session, limit: int, after_seq: int) -> list[dict[str, Any]]:
    # plain rows, not ORM objects: a push reads thousands of them
    rows = session.execute(
        select(OutboxAction.id, OutboxAction.kind, OutboxAction.target, OutboxAction.base_version,
               OutboxAction.payload, OutboxAction.created_at, OutboxAction.seq)
        .where(OutboxAction.state.in_(OPEN_STATES), OutboxAction.seq > after_seq)
        .order_by(OutboxAction.seq)
        .limit(limit)
    ).all()  # fmt: skip
    return [{**wire_action(row), "_seq": row.seq} for row in rows]


def mark_sending(session: Session, ids: list[str]) -> None:
    session.execute(
        update(OutboxAction)
        .where(OutboxAction.id.in_(ids), OutboxAction.state.in_(OPEN_STATES))
        .values(state="sending", attempts=OutboxAction.attempts + 1, sent_at=utcnow())
    )


def record_transport_error(session: Session, ids: list[str], error: str) -> None:
    session.execute(update(OutboxAction).where(OutboxAction.id.in_(ids)).values(last_error=error[:1000]))


def remember_server_row(session: Session, target: str, data: dict[str, Any], version: int) -> None:
    """A pull brought the server's row of a target that has unfinished local actions: keep it
    with those actions (rejected -> fall back to it; conflict -> it is the server's state)."""
    for action in session.scalars(
        select(OutboxAction).where(OutboxAction.target == target, OutboxAction.state.in_(UNRESOLVED_STATES))
    ):
        action.server_result = {**(action.server_result or {}), "server_row": data, "server_row_version": version}


# --------------------------------------------------------------------------- results


def apply_results(session: Session, results: list[p.ActionResult]) -> ResultCounts:
    """Record the server's answers. The common case (a note-type action applied) is written in
    bulk: one executemany for the outbox rows, one for the notes; the rare ones row by row."""
    counts = ResultCounts()
    now = utcnow()
    by_id = {
        row.id: row
        for row in session.execute(
            select(OutboxAction.id, OutboxAction.kind, OutboxAction.state, OutboxAction.server_result,
                   OutboxAction.target, OutboxAction.participant_id)
            .where(OutboxAction.id.in_([str(r.id) for r in results]))
        )
    }
    bulk_done: list[dict[str, Any]] = []
    server_notes: dict[str, dict[str, Any]] = {}
    placeholders: list[str] = []
    renamed: list[str] = []
    for result in results:
        known = by_id.get(str(result.id))
        if known is None or known.state not in OPEN_STATES:
            continue  # answered twice (a resent batch): the first answer stands
        answer = result.model_dump(mode="json", exclude_none=True)
        if known.participant_id:
            counts.participants.add(known.participant_id)
        if known.kind in p.ALERT_ACTIONS:
            counts.alerts.add(known.target)
        if known.kind in p.INCIDENT_ACTIONS:
            counts.incidents.add(known.target)
        stash = {k: v for k, v in (known.server_result or {}).items() if k.startswith("server_row")}
        if result.status in ("applied", "duplicate") and known.kind in effects.NOTE_ACTIONS:
            setattr(counts, result.status, getattr(counts, result.status) + 1)
            bulk_done.append({"b_id": known.id, "b_done_at": now, "b_result": answer})
            placeholders.append(known.id)
            note = _validated(p.NoteData, result.result)
            if note is not None:
                # version 0: server_version is the participant's here; the note's own version
                # arrives with the next pull
                server_notes[note.id] = note_row(note, 0)
                if note.id != known.id:
                    renamed.append(known.id)
            continue
        action = session.get(OutboxAction, known.id)  # ORM object for the rare paths
        assert action is not None  # read in this transaction just above
        if result.status in ("applied", "duplicate"):
            setattr(counts, result.status, getattr(counts, result.status) + 1)
            action.state, action.done_at, action.last_error = "done", now, None
            action.server_result = answer
            if known.kind in p.INCIDENT_ACTIONS:
                _adopt_incident_outcome(session, action, result)
            else:
                _adopt_alert_outcome(session, action, result)
        elif result.status == "already_resolved":
            # done, not a conflict: the officer's note was recorded; the reason stays for them to read
            counts.already_resolved += 1
            action.state, action.done_at = "done", now
            action.last_error = result.reason or "already resolved"
            action.server_result = answer
            _adopt_incident_outcome(session, action, result)
        elif result.status == "conflict":
            counts.conflict += 1
            action.state, action.last_error = "conflict", result.reason or "changed on the server"
            action.server_result = {**stash, **answer}
        else:
            counts.rejected += 1
            action.state, action.last_error = "rejected", result.reason or "rejected by the server"
            action.server_result = {**stash, **answer}
            effects.undo_local_effect(session, action)
            _restore_server_row(session, action)
    if bulk_done:
        table = OutboxAction.__table__
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(state="done", done_at=bindparam("b_done_at"), last_error=None, server_result=bindparam("b_result")),
            bulk_done,
        )
        # the server's note replaces the pending placeholder (same id: the reference server uses
        # the action id; another id: the placeholder goes)
        for start in range(0, len(placeholders), 500):
            chunk = placeholders[start : start + 500]
            session.execute(update(Note).where(Note.id.in_(chunk)).values(pending=False))
        for start in range(0, len(renamed), 500):
            session.execute(delete(Note).where(Note.id.in_(renamed[start : start + 500])))
        if server_notes:
            rows = list(server_notes.values())
            session.execute(upsert_statement(Note.__table__, rows[0].keys()), rows)
    return counts


def _adopt_alert_outcome(session: Session, action: OutboxAction, result: p.ActionResult) -> None:
    alert = _validated(p.AlertData, result.result) or _validated(p.AlertData, result.current)
    still_open = _other_unresolved(session, action)
    if alert is not None and not still_open:
        _upsert_row(session, Alert, alert_row(alert, result.server_version or 0))
    elif not still_open:
        values: dict[str, Any] = {"pending": False}
        if result.server_version is not None:
            values["version"] = result.server_version
        session.execute(update(Alert).where(Alert.id == action.target).values(**values))


def _adopt_incident_outcome(session: Session, action: OutboxAction, result: p.ActionResult) -> None:
    if _other_unresolved(session, action):
        return
    incident = _validated(p.IncidentData, (result.result or {}).get("incident"))
    if incident is not None:
        _upsert_row(session, Incident, incident_row(incident, result.server_version or 0))
    else:
        session.execute(update(Incident).where(Incident.id == action.target).values(pending=False))


def _restore_server_row(session: Session, action: OutboxAction) -> None:
    if action.kind not in p.ALERT_ACTIONS or _other_unresolved(session, action):
        return
    saved = action.server_result or {}
    alert = _validated(p.AlertData, saved.get("current")) or _validated(p.AlertData, saved.get("server_row"))
    if alert is not None:
        version = saved.get("server_version") or saved.get("server_row_version") or 0
        _upsert_row(session, Alert, alert_row(alert, int(version)))


def _other_unresolved(session: Session, action: OutboxAction) -> bool:
    return bool(
        session.scalar(
            select(func.count())
            .select_from(OutboxAction)
            .where(
                OutboxAction.target == action.target,
                OutboxAction.id != action.id,
                OutboxAction.state.in_(UNRESOLVED_STATES),
            )
        )
    )


def _validated(model: type[p.WireModel], data: dict[str, Any] | None) -> Any:
    if not data:
        return None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def _upsert_row(session: Session, model: type[Base], row: dict[str, Any]) -> None:
    table = model.__table__
    if "pending" in table.c:
        session.execute(update(model).where(table.c.id == row["id"]).values(pending=False))
    if model is Participant and session.get(Participant, row["id"]) is None:
        return  # not (or no longer) in this officer's caseload
    session.execute(upsert_statement(table, row.keys()), [row])


# --------------------------------------------------------------------------- conflicts


class NotAConflict(ValueError):
    """keep_mine/use_server was asked for an action that is not in the conflict state."""


def _conflicted(session: Session, action_id: str) -> OutboxAction:
    action = session.get(OutboxAction, action_id)
    if action is None or action.state != "conflict":
        raise NotAConflict(f"action {action_id} is not waiting for a conflict decision")
    return action


def keep_mine(session: Session, action_id: str) -> str:
    """Re-send the officer's action on top of the server's current version; returns its id."""
    action = _conflicted(session, action_id)
    saved = action.server_result or {}
    server_version = saved.get("server_version")
    if server_version is not None:
        action.base_version = int(server_version)
    action.state = "queued"
    action.last_error = None
    action.server_result = {k: v for k, v in saved.items() if k.startswith("server_row")} or None
    return action.id


def use_server(session: Session, action_id: str) -> None:
    """Drop the officer's action and show the server's state instead."""
    action = _conflicted(session, action_id)
    action.state = "discarded"
    action.done_at = utcnow()
    effects.undo_local_effect(session, action)
    saved = action.server_result or {}
    current, version = saved.get("current"), int(saved.get("server_version") or 0)
    if action.kind in p.ALERT_ACTIONS:
        _restore_server_row(session, action)
    else:
        participant = _validated(p.ParticipantData, current)
        if participant is not None:
            _upsert_row(session, Participant, participant_row(participant, version))


# --------------------------------------------------------------------------- reading

ACTION_WORDS = {"acknowledge_alert": "acknowledge", "resolve_alert": "resolution"}


def conflict_sentence(kind: str, server_result: dict[str, Any] | None, time_zone: str = DEFAULT_AGENCY_TIME_ZONE) -> str:
    """What happened, in words, for an alert action in conflict: who did what on the server (when, in
    the participant's time zone), and what the officer can do ("keep mine" records the officer's
    note on top of it)."""
    current = _validated(p.AlertData, (server_result or {}).get("current"))
    mine = ACTION_WORDS.get(kind, kind.replace("_", " "))
    if current is not None and current.state == "resolved":
        by = f" by {current.resolved_by}" if current.resolved_by else ""
        at = f" at {local_text(current.resolved_at, time_zone)}" if current.resolved_at else ""
        happened = f"Resolved elsewhere{by}{at}"
    else:
        happened = "Changed on the server"
    return f"{happened}: your {mine} was not applied. Outbox (Ctrl+O): keep yours or use the server's."


def alert_conflicts(session: Session, time_zone_of: Callable[[str | None], str] = lambda _pid: DEFAULT_AGENCY_TIME_ZONE,
                    ) -> dict[str, str]:
    """alert id -> conflict_sentence, for the alerts whose acknowledge/resolve waits for a decision;
    `time_zone_of(participant id)` gives the zone its times are told in."""
    rows = session.execute(
        select(OutboxAction.target, OutboxAction.kind, OutboxAction.server_result, OutboxAction.participant_id)
        .where(OutboxAction.state == "conflict", OutboxAction.kind.in_(p.ALERT_ACTIONS))
        .order_by(OutboxAction.seq)
    ).all()
    return {target: conflict_sentence(kind, result, time_zone_of(pid)) for target, kind, result, pid in rows}



def counts_by_state(session: Session) -> dict[str, int]:
    return dict(session.execute(select(OutboxAction.state, func.count()).group_by(OutboxAction.state)).all())


def list_actions(session: Session, states: tuple[str, ...] | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Plain dicts for views and the CLI, in creation order."""
    query = select(OutboxAction).order_by(OutboxAction.seq).limit(limit)
    if states:
        query = query.where(OutboxAction.state.in_(states))
    return [
        {
            "id": row.id,
            "seq": row.seq,
            "kind": row.kind,
            "target": row.target,
            "participant_id": row.participant_id,
            "state": row.state,
            "attempts": row.attempts,
            "created_at": row.created_at.isoformat() + "Z",
            "last_error": row.last_error,
            "payload": row.payload,
            "server_result": row.server_result,
        }
        for row in session.scalars(query)
    ]
