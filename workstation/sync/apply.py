"""Apply one validated change page to the local store, inside the caller's transaction.

Bulk SQL, not ORM objects: one `INSERT .. ON CONFLICT DO UPDATE` executemany per entity per
page (SQLAlchemy Core), which is what keeps a 7,000-participant full sync close to the raw
executemany floor (bench/sync.py measures it).

Rules
- Within a page the last change of a row wins (the feed is in sequence order).
- Parents before children within a page (participant, device, zone, appointment, alert,
  note). Across pages the server's compacted feed may list a child before its participant
  (the participant changed after the child was written), so pages are applied with SQLite's
  foreign-key enforcement off (store_tx.without_foreign_keys); the purge below deletes children
  explicitly instead of relying on ON DELETE CASCADE.
- A participant delete is a tombstone: the participant and everything hanging off it
  (positions, devices, zones, appointments, alerts, notes) are purged.
- A device's denormalised last fix only moves forward in time: the live feed may already have
  written a newer fix than the one the change feed carries.
- An alert with a local, not yet pushed acknowledge/resolve (pending) keeps the officer's
  view; the server row that arrived is remembered on the outbox action so that a rejected
  action can fall back to it (outbox.remember_server_row).
- A pending note (created offline, id = action id) is replaced by the server's row of the same
  id when it arrives; until then pulls never touch it.
- The server is the system of record for natural keys too: when an incoming participant's case
  number or device's serial is held locally by another id (a tombstone this store never saw, for
  example after a restore on the server), the stale local holder is evicted (purged like a
  tombstone) before the upsert. Without this the page could never apply and sync would stall on
  it forever. Two rows of one page claiming the same key is a server fault: the page is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from local_db.models import PARTICIPANT_CHILDREN, Alert, Device, Participant, Position, SyncState
from workstation import protocol as p
from workstation.changes import Changes
from workstation.sync import outbox
from workstation.sync.rows import ROW_BUILDERS, utcnow
from workstation.sync.upsert import TABLES, upsert

APPLY_ORDER = ("participant", "device", "zone", "appointment", "alert", "incident", "note")
SYNC_STATE_ID = 1
#: entities a caseload row is read from (local_db.queries.caseload_rows): their changes change the row
CASELOAD_ROW_ENTITIES = frozenset({"participant", "device", "appointment", "alert"})


class CursorMoved(RuntimeError):
    """Another pull applied pages since this page was fetched; this page is not applied."""


@dataclass
class PageEffect:
    """What one page changed (for the summary, and itemised for the screens)."""

    changes: int = 0
    upserted: dict[str, int] = field(default_factory=dict)
    purged_participants: int = 0
    deleted: int = 0
    changed: Changes = field(default_factory=Changes)


def purge_participants(session: Session, ids: list[str]) -> None:
    for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
        chunk = ids[start : start + 500]
        for model in PARTICIPANT_CHILDREN:
            session.execute(delete(model).where(model.participant_id.in_(chunk)))
        session.execute(delete(Participant).where(Participant.id.in_(chunk)))


def sync_state(session: Session) -> SyncState:
    state = session.get(SyncState, SYNC_STATE_ID)
    if state is None:
        state = SyncState(id=SYNC_STATE_ID, cursor=0, live_seq=0, audit_acked_seq=0)
        session.add(state)
        session.flush()
    return state


def apply_page(session: Session, page: p.ChangesPage, expected_cursor: int) -> PageEffect:
    """Apply `page` (fetched with cursor=expected_cursor) and store its next_cursor."""
    state = sync_state(session)
    if state.cursor != expected_cursor:
        raise CursorMoved(f"cursor is {state.cursor}, page was fetched at {expected_cursor}")

    latest: dict[tuple[str, str], Any] = {}
    for change in page.changes:
        latest.pop((change.entity, change.id), None)  # re-insert keeps sequence order of last change
        latest[(change.entity, change.id)] = change

    purged = [c.id for (entity, _), c in latest.items() if entity == "participant" and c.op == "delete"]
    purged_set = set(purged)
    upserts: dict[str, list[dict[str, Any]]] = {entity: [] for entity in APPLY_ORDER}
    deletes: dict[str, list[str]] = {entity: [] for entity in APPLY_ORDER}
    server_alerts: dict[str, tuple[p.AlertData, int]] = {}
    touched: dict[str, set[str]] = {entity: set() for entity in APPLY_ORDER}  # entity -> ids written
    touched_participants: set[str] = set(purged)
    touched_rows: set[str] = set(purged)  # participants whose caseload row may change
    for (entity, row_id), change in latest.items():
        if change.op == "delete":
            if entity != "participant":
                deletes[entity].append(row_id)
                touched[entity].add(row_id)
            continue
        if change.data is None:  # validated model allows it; an upsert without data carries nothing
            continue
        if entity != "participant" and change.data.participant_id in purged_set:
            continue
        upserts[entity].append(ROW_BUILDERS[entity](change.data, change.version))
        touched[entity].add(row_id)
        owner = row_id if entity == "participant" else change.data.participant_id
        touched_participants.add(owner)
        if entity in CASELOAD_ROW_ENTITIES:
            touched_rows.add(owner)
        if entity == "alert":
            server_alerts[row_id] = (change.data, change.version)

    effect = PageEffect(changes=len(page.changes))
    if server_alerts:
        pending = session.scalars(
            select(Alert.id).where(Alert.id.in_(list(server_alerts)), Alert.pending.is_(True))
        ).all()
        for alert_id in pending:
            data, version = server_alerts[alert_id]
            outbox.remember_server_row(session, alert_id, data.model_dump(mode="json"), version)
    for entity in APPLY_ORDER:
        rows = upserts[entity]
        effect.purged_participants += _evict_natural_key_holders(session, entity, rows)
        _upsert_grouped(session, entity, rows)
        effect.upserted[entity] = len(rows)
    for entity in APPLY_ORDER:
        ids = deletes[entity]
        if ids:
            model = TABLES[entity]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                owners = {pid for pid in session.scalars(select(model.c.participant_id).where(model.c.id.in_(chunk)))
                          if pid is not None}  # fmt: skip
                touched_participants.update(owners)  # whose record loses the row
                if entity in CASELOAD_ROW_ENTITIES:
                    touched_rows.update(owners)
                session.execute(delete(model).where(model.c.id.in_(chunk)))
            effect.deleted += len(ids)
    if purged:
        purge_participants(session, purged)
        effect.purged_participants += len(purged)

    state.cursor = page.next_cursor
    state.last_pull_at = utcnow()
    effect.changed = Changes(
        participants=frozenset(touched_participants), caseload_rows=frozenset(touched_rows),
        devices=frozenset(touched["device"]),
        alerts=frozenset(touched["alert"]), incidents=frozenset(touched["incident"]),
    )  # fmt: skip
    return effect


#: entity -> its natural key column, unique locally as on the server.
NATURAL_KEYS = {"participant": "case_number", "device": "serial"}


def _evict_natural_key_holders(session: Session, entity: str, rows: list[dict[str, Any]]) -> int:
    """Delete local rows that hold an incoming row's natural key under another id; returns purged participants."""
    column = NATURAL_KEYS.get(entity)
    if column is None or not rows:
        return 0
    model = Participant if entity == "participant" else Device
    claimed = {row[column]: row["id"] for row in rows if row.get(column) is not None}
    stale: list[str] = []
    keys = list(claimed)
    for start in range(0, len(keys), 500):
        holders = session.execute(
            select(model.id, getattr(model, column)).where(getattr(model, column).in_(keys[start : start + 500]))
        ).all()
        stale.extend(row_id for row_id, key in holders if claimed[key] != row_id)
    if not stale:
        return 0
    if entity == "participant":
        purge_participants(session, stale)
        return len(stale)
    for start in range(0, len(stale), 500):
        chunk = stale[start : start + 500]
        session.execute(delete(Position).where(Position.device_id.in_(chunk)))
        session.execute(delete(Device).where(Device.id.in_(chunk)))
    return 0


def _upsert_grouped(session: Session, entity: str, rows: list[dict[str, Any]]) -> None:
    # executemany needs one statement shape; rows of one entity share keys, but be safe if a
    # future builder omits optional keys.
    if not rows:
        return
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(row), []).append(row)
    for group in shapes.values():
        upsert(session, entity, group)
