"""Caseload writes that keep the change feed in step: every row change appends its feed entry."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sync_server.changes import ChangeEntry, append_changes, drop_participant_feed
from sync_server.models import Alert, Appointment, Device, Incident, Note, Officer, Participant, Zone
from sync_server.wire import TO_WIRE, dump

CHILD_MODELS: dict[str, Any] = {
    "device": Device,
    "zone": Zone,
    "appointment": Appointment,
    "alert": Alert,
    "incident": Incident,
    "note": Note,
}


def upsert_entry(entity: str, row: Any, officer_id: str) -> ChangeEntry:
    participant_id = row.id if entity == "participant" else row.participant_id
    return ChangeEntry(officer_id, participant_id, entity, row.id, "upsert", row.version, dump(TO_WIRE[entity](row)))


def officer_of(session: Session, participant_id: str) -> str | None:
    return session.scalar(select(Participant.officer_id).where(Participant.id == participant_id))


def record(session: Session, entity: str, row: Any, officer_id: str | None = None) -> None:
    """Append the feed entry of one ORM row that was just added or changed (flushes first)."""
    session.flush()
    if officer_id is None:
        officer_id = row.officer_id if entity == "participant" else officer_of(session, row.participant_id)
    append_changes(session, [upsert_entry(entity, row, officer_id)])


def participant_rows(session: Session, participant_id: str) -> list[tuple[str, Any]]:
    """The participant and everything hanging off it, as (entity, row) pairs, parent first."""
    rows: list[tuple[str, Any]] = [("participant", session.get(Participant, participant_id))]
    for entity, model in CHILD_MODELS.items():
        rows.extend((entity, r) for r in session.scalars(select(model).where(model.participant_id == participant_id)))
    return rows


def reassign(session: Session, participant_id: str, to_officer_id: str) -> None:
    """Move a participant to another officer.

    The old officer's feed loses every entry of the participant and gains one `participant` delete
    (the client purges the children itself); the new officer's feed gains upserts of everything.
    """
    participant = session.get(Participant, participant_id)
    if participant is None:
        raise LookupError(f"no participant {participant_id}")
    if session.get(Officer, to_officer_id) is None:
        raise LookupError(f"no officer {to_officer_id}")
    old_officer = participant.officer_id
    if old_officer == to_officer_id:
        return
    participant.officer_id = to_officer_id
    participant.version += 1
    session.flush()
    drop_participant_feed(session, old_officer, participant_id)
    append_changes(
        session,
        [ChangeEntry(old_officer, participant_id, "participant", participant_id, "delete", participant.version, None)],
    )
    append_changes(
        session, [upsert_entry(entity, row, to_officer_id) for entity, row in participant_rows(session, participant_id)]
    )


def touch_participants(session: Session, fraction: float, seed: int = 0) -> int:
    """Change the phone number of a fraction of all participants (a realistic small delta). Returns the count."""
    ids = sorted(session.scalars(select(Participant.id)))
    rng = random.Random(seed)
    chosen = rng.sample(ids, round(len(ids) * fraction)) if ids else []
    for pid in chosen:
        session.execute(
            update(Participant)
            .where(Participant.id == pid)
            .values(phone=f"(312) 555-{rng.randrange(10_000):04d}", version=Participant.version + 1)
        )
    entries = [
        upsert_entry("participant", p, p.officer_id)
        for p in session.scalars(select(Participant).where(Participant.id.in_(chosen)))
    ]
    append_changes(session, entries)
    return len(chosen)
