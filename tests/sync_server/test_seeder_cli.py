"""Seeder determinism/idempotence, the `sync-server` command line, the committed OpenAPI copy and the
simulator's fixes going through ingestion."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from sync_server.__main__ import OPENAPI_PATH, openapi_text
from sync_server.db import Database
from sync_server.seeder import BBOX, seed
from sync_server.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]


def _db(tmp_path, name: str) -> Database:
    db = Database(f"sqlite:///{tmp_path / name}")
    db.create_schema()
    return db


def test_seed_is_deterministic_idempotent_and_extendable(tmp_path):
    a, b = _db(tmp_path, "a.db"), _db(tmp_path, "b.db")
    first = seed(a, 2, 30, "pw", random_seed=5)
    assert first["created_participants"] == 60
    assert seed(a, 2, 30, "pw", random_seed=5)["created_participants"] == 0  # idempotent
    assert seed(b, 2, 30, "pw", random_seed=5)["officers"] == first["officers"]  # deterministic
    query = "select case_number, first_name, last_name, address, home_lat, home_lon from participant order by id"
    with a.engine.connect() as sa, b.engine.connect() as sb:
        rows = sa.exec_driver_sql(query).all()
        assert rows == sb.exec_driver_sql(query).all()
        assert len({r[0] for r in rows}) == 60
        for _case, first_name, last_name, address, lat, lon in rows:
            assert first_name and last_name and address.endswith(("60605", "60606", "60607", "60610", "60611",
                                                                    "60603", "60654"))
            assert BBOX["lat_min"] <= lat <= BBOX["lat_max"] and BBOX["lon_min"] <= lon <= BBOX["lon_max"]
        kinds = {r[0] for r in sa.exec_driver_sql("select kind from device")}
        assert kinds == {"ankle", "wrist", "phone_app"}
        shapes = {r[0] for r in sa.exec_driver_sql("select shape from zone")}
        assert shapes == {"circle", "polygon"}
        feed = sa.exec_driver_sql("select count(*) from change_log").scalar()
        rows_total = sum(sa.exec_driver_sql(f"select count(*) from {t}").scalar()
                         for t in ("participant", "device", "zone", "appointment", "alert", "incident", "note"))
        assert feed == rows_total  # every seeded row is in the feed exactly once
    bigger = seed(a, 2, 35, "pw", random_seed=5)
    assert bigger["created_participants"] == 10 and bigger["officers"]["officer1"]["participants"] == 35
    a.dispose()
    b.dispose()


def test_openapi_copy_is_current():
    assert OPENAPI_PATH.read_text() == openapi_text(), (
        "sync_server/openapi.json is stale: run `.venv/bin/sync-server openapi --write`"
    )


def test_cli_serves_seeded_caseload_and_accepts_osmand(tmp_path):
    """The issue's done-when, scaled down: seed, serve on a free port, ping, privacy, batch twice."""
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        # the password on stdin, not in argv where `ps` shows it
        [sys.executable, "-m", "sync_server", "--seed", "--officers", "2", "--caseload", "15", "--password-stdin",
         "--port", "0", "--db", db_url, "--simulate", "--speed", "10", "--device-credentials", str(tmp_path / "keys.csv")],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc.stdin.write("demo-pass\n")
    proc.stdin.close()
    try:
        seeded = json.loads(proc.stdout.readline())["seeded"]
        listening = json.loads(proc.stdout.readline())["listening"]
        assert seeded["officers"]["officer1"]["participants"] == 15
        serial = seeded["officers"]["officer1"]["serials"][0]
        with open(tmp_path / "keys.csv", newline="") as f:
            keys = {row["serial"]: row["key"] for row in csv.DictReader(f)}
        assert len(keys) == 30 and all(len(k) >= 32 for k in keys.values())
        assert os.stat(tmp_path / "keys.csv").st_mode & 0o077 == 0
        ping = httpx.get(f"{listening}/osmand", params={
            "id": serial, "lat": 41.88, "lon": -87.63, "timestamp": int(time.time()), "key": keys[serial]})
        assert ping.status_code == 200
        assert httpx.get(f"{listening}/osmand", params={
            "id": serial, "lat": 41.88, "lon": -87.63, "key": keys[seeded["officers"]["officer1"]["serials"][1]],
        }).status_code == 401
        token = httpx.post(f"{listening}/v1/auth/token", json={
            "username": "officer1", "password": "demo-pass", "workstation_id": "cli"}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        other = seeded["officers"]["officer2"]["case_numbers"][0]
        assert httpx.get(f"{listening}/v1/participants/{other}", headers=auth).status_code == 404
        own = seeded["officers"]["officer1"]["case_numbers"][0]
        pid = httpx.get(f"{listening}/v1/participants/{own}", headers=auth).json()["participant"]["id"]
        batch = {"actions": [{"id": str(uuid.uuid4()), "kind": "add_note", "target": pid, "payload": {"text": "x"},
                              "created_at": datetime.now(UTC).isoformat()}]}
        statuses = [httpx.post(f"{listening}/v1/actions:batch", json=batch, headers=auth).json()["results"][0]["status"]
                    for _ in range(2)]
        assert statuses == ["applied", "duplicate"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


def test_simulator_reports_every_device_once_per_simulated_minute(tmp_path):
    db = _db(tmp_path, "sim.db")
    seed(db, 1, 25, "pw", random_seed=2)
    sim = Simulator(db, hub=None, speed=1.0)
    sim.load()
    now = datetime.now(UTC)
    sent = sum(sim.step(s, s + 1.0, now, now) for s in range(60))  # one simulated minute, tick by tick
    assert sent == 25
    with db.engine.connect() as session:
        assert session.exec_driver_sql("select count(distinct device_id) from position").scalar() == 25
        assert session.exec_driver_sql("select count(*) from position").scalar() == 25
    db.dispose()


def test_simulator_faults_reach_the_rules_engine(tmp_path, monkeypatch):
    """With fault chances forced to certainty, one simulated minute produces strap tampers (bracelets),
    GPS loss (wifi/cell fixes) and low batteries, all raised by the ordinary ingestion rules."""
    import sync_server.simulator as simulator

    db = _db(tmp_path, "faults.db")
    seed(db, 1, 12, "pw", random_seed=4)
    for name in ("P_TAMPER", "P_GPS_LOSS", "P_DRAIN"):
        monkeypatch.setattr(simulator, name, 1e6)
    sim = Simulator(db, hub=None, speed=1.0)
    sim.load()
    now = datetime.now(UTC)
    assert sum(sim.step(s, s + 1.0, now, now) for s in range(60)) == 12
    with db.engine.connect() as conn:
        kinds = {r[0] for r in conn.exec_driver_sql("select kind from alert where id like 'al-%'")}
        sources = {r[0] for r in conn.exec_driver_sql("select source from position")}
        bracelets = conn.exec_driver_sql("select count(*) from device where kind != 'phone_app'").scalar()
        tampered = conn.exec_driver_sql("select count(*) from device where strap = 'tampered'").scalar()
    assert {"battery_critical", "strap_tamper"} <= kinds
    assert sources <= {"wifi", "cell"} and sources
    assert tampered == bracelets > 0
    db.dispose()


def test_todays_visits_give_the_demo_a_day_to_plan(tmp_path):
    """Today on the agency's clock: home visits through the day, an office check-in and a court hearing;
    seeding again adds nothing; without the option no appointment is made for today."""
    from zoneinfo import ZoneInfo

    from sync_server.seeder import SEED_TIME_ZONE, TODAYS_VISITS

    db = _db(tmp_path, "today.db")
    seed(db, 1, 10, "pw", random_seed=5, todays_visits=8)
    assert seed(db, 1, 10, "pw", random_seed=5, todays_visits=8)["created_participants"] == 0
    zone = ZoneInfo(SEED_TIME_ZONE)
    today = datetime.now(UTC).astimezone(zone).date()
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("select kind, starts_at from appointment where id like 'at%'").all()
    assert len(rows) == len(TODAYS_VISITS) == 8
    local = sorted((datetime.fromisoformat(str(at)).replace(tzinfo=UTC).astimezone(zone), kind) for kind, at in rows)
    assert {t.date() for t, _kind in local} == {today}
    assert [kind for _t, kind in local].count("court_hearing") == 1
    assert [kind for _t, kind in local].count("office_checkin") == 1
    assert local[0][0].strftime("%H:%M") == "09:00"
    plain = _db(tmp_path, "plain.db")
    seed(plain, 1, 10, "pw", random_seed=5)
    with plain.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from appointment where id like 'at%'").scalar() == 0
