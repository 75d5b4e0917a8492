"""The per-officer change feed behind GET /v1/sync/changes.

Every upsert or delete of a caseload row appends to `change_log` under a new global sequence number,
replacing that row's previous entry for the same officer. The feed is therefore compacted: a full pull
(cursor 0) reads each live row once, however often it changed, and a delta pull reads only rows that
changed after the cursor. Pages are one index range scan on (officer_id, seq); the JSON of each row was
serialized when it changed, so building a page is string concatenation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from sync_server.models import ChangeLog


@dataclass(frozen=True, slots=True)
class ChangeEntry:
    officer_id: str
    participant_id: str
    entity: str
    row_id: str
    op: str  # upsert | delete
    version: int
    data: str | None  # JSON of the wire model, None for deletes


def append_changes(session: Session, entries: Iterable[ChangeEntry], *, fresh: bool = False) -> None:
    """Append entries, replacing older feed rows of the same (officer, entity, row).

    `fresh=True` skips the replacement step when the caller knows the rows are new (seeding).
    """
    rows = [
        {
            "officer_id": e.officer_id,
            "participant_id": e.participant_id,
            "entity": e.entity,
            "row_id": e.row_id,
            "op": e.op,
            "version": e.version,
            "data": e.data,
        }
        for e in entries
    ]
    if not rows:
        return
    if not fresh:
        table = ChangeLog.__table__
        session.execute(
            delete(table).where(
                and_(
                    table.c.officer_id == bindparam("b_officer_id"),
                    table.c.entity == bindparam("b_entity"),
                    table.c.row_id == bindparam("b_row_id"),
                )
            ),
            [{"b_officer_id": r["officer_id"], "b_entity": r["entity"], "b_row_id": r["row_id"]} for r in rows],
        )
    session.execute(insert(ChangeLog.__table__), rows)


def drop_participant_feed(session: Session, officer_id: str, participant_id: str) -> None:
    """Remove every feed row of one participant (and its children) from one officer's feed."""
    session.execute(
        delete(ChangeLog).where(ChangeLog.officer_id == officer_id, ChangeLog.participant_id == participant_id)
    )


def read_page(session: Session, officer_id: str, cursor: int, limit: int) -> bytes:
    """One ChangesPage as JSON bytes, built without re-validating rows that were valid when written."""
    table = ChangeLog.__table__
    rows = session.execute(
        select(table.c.seq, table.c.entity, table.c.row_id, table.c.op, table.c.version, table.c.data)
        .where(table.c.officer_id == officer_id, table.c.seq > cursor)
        .order_by(table.c.seq)
        .limit(limit)
    ).all()
    next_cursor = rows[-1][0] if rows else cursor
    remaining = 0
    if len(rows) == limit:
        remaining = session.scalar(
            select(func.count()).select_from(table).where(table.c.officer_id == officer_id, table.c.seq > next_cursor)
        )
    dumps = json.dumps
    parts = []
    for _seq, entity, row_id, op, version, data in rows:
        head = f'{{"entity":"{entity}","id":{dumps(row_id)},"op":"{op}","version":{version}'
        parts.append(f"{head},\"data\":{data}}}" if data is not None and op == "upsert" else head + "}")
    has_more = "true" if remaining else "false"
    body = (
        '{"changes":[' + ",".join(parts) + f'],"next_cursor":{next_cursor},"has_more":{has_more},'
        f'"remaining":{remaining}}}'
    )
    return body.encode()


def latest_seq(session: Session) -> int:
    return session.scalar(select(func.max(ChangeLog.seq))) or 0
