"""The outbox and the sync journal as the officer sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from local_db.models import OutboxAction, SyncJournal
from local_db.store import Store


@dataclass(frozen=True)
class OutboxItem:
    id: str
    seq: int
    kind: str
    target: str
    participant_id: str | None
    payload: dict[str, Any]
    created_at: datetime
    state: str
    attempts: int
    last_error: str | None
    server_result: dict[str, Any] | None


def load_outbox(store: Store, limit: int = 500) -> list[OutboxItem]:
    with store.read_session() as s:
        rows = s.scalars(select(OutboxAction).order_by(OutboxAction.seq.desc()).limit(limit)).all()
        return [
            OutboxItem(a.id, a.seq, a.kind, a.target, a.participant_id, dict(a.payload or {}), a.created_at, a.state,
                       a.attempts, a.last_error, dict(a.server_result) if a.server_result else None)
            for a in rows
        ]


@dataclass(frozen=True)
class JournalEntry:
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    summary: dict[str, Any]
    error: str | None


def load_journal(store: Store, limit: int = 200) -> list[JournalEntry]:
    with store.read_session() as s:
        rows = s.scalars(select(SyncJournal).order_by(SyncJournal.started_at.desc()).limit(limit)).all()
        return [JournalEntry(j.started_at, j.finished_at, j.outcome, dict(j.summary or {}), j.error) for j in rows]


