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

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from sync_server.live import row_event
from sync_server.models import ChangeLog
from sync_server.rawsql import Raw, allocate


@dataclass(frozen=True, slots=True)
class ChangeEntry:
    officer_id: str
    participant_id: str
    entity: str
    row_id: str
    op: str  # upsert | delete
    version: int
    data: str | None  # JSON of the wire model, None for deletes


UPSERT_CHANGE = (
    "INSERT INTO change_log (seq, officer_id, participant_id, entity, row_id, op, version, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (officer_id, entity, row_id) DO UPDATE SET "
    "seq = excluded.seq, participant_id = excluded.participant_id, op = excluded.op, "
    "version = excluded.version, data = excluded.data"
)


#: session.info key: the incident rows this transaction changed, for the live feed after the commit
_LIVE_INCIDENTS = "live_incidents"


def append_changes(session: Session, entries: Iterable[ChangeEntry]) -> None:
    """Append entries under new sequence numbers; an entry replaces the row's older one in that
    officer's feed (it moves to the new seq). Entries later in the list win.

    Incident upserts are also remembered for `live_incident_events`: an incident escalated, cleared or
    folded into an outage reaches the officer's window at once, not with the next pull."""
    entries = list(entries)
    if not entries:
        return
    live = session.info.setdefault(_LIVE_INCIDENTS, {})
    for e in entries:
        if e.entity != "incident":
            continue
        if e.op == "upsert" and e.data is not None:
            live[(e.officer_id, e.row_id)] = (e.version, e.data)
        else:  # folded into an outage in the same transaction: nothing to announce
            live.pop((e.officer_id, e.row_id), None)
    raw = Raw(session)
    first = allocate(raw, "change", len(entries))
    raw.executemany(
        UPSERT_CHANGE,
        [
            (first + i, e.officer_id, e.participant_id, e.entity, e.row_id, e.op, e.version, e.data)
            for i, e in enumerate(entries)
        ],
    )


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


def live_incident_events(session: Session) -> list[tuple[str, str]]:
    """The live events (officer id, event JSON without its seq) of the incident rows this transaction
    changed so far, each at its latest version; taken once (the caller publishes them after the commit)."""
    live: dict[tuple[str, str], tuple[int, str]] = session.info.pop(_LIVE_INCIDENTS, None) or {}
    return [(officer_id, row_event("incident", version, data)) for (officer_id, _), (version, data) in live.items()]
