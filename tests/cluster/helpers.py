"""Clients of a running LocalCluster for the tests: gateway batches, officer logins, live streams and
what the database holds."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import create_engine, text


def devices(db_url: str) -> list[tuple[str, str]]:
    """(serial, officer id) of every seeded device."""
    return query(db_url, "select d.serial, p.officer_id from device d join participant p on p.id = d.participant_id "
                         "order by d.serial")


def query(db_url: str, sql: str, **params: Any) -> list[tuple]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def revoke_workstation(db_url: str, workstation_id: str) -> None:
    from sync_server import auth
    from sync_server.db import Database

    db = Database(db_url)
    try:
        with db.write() as session:
            auth.revoke_workstation(session, workstation_id)
    finally:
        db.dispose()


def rounds(serials: list[str], n: int, start: datetime | None = None, low_battery_round: int = -1) -> list[list[dict]]:
    """n rounds of one fix per device, 10 s apart, a few metres apart; battery 15% in one round."""
    start = start or datetime.now(UTC) - timedelta(minutes=3)
    out = []
    for r in range(n):
        at = (start + timedelta(seconds=10 * r)).isoformat()
        out.append([
            {"serial": s, "fix_time": at, "lat": 41.88 + 0.0001 * r, "lon": -87.63 + 0.00001 * i, "accuracy_m": 8.0,
             "battery_pct": 15 if r == low_battery_round else 80}
            for i, s in enumerate(serials)
        ])
    return out


#: db url -> {"gateway": key of gateway "cluster-tests", serial: device key}, filled by seeded_postgres
KEYS: dict[str, dict[str, str]] = {}


def gateway_key(db_url: str) -> str:
    return KEYS[db_url]["gateway"]


def device_key(db_url: str, serial: str) -> str:
    return KEYS[db_url][serial]


def post_batch(receiver_url: str, key: str, fixes: list[dict]) -> httpx.Response:
    """Post a batch; a 200 must have accepted every fix (the fixes of these tests are all acceptable)."""
    response = httpx.post(f"{receiver_url}/v1/ingest/fixes", json={"fixes": fixes}, headers={"X-Gateway-Key": key},
                          timeout=30)
    if response.status_code == 200:
        assert response.json()["rejected"] == 0, response.text[:500]
    return response


def login(api_url: str, username: str = "officer1", workstation_id: str = "ws-cluster") -> str:
    response = httpx.post(f"{api_url}/v1/auth/token", json={
        "username": username, "password": "pw", "workstation_id": workstation_id,
    }, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def wait_for(predicate, timeout_s: float = 60.0, what: str = "condition") -> None:  # noqa: ANN001 - callable
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class LiveReader:
    """Reads one /v1/live stream in a thread, keeping (seq, event) of everything but heartbeats."""

    def __init__(self, api_url: str, token: str, after: int | None = None, last_event_id: int | None = None) -> None:
        self.events: list[dict] = []
        self.connected = False  # set at the stream's first line (its retry advice): later events reach it
        self.error: BaseException | None = None
        self._stop = threading.Event()
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        params = {"after": after} if after is not None else None
        self._thread = threading.Thread(target=self._run, args=(api_url, headers, params), daemon=True)
        self._thread.start()

    def _run(self, api_url: str, headers: dict, params: dict | None) -> None:
        try:
            with httpx.stream("GET", f"{api_url}/v1/live", headers=headers, params=params,
                              timeout=httpx.Timeout(10, read=5)) as response:
                for line in response.iter_lines():
                    self.connected = True
                    if self._stop.is_set():
                        return
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        if event["type"] != "heartbeat":
                            self.events.append(event)
        except (httpx.HTTPError, ValueError) as exc:  # the worker died, or the stream was closed
            self.error = exc

    @property
    def fixes(self) -> list[dict]:
        return [e for e in self.events if e["type"] == "fix"]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
