"""Sync: a 7,000-participant caseload from the reference server on loopback, against a raw floor.

Setup: the reference server runs seeded (1 officer, 7,000 participants) in its own process, so
it does not share the client's interpreter lock; the client is the real `workstation sync`
command in a child process (fresh data directory, real encrypted store).

Metrics
- full_sync_7k_s: the engine's time for the first sync (push of nothing + pull of every page:
  fetch, validate each page whole, bulk upsert with its cursor per page), as reported by
  `workstation sync --json` (login and the PBKDF2 unlock excluded).
- full_sync_floor_s: the least any client must do for the same job, in one process: fetch the
  same pages (same page size, same compression), json.loads them, and insert the decoded rows
  with raw sqlcipher3 executemany in ONE transaction into an empty encrypted store with the same
  schema. The floor trusts the server (no validation), keeps no cursor, and cannot resume.
  full_sync_floor_fetch_s and full_sync_floor_insert_s split it.
- full_sync_vs_floor_ratio = full_sync_7k_s / full_sync_floor_s (target <= 2.0).
- bytes_per_participant: wire bytes (compressed) of the full sync / participants (target <= 400).
- delta_1pct_bytes_ratio: wire bytes of the next sync after the server changed 1% of all
  participants / bytes of the full sync (target <= 0.03).
- outbox_actions_per_s: 10,000 queued notes pushed in batches of 500, results recorded
  (target >= 2,000); outbox_server_wait_s is the time spent waiting for the server's answers
  (recording batch k overlaps with waiting for batch k+1).
- full_sync_peak_rss_mb: peak RSS of the `workstation sync` process for the full sync (< 300).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlcipher3.dbapi2 as sqlcipher

from local_db import keys
from local_db.store import open_store
from workstation import protocol as p

PASSWORD = "bench-pass"
PAGE_SIZE = 1000

SERVER_SCRIPT = """
import sys
from sync_server.embedded import start_server
server = start_server(tmp_dir=sys.argv[1], officers=1, caseload=int(sys.argv[2]), password=sys.argv[3])
print(server.url, flush=True)
for line in sys.stdin:
    command, _, argument = line.strip().partition(" ")
    if command == "touch":
        print(server.touch_participants(float(argument), seed=11), flush=True)
    elif command == "notes":
        print(server.count_notes(), flush=True)
    else:
        break
