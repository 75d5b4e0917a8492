"""Bulk upserts into the local tables (SQLAlchemy Core `INSERT .. ON CONFLICT DO UPDATE`).

Two rules live in the statement itself, so every writer (pull, push results, live feed) obeys them:
- a device's denormalised last fix only moves forward in time (the live feed may have written a
  newer fix than the row the change feed carries);
- an alert or incident with a local acknowledge/resolve not yet applied by the server (pending) is not
  overwritten: the officer keeps seeing what they did until the server's answer comes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, or_
from sqlalchemy.dialects.sqlite import Insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from local_db.models import Alert, Appointment, Device, Incident, Note, Participant, Zone
from workstation.sync.rows import LAST_FIX_COLUMNS

TABLES: dict[str, Table] = {
    "participant": Participant.__table__,
    "device": Device.__table__,
    "zone": Zone.__table__,
    "appointment": Appointment.__table__,
    "alert": Alert.__table__,
    "incident": Incident.__table__,
    "note": Note.__table__,
}


def upsert(session: Session, entity: str, rows: list[dict[str, Any]]) -> None:
    """Bulk upsert rows (all with the same keys) of one entity."""
    if rows:
        session.execute(upsert_statement(TABLES[entity], rows[0].keys()), rows)


def upsert_statement(table: Table, columns: Iterable[str], forward_only: bool = False) -> Insert:
    """forward_only: an existing row is only replaced by the same or a later server version."""
    stmt = sqlite_insert(table)
    excluded = stmt.excluded
    keys = [name for name in columns if not table.c[name].primary_key]
    set_: dict[str, Any] = {name: excluded[name] for name in keys}
    where: ColumnElement[bool] | None = None
    if table is Device.__table__ and "last_fix_time" in keys:
        newer = or_(
            table.c.last_fix_time.is_(None),
            and_(excluded.last_fix_time.is_not(None), excluded.last_fix_time >= table.c.last_fix_time),
        )
        for name in LAST_FIX_COLUMNS:
            set_[name] = case((newer, excluded[name]), else_=table.c[name])
    if table is Alert.__table__ or table is Incident.__table__:
        where = table.c.pending.is_(False)
    if forward_only:
        newer = table.c.version <= excluded.version
        where = newer if where is None else and_(where, newer)
    return stmt.on_conflict_do_update(index_elements=[table.c.id], set_=set_, where=where)


