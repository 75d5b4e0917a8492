"""A per-process cache of decoded zones for the rules engine.

Ingestion needs every zone of every participant in a batch, with decoded schedules and polygons.
Database triggers bump the `zones` counter on any insert, update or delete of a zone, whoever makes
it (this server, another process, an administrator's SQL); the cache reads that one number per batch
and starts over when it moved, so rules never run on a stale zone. Participants not cached yet are
loaded in one query.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from sync_server.rawsql import Raw
from workstation.rules.schedule import effective_time_zone

CHUNK = 5000  # bound parameters per IN list, well under SQLite's limit

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS zone_generation_{op.lower()} AFTER {op} ON zone "
    "BEGIN UPDATE counter SET value = value + 1 WHERE name = 'zones'; END"
    for op in ("INSERT", "UPDATE", "DELETE")
]
POSTGRES_TRIGGER = [
    "CREATE OR REPLACE FUNCTION zone_generation_bump() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN UPDATE counter SET value = value + 1 WHERE name = 'zones'; RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS zone_generation ON zone",
    "CREATE TRIGGER zone_generation AFTER INSERT OR UPDATE OR DELETE ON zone "
    "FOR EACH STATEMENT EXECUTE FUNCTION zone_generation_bump()",
]


def install_triggers(connection: Connection) -> None:
    statements = POSTGRES_TRIGGER if connection.dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in statements:
        connection.execute(text(statement))


class ZoneRule(NamedTuple):
    id: str
    participant_id: str
    name: str
    kind: str
    shape: str
    center_lat: float | None
    center_lon: float | None
    radius_m: float | None
    polygon: list[Any] | None
    schedule: list[Any]
    #: the zone's IANA time zone, the agency's default filled in when the row names none
    time_zone: str


class ZoneCache:
    def __init__(self, agency_time_zone: str) -> None:
        self.agency_time_zone = agency_time_zone
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._entries: dict[str, list[ZoneRule]] = {}

    def for_participants(self, session: Session, participant_ids: Iterable[str]) -> dict[str, list[ZoneRule]]:
        raw = Raw(session)
        (generation,) = raw.fetchall("SELECT value FROM counter WHERE name = 'zones'")[0]
        ids = list(participant_ids)
        with self._lock:
            if generation != self._generation:
                self._entries, self._generation = {}, generation
            entries = self._entries
            out = {pid: entries[pid] for pid in ids if pid in entries}
        missing = [pid for pid in ids if pid not in out]
        loaded: dict[str, list[ZoneRule]] = defaultdict(list)
        for start in range(0, len(missing), CHUNK):
            part = missing[start:start + CHUNK]
            sql = (
                "SELECT id, participant_id, name, kind, shape, center_lat, center_lon, radius_m, polygon, schedule, "
                "time_zone "
                f"FROM zone WHERE participant_id IN ({raw.placeholders(len(part))})"
            )
            for row in raw.fetchall(sql, part):
                loaded[row[1]].append(ZoneRule(
                    *row[:8], raw.json_value(row[8]), raw.json_value(row[9]) or [],
                    effective_time_zone(row[10], self.agency_time_zone),
                ))
        for pid in missing:
            out[pid] = loaded.get(pid, [])
        with self._lock:
            if self._generation == generation:  # a concurrent reset wins; these rows may predate it
                entries.update({pid: out[pid] for pid in missing})
        return out
