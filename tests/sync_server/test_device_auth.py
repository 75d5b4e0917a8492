"""Device and gateway credentials: nobody without a device's key can write its positions."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sync_server.app import create_app
from sync_server.db import Database
from sync_server.device_keys import Credentials, KeyRing, key_hash

ROOT = Path(__file__).resolve().parents[2]


def _state(server, serial: str) -> tuple:
    return server.query(
        "select (select count(*) from position), last_contact_at, version from device where serial = :s", s=serial
    )[0]


def _ping(server, **params) -> httpx.Response:
    return httpx.get(f"{server.url}/osmand", params={"lat": "41.88", "lon": "-87.63", **params})


def test_missing_wrong_and_unknown_are_one_refusal_and_change_nothing(sync_server):
    serial, other = sync_server.seeded["officers"]["officer1"]["serials"][:2]
    before = _state(sync_server, serial)
    answers = [
        _ping(sync_server, id=serial),
        _ping(sync_server, id=serial, key=""),
        _ping(sync_server, id=serial, key="x" * 32),
        _ping(sync_server, id=serial, key=sync_server.device_keys[other]),  # another device's real key
        _ping(sync_server, id="BI-LOC8-9999999", key=sync_server.device_keys[serial]),  # unknown serial
        _ping(sync_server, id=serial.lower(), key=sync_server.device_keys[serial]),
        httpx.get(f"{sync_server.url}/osmand", params={"id": serial, "lat": "41.88", "lon": "-87.63"},
                  headers={"Authorization": "Bearer nope"}),
    ]
    assert {(r.status_code, r.content) for r in answers} == {
        (401, b'{"error":"unauthorized","detail":"missing or wrong device key","wipe":false}')}
    assert _state(sync_server, serial) == before


@pytest.mark.parametrize("form", ["query", "form", "basic", "bearer"])
def test_every_form_a_tracker_can_send_the_key_in_is_accepted(sync_server, form):
    serial = sync_server.seeded["officers"]["officer1"]["serials"][0]
    key = sync_server.device_keys[serial]
    fields = {"id": serial, "lat": "41.8801", "lon": "-87.6301"}
    url = f"{sync_server.url}/osmand"
    if form == "query":
        r = httpx.get(url, params={**fields, "key": key})
    elif form == "form":
        r = httpx.post(url, data={**fields, "key": key})
    elif form == "basic":
        token = base64.b64encode(f"{serial}:{key}".encode()).decode()
        r = httpx.post(url, params={"lat": "41.8801", "lon": "-87.6301"}, headers={"Authorization": f"Basic {token}"})
    else:
        r = httpx.get(url, params=fields, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert sync_server.query("select via from position") == [("osmand",)]


def test_basic_user_must_be_the_serial_reporting(sync_server):
    serial, other = sync_server.seeded["officers"]["officer1"]["serials"][:2]
    token = base64.b64encode(f"{other}:{sync_server.device_keys[other]}".encode()).decode()
    r = httpx.get(f"{sync_server.url}/osmand", params={"id": serial, "lat": "41.88", "lon": "-87.63"},
                  headers={"Authorization": f"Basic {token}"})
    assert r.status_code == 401
    assert sync_server.query("select count(*) from position") == [(0,)]


def test_failed_attempts_are_throttled_per_address(sync_server_factory):
    server = sync_server_factory(caseload=2, device_free_failures=3)
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    assert [_ping(server, id=serial, key=f"guess{i}").status_code for i in range(3)] == [401] * 3
    throttled = _ping(server, id=serial, key=server.device_keys[serial])  # even the right key now waits
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    gateway = httpx.post(f"{server.url}/v1/ingest/fixes", json={"fixes": []}, headers={"X-Gateway-Key": "x"})
    assert gateway.status_code == 429
    assert server.query("select count(*) from position") == [(0,)]


def test_rotating_a_key_from_the_command_line_retires_the_old_one(sync_server_factory):
    server = sync_server_factory(caseload=2, key_refresh_s=0.1)
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    old = server.device_keys[serial]
    out = subprocess.run(
        [sys.executable, "-m", "sync_server", "device-key", serial, "--db", server.db_url],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    new = json.loads(out.stdout)["key"]
    assert new != old and len(new) >= 32
    deadline = time.monotonic() + 20
    while _ping(server, id=serial, key=old).status_code == 200:  # until the background refresh ran
        assert time.monotonic() < deadline, "the server never saw the rotated key"
        time.sleep(0.1)
    assert _ping(server, id=serial, key=old).status_code == 401
    assert _ping(server, id=serial, key=new).status_code == 200


def test_only_hashes_are_stored(sync_server):
    serial = sync_server.seeded["officers"]["officer1"]["serials"][0]
    key = sync_server.device_keys[serial]
    stored = sync_server.query("select key_hash from device where serial = :s", s=serial)[0][0]
    assert stored == key_hash(key) and key not in stored
    assert sync_server.query("select count(*) from gateway where key_hash = :h", h=key_hash(sync_server.gateway_key)) \
        == [(1,)]


def test_key_ring_verifies_from_memory_alone():
    """What the cluster's receivers rely on: a snapshot from any loader, no database."""
    ring = KeyRing(lambda: Credentials({"SN-1": key_hash("k1")}, {"SN-1": "gw"}, {key_hash("g1"): "gw"}, 1))
    assert not ring.device("SN-1", "k1")  # nothing loaded yet
    ring.refresh()
    assert ring.device("SN-1", "k1")
    assert not ring.device("SN-1", "k2") and not ring.device("SN-2", "k1") and not ring.device("SN-1", None)
    assert ring.gateway("g1") == "gw" and ring.gateway("g2") is None and ring.gateway(None) is None
    assert ring.gateway_allows("gw", "SN-1") and not ring.gateway_allows("gw", "SN-2")


def test_access_log_lines_lose_their_query_string(tmp_path):
    create_app(Database(f"sqlite:///{tmp_path / 'x.db'}"))  # installs the filter
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/osmand?id=SN-1&key=SECRET", "1.1", 200), None,
    )
    assert logging.getLogger("uvicorn.access").filter(record)
    line = record.getMessage()
    assert "SECRET" not in line and "/osmand?[redacted]" in line