server.stop()
"""


class ServerProcess:
    def __init__(self, tmp: Path, caseload: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, str(tmp), str(caseload), PASSWORD],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise RuntimeError("the bench server did not start")

    def ask(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def stop(self) -> None:
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
            self.proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def cli_sync(home: Path, url: str) -> tuple[dict[str, Any], float]:
    """Run `workstation sync --json` in a child process; returns (summary, its peak RSS in MB)."""
    env = {**os.environ, "WORKSTATION_HOME": str(home), "WORKSTATION_PASSWORD": PASSWORD}
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from workstation.cli import main; sys.exit(main(sys.argv[1:]))",
             "sync", "--server", url, "--user", "officer1", "--json"],
            env=env, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
        out = proc.stdout.read()
        # wait4 reports this child's own peak RSS (ru_maxrss, KiB on Linux)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"workstation sync failed: {err.read().strip()}")
    return json.loads(out), usage.ru_maxrss / 1024


def run(quick: bool = False) -> dict[str, float | int]:
    n = 1_000 if quick else 7_000
    n_actions = 1_000 if quick else 10_000
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp_name:
        tmp = Path(tmp_name)
        server = ServerProcess(tmp, n)
        try:
            home = tmp / "client"
            home.mkdir()
            full, peak_mb = cli_sync(home, server.url)
            if full["participants"] != n:
                raise AssertionError(f"full sync brought {full['participants']} participants, expected {n}")
            floor = floor_sync(tmp / "floor", server.url)
            touched = int(server.ask("touch 0.01"))
            delta, _ = cli_sync(home, server.url)
            if delta["changes_applied"] < touched:
                raise AssertionError(f"delta brought {delta['changes_applied']} changes for {touched} touched")
            push_s, push_wait_s = outbox_flush(home, server.url, n_actions)
            notes_on_server = int(server.ask("notes"))
        finally:
            server.stop()
    return {
        "sync_participants": n,
        "full_sync_7k_s": round(full["seconds"], 3),
        "full_sync_floor_s": round(floor["total_s"], 3),
        "full_sync_floor_fetch_s": round(floor["fetch_s"], 3),
        "full_sync_floor_insert_s": round(floor["insert_s"], 3),
        "full_sync_vs_floor_ratio": round(full["seconds"] / floor["total_s"], 3),
        "full_sync_changes": full["changes_applied"],
        "bytes_per_participant": round(full["bytes_down"] / n, 1),
        "delta_1pct_participants_changed": touched,
        "delta_1pct_bytes": delta["bytes_down"],
        "delta_1pct_bytes_ratio": round(delta["bytes_down"] / full["bytes_down"], 4),
        "outbox_actions": n_actions,
        "outbox_actions_per_s": round(n_actions / push_s, 1),
        "outbox_server_wait_s": round(push_wait_s, 3),
        "outbox_notes_on_server": notes_on_server,
        "full_sync_peak_rss_mb": round(peak_mb, 1),
    }


# --------------------------------------------------------------------------- floor

COLUMN_ORDER = ("participant", "device", "zone", "appointment", "alert", "incident", "note")


def floor_sync(home: Path, url: str) -> dict[str, float]:
    home.mkdir()
    open_store(home, PASSWORD, create=True).close()  # same schema, same encryption
    data_key = keys.unwrap_data_key(home, PASSWORD)
    token = httpx.post(
        f"{url}/v1/auth/token", json={"username": "officer1", "password": PASSWORD, "workstation_id": "bench-floor"}
    ).json()["access_token"]
    started = time.perf_counter()
    rows: dict[str, list[dict[str, Any]]] = {entity: [] for entity in COLUMN_ORDER}
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "zstd, gzip"}
    ) as client:
        cursor = 0
        while True:
            page = json.loads(client.get("/v1/sync/changes", params={"cursor": cursor, "limit": PAGE_SIZE}).content)
            for change in page["changes"]:
                if change["op"] == "upsert":
                    rows[change["entity"]].append(_flat(change))
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
    fetched = time.perf_counter()
    conn = sqlcipher.connect(str(home / "store.db"), isolation_level=None)
    try:
        conn.execute(f"PRAGMA key = \"x'{data_key.hex()}'\"")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        insert_started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for entity in COLUMN_ORDER:
            entity_rows = rows[entity]
            if not entity_rows:
                continue
            columns = sorted({key for row in entity_rows for key in row})
            sql = f"INSERT OR REPLACE INTO {entity} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            conn.executemany(sql, [tuple(row.get(c) for c in columns) for row in entity_rows])
        conn.execute("COMMIT")
        done = time.perf_counter()
    finally:
        conn.close()
    return {"total_s": done - started - (insert_started - fetched), "fetch_s": fetched - started,
            "insert_s": done - insert_started}  # fmt: skip


def _defaults(model: Any) -> dict[str, Any]:
    # the server leaves out fields at their default; a decoded row still needs every column
    return {name: field.get_default(call_default_factory=True) for name, field in model.model_fields.items()
            if not field.is_required()}  # fmt: skip


DEFAULTS = {
    "participant": _defaults(p.ParticipantData), "device": _defaults(p.DeviceData), "zone": _defaults(p.ZoneData),
    "appointment": _defaults(p.AppointmentData), "alert": _defaults(p.AlertData), "note": _defaults(p.NoteData),
    "incident": _defaults(p.IncidentData),
}  # fmt: skip


def _flat(change: dict[str, Any]) -> dict[str, Any]:
    row = {**DEFAULTS[change["entity"]], **change["data"]}
    row["version"] = change["version"]
    fix = row.pop("last_fix", None) if change["entity"] == "device" else None
    if fix:
        row.update(last_fix_time=fix["fix_time"].replace("T", " ").rstrip("Z"), last_lat=fix["lat"],
                   last_lon=fix["lon"], last_accuracy_m=fix.get("accuracy_m"), last_speed_kmh=fix.get("speed_kmh"),
                   last_source=fix.get("source"))  # fmt: skip
    for key, value in row.items():
        if isinstance(value, list | dict):
            row[key] = json.dumps(value)
        elif isinstance(value, str) and len(value) > 19 and value[10] == "T" and value.endswith("Z"):
            row[key] = value.replace("T", " ").rstrip("Z")
    if change["entity"] in ("alert", "incident", "note"):
        row["pending"] = 0
    return row


# --------------------------------------------------------------------------- outbox


def outbox_flush(home: Path, url: str, n_actions: int) -> tuple[float, float]:
    """Queue n notes (one transaction, the same enqueue + local effect as actions.add_note), then
    time pushing them all through the real client. Returns (seconds, of which waiting for the server)."""
    from sqlalchemy import select

    from local_db.models import Participant
    from workstation.auth import Auth
    from workstation.sync import effects, outbox
    from workstation.sync.engine import SyncEngine
    from workstation.sync.http import ServerClient
    from workstation.sync.rows import utcnow

    store = open_store(home, PASSWORD)
    try:
        def queue(session: Any) -> None:
            ids = list(session.scalars(select(Participant.id)))
            now = utcnow()
            for i in range(n_actions):
                target = ids[i % len(ids)]
                action = outbox.enqueue(session, kind="add_note", target=target, payload={"text": f"bench note {i}"},
                                        participant_id=target, base_version=None, created_at=now)  # fmt: skip
                effects.apply_local_effect(session, action, "officer1", now)

        store.write(queue, durable=True)
        auth = Auth("officer1", "bench-outbox")
        with ServerClient(url, tokens=auth) as client:
            auth.login(client, PASSWORD)
            engine = SyncEngine(store, client, batch_size=500)
            started = time.perf_counter()
            summary = engine.push_only()
            elapsed = time.perf_counter() - started
        if not summary.ok or summary.actions_applied != n_actions:
            raise AssertionError(f"outbox flush: {summary}")
        return elapsed, client.bytes.wait_s
    finally:
        store.close()
