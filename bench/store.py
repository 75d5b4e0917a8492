"""Local store: bulk insert of a 7,000-participant caseload through local_db against the raw
driver floor, opening an existing store, and the caseload query.

Project: one Store.write() whose fn runs SQLAlchemy Core INSERTs of the model tables
(session.execute(Model.__table__.insert(), rows): executemany underneath, with SQLAlchemy's
type processing of dates, booleans and JSON), with the real schema (indexes, FTS triggers) in a
real encrypted store. Core rather than ORM bulk insert: the ORM's per-row bookkeeping
(_collect_insert_commands) costs about 40% more here and buys nothing for plain rows.
Floor: sqlcipher3 directly on an identical encrypted database (same schema, same raw key,
WAL, synchronous=NORMAL, foreign keys on), one transaction of executemany with the same rows.
Both start from the same Python dicts, so the floor includes turning them into tuples (dates
to text, lists to JSON), the work any code must do.

Metrics: store_insert_7k_s, store_floor_7k_s, store_vs_floor_ratio (target <= 2.0),
store_open_s (open an existing 7k store with the key already unwrapped, i.e. without the KDF,
median of 5; target <= 0.5), store_unlock_kdf_s (the PBKDF2 unwrap alone, for context),
caseload_all_7k_s (caseload_rows of everyone) and caseload_search_7k_ms (a two-word prefix
search, median of 20).
"""

from __future__ import annotations

import json
import statistics
import tempfile
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher

from bench.common import median_seconds, synthetic_caseload, timed
from local_db import keys
from local_db.models import Appointment, Device, Participant, Zone
from local_db.queries import caseload_rows
from local_db.store import Store, open_store, open_store_with_key

PASSWORD = "bench password"
MODELS = {"participant": Participant, "device": Device, "zone": Zone, "appointment": Appointment}


def run(quick: bool = False) -> dict[str, float | int]:
    n = 1_000 if quick else 7_000
    # project and floor alternate on fresh databases; medians damp the load of a shared machine
    repeats = 1 if quick else 3
    data = synthetic_caseload(n)
    insert_times: list[float] = []
    floor_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        for rep in range(repeats):
            floor_times.append(_floor_run(Path(tmp) / f"floor-{rep}", data))
            project_home = Path(tmp) / f"project-{rep}"
            project_home.mkdir()
            store = open_store(project_home, PASSWORD, create=True)
            try:
                insert_times.append(timed(partial(store.write, partial(_core_insert, data=data)))[1])
                if rep == repeats - 1:
                    search_ms, all_s, rows = _caseload_timings(store, 5 if quick else 20)
            finally:
                store.close()
        if rows != n:
            raise AssertionError(f"caseload_rows returned {rows} rows, expected {n}")

        unlock_s = median_seconds(lambda: keys.unwrap_data_key(project_home, PASSWORD), 3)
        data_key = keys.unwrap_data_key(project_home, PASSWORD)
        open_s = median_seconds(lambda: open_store_with_key(project_home, data_key).close(), 5)

    insert_s, floor_s = statistics.median(insert_times), statistics.median(floor_times)
    return {
        "store_rows_participants": n,
        "store_insert_7k_s": round(insert_s, 4),
        "store_floor_7k_s": round(floor_s, 4),
        "store_vs_floor_ratio": round(insert_s / floor_s, 3),
        "store_open_s": round(open_s, 4),
        "store_unlock_kdf_s": round(unlock_s, 4),
        "caseload_all_7k_s": round(all_s, 4),
        "caseload_search_7k_ms": round(search_ms, 3),
    }


def _floor_run(home: Path, data: dict[str, list[dict[str, Any]]]) -> float:
    """Seconds for the raw-driver insert into a store made by the same code (same schema and key)."""
    home.mkdir()
    open_store(home, PASSWORD, create=True).close()
    return _floor_insert(home / "store.db", keys.unwrap_data_key(home, PASSWORD), data)


def _core_insert(session: Any, *, data: dict[str, list[dict[str, Any]]]) -> None:
    for table, rows in data.items():
        session.execute(MODELS[table].__table__.insert(), rows)


def _floor_insert(db_path: Path, data_key: bytes, data: dict[str, list[dict[str, Any]]]) -> float:
    conn = sqlcipher.connect(str(db_path), isolation_level=None)
    try:
        conn.execute(f"PRAGMA key = \"x'{data_key.hex()}'\"")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")

        def insert_all() -> None:
            conn.execute("BEGIN IMMEDIATE")
            for table, rows in data.items():
                columns = list(rows[0])
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                conn.executemany(sql, [tuple(_plain(row[c]) for c in columns) for row in rows])
            conn.execute("COMMIT")

        return timed(insert_all)[1]
    finally:
        conn.close()


def _plain(value: Any) -> Any:
    # the representations SQLAlchemy stores: ISO text for datetimes, JSON text for lists/dicts
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def _caseload_timings(store: Store, repeats: int) -> tuple[float, float, int]:
    with store.read_session() as session:
        rows, all_s = timed(lambda: caseload_rows(session))
        searches = [timed(lambda: caseload_rows(session, "gar mar"))[1] for _ in range(repeats)]
    return statistics.median(searches) * 1000, all_s, len(rows)
