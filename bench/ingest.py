"""Ingest: device fixes per second into the reference server over real loopback HTTP, against a raw floor.

Setup: the reference server runs seeded (1 officer, N participants, each with a device and the seeded
zones) in its own process, so the load generator does not share its interpreter lock, with the garbage
collector tuned as `sync-server` tunes it once it listens (sync_server/gc_tuning.py). Fixes are a
realistic minute of reports: one fix per device near its last position (a few metres of jitter), with
battery levels, timestamps a couple of seconds apart per round, so every fix is newer than the last and
the full rules engine runs (zone/curfew checks, drift and speed guards, battery thresholds).

Metrics
- ingest_batch_fixes_per_s: fixes/s through POST /v1/ingest/fixes, batches of 5,000 (the protocol's
  maximum) from a gateway every device is assigned to, request bodies encoded before the clock starts
  (target >= 10,000 on SQLite).
- ingest_osmand_fixes_per_s: fixes/s through GET /osmand, one fix per request with its device key in the
  URL, 4 concurrent keep-alive clients (how phone tracker apps report).
- ingest_floor_fixes_per_s: the least any server must do for the same fixes: raw sqlite3 executemany of
  the same position rows into a fresh SQLite file with the same table and index, one transaction per
  5,000 (no HTTP, no parsing, no rules, no device state, no change feed).
- ingest_batch_vs_floor_ratio = floor / batch rate.
- ingest_batch_server_cpu_us_per_fix: CPU time the server process spent per fix on the batch path (all
  threads), which stays meaningful when other processes share the cores: 1e6 / it is the rate one
  uncontended core sustains. ingest_osmand_server_cpu_us_per_fix is the same for /osmand requests.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

BATCH = 5000
OSMAND_CLIENTS = 4

SERVER_SCRIPT = """
import json, sys, time
from sync_server.embedded import start_server
from sync_server.gc_tuning import tune_for_serving
server = start_server(tmp_dir=sys.argv[1], officers=1, caseload=int(sys.argv[2]), password="bench")
tune_for_serving()  # as `sync-server` does once it listens
devices = server.query("select serial, last_lat, last_lon from device order by id")
print(json.dumps({"url": server.url, "gateway_key": server.gateway_key, "devices": devices,
                  "device_keys": server.device_keys}), flush=True)
for line in sys.stdin:
    if line.strip() != "cpu":
        break
    print(time.process_time(), flush=True)  # CPU seconds of the whole server process, all threads
server.stop()
"""

POSITION_DDL = """
CREATE TABLE position (
    id INTEGER PRIMARY KEY, device_id VARCHAR(64), participant_id VARCHAR(64), fix_time DATETIME,
    received_at DATETIME, lat FLOAT, lon FLOAT, accuracy_m FLOAT, speed_kmh FLOAT, source VARCHAR(10),
    flags VARCHAR(40)
);
CREATE INDEX ix_position_participant_time ON position (participant_id, fix_time);
"""


def _rounds(devices: list[list[Any]], rounds: int, start: datetime) -> list[list[dict[str, Any]]]:
    rng = random.Random(3)
    out = []
    for r in range(rounds):
        at = (start + timedelta(seconds=2 * r)).isoformat()
        out.append([
            {"serial": serial, "fix_time": at, "lat": round(lat + rng.gauss(0, 0.00003), 6),
             "lon": round(lon + rng.gauss(0, 0.00003), 6), "accuracy_m": float(rng.randrange(4, 20)),
             "speed_kmh": round(abs(rng.gauss(0, 2)), 1), "battery_pct": rng.randrange(40, 100)}
            for serial, lat, lon in devices
        ])
    return out


def _batch_rate(url: str, key: str, rounds: list[list[dict[str, Any]]]) -> tuple[float, int]:
    bodies = [json.dumps({"fixes": fixes[i:i + BATCH]}).encode() for fixes in rounds
              for i in range(0, len(fixes), BATCH)]
    headers = {"X-Gateway-Key": key, "content-type": "application/json"}
    total = sum(len(f) for f in rounds)
    with httpx.Client(base_url=url, timeout=120) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/v1/ingest/fixes", content=body, headers=headers)
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    return total / elapsed, total


def _osmand_rate(url: str, fixes: list[dict[str, Any]], keys: dict[str, str]) -> float:
    params = [
        {"id": f["serial"], "lat": f["lat"], "lon": f["lon"], "timestamp": f["fix_time"], "accuracy": f["accuracy_m"],
         "speed": f["speed_kmh"] / 1.852, "batt": f["battery_pct"], "key": keys[f["serial"]]}
        for f in fixes
    ]
    shares = [params[i::OSMAND_CLIENTS] for i in range(OSMAND_CLIENTS)]
    errors: list[str] = []

    def send(share: list[dict[str, Any]]) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            for p in share:
                response = client.get("/osmand", params=p)
                if response.status_code != 200:
                    errors.append(response.text)
                    return

    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"osmand refused a fix: {errors[0]}")
    return len(params) / elapsed


def _floor_rate(directory: Path, rounds: list[list[dict[str, Any]]]) -> float:
    connection = sqlite3.connect(directory / "floor.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(POSITION_DDL)
    received = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    rows = [
        (f["serial"], f["serial"], f["fix_time"], received, f["lat"], f["lon"], f["accuracy_m"], f["speed_kmh"],
         "gps", "")
        for fixes in rounds for f in fixes
    ]
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO position (device_id, participant_id, fix_time, received_at, lat, lon, accuracy_m, "
            "speed_kmh, source, flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows[i:i + BATCH])
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return len(rows) / elapsed


def _server_cpu(proc: subprocess.Popen) -> float:
    proc.stdin.write("cpu\n")
    proc.stdin.flush()
    return float(proc.stdout.readline())


def run(quick: bool = False) -> dict[str, float | int]:
    devices_n = 2000 if quick else 5000
    rounds_n = 2 if quick else 6
    osmand_n = 400 if quick else 2000
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, tmp, str(devices_n)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
        )
        try:
            info = json.loads(proc.stdout.readline())
            start = datetime.now(UTC) + timedelta(seconds=1)
            rounds = _rounds(info["devices"], rounds_n + 1, start)
            cpu_before = _server_cpu(proc)
            batch_rate, total = _batch_rate(info["url"], info["gateway_key"], rounds[:-1])
            cpu_per_fix = (_server_cpu(proc) - cpu_before) / total
            cpu_before = _server_cpu(proc)
            osmand_fixes = rounds[-1][:osmand_n]
            osmand_rate = _osmand_rate(info["url"], osmand_fixes, info["device_keys"])
            osmand_cpu_per_fix = (_server_cpu(proc) - cpu_before) / len(osmand_fixes)
        finally:
            proc.stdin.write("stop\n")
            proc.stdin.flush()
            proc.wait(timeout=60)
        floor_rate = _floor_rate(Path(tmp), rounds[:-1])
    return {
        "ingest_batch_fixes_per_s": round(batch_rate),
        "ingest_osmand_fixes_per_s": round(osmand_rate),
        "ingest_osmand_server_cpu_us_per_fix": round(osmand_cpu_per_fix * 1e6, 1),
        "ingest_floor_fixes_per_s": round(floor_rate),
        "ingest_batch_vs_floor_ratio": round(floor_rate / batch_rate, 2),
        # contention-independent: server CPU per fix on the batch path (all its threads; HTTP, parsing,
        # rules, SQLite), so 1e6 / this = fixes/s one free core sustains
        "ingest_batch_server_cpu_us_per_fix": round(cpu_per_fix * 1e6, 1),
        "ingest_fixes_sent": total,
    }
