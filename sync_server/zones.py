"""A per-process cache of decoded zones for the rules engine.

Ingestion needs every zone of every participant in a batch, with decoded schedules and polygons. The
cache checks freshness with one cheap query per batch (zone ids and versions, no JSON) and reloads only
the participants whose zone set or versions changed, so edits made by any process are seen at once.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from sync_server.rawsql import Raw

CHUNK = 5000  # bound parameters per IN list, well under SQLite's limit


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


class ZoneCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[tuple, list[ZoneRule]]] = {}

    def for_participants(self, session: Session, participant_ids: Iterable[str]) -> dict[str, list[ZoneRule]]:
        raw = Raw(session)
        ids = list(participant_ids)
        stamps: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for part in _chunks(ids):
            sql = f"SELECT participant_id, id, version FROM zone WHERE participant_id IN ({raw.placeholders(len(part))})"
            for pid, zone_id, version in raw.fetchall(sql, part):
                stamps[pid].append((zone_id, version))
        out: dict[str, list[ZoneRule]] = {}
        stale = []
        with self._lock:
            for pid in ids:
                stamp = tuple(sorted(stamps.get(pid, ())))
                cached = self._entries.get(pid)
                if cached is not None and cached[0] == stamp:
                    out[pid] = cached[1]
                elif stamp:
                    stale.append(pid)
                else:
                    out[pid] = []
                    self._entries[pid] = ((), [])
        loaded: dict[str, list[ZoneRule]] = defaultdict(list)
        versions: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for part in _chunks(stale):
            sql = (
                "SELECT id, participant_id, name, kind, shape, center_lat, center_lon, radius_m, polygon, schedule, "
                f"version FROM zone WHERE participant_id IN ({raw.placeholders(len(part))})"
            )
            for row in raw.fetchall(sql, part):
                rule = ZoneRule(*row[:8], raw.json_value(row[8]), raw.json_value(row[9]) or [])
                loaded[rule.participant_id].append(rule)
                versions[rule.participant_id].append((rule.id, row[10]))
        with self._lock:
            for pid in stale:
                out[pid] = loaded.get(pid, [])
                self._entries[pid] = (tuple(sorted(versions.get(pid, ()))), out[pid])
        return out


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]
