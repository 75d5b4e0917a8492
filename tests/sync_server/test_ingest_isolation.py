"""One bad fix never hurts another; no input to either ingest endpoint gives a 5xx."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workstation.protocol import ErrorBody

OVERFLOWING = ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00")
PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _positions(server) -> int:
    return server.query("select count(*) from position")[0][0]


def test_dates_that_overflow_in_utc_are_4xx_everywhere(sync_server, client_for):
    """Ingestion and the track window (officers' actions: tests/sync_server/test_actions.py)."""
    serial, other = sync_server.seeded["officers"]["officer1"]["serials"][:2]
    key = sync_server.device_keys[serial]
    officer = client_for(sync_server)
    case = sync_server.seeded["officers"]["officer1"]["case_numbers"][0]
    for stamp in OVERFLOWING:
        ping = httpx.get(f"{sync_server.url}/osmand", params={"id": serial, "key": key, "lat": 41.88, "lon": -87.63,
                                                              "timestamp": stamp})
        assert ping.status_code == 400, ping.text
        bad = {"serial": serial, "fix_time": stamp, "lat": 41.88, "lon": -87.63}
        alone = httpx.post(f"{sync_server.url}/v1/ingest/fixes", headers={"X-Gateway-Key": sync_server.gateway_key},
                           json={"fixes": [bad]})
        assert alone.status_code == 422 and alone.json()["error"] == "invalid_fix", alone.text
        good = {**bad, "fix_time": datetime.now(UTC).isoformat(), "serial": other}
        mixed = httpx.post(f"{sync_server.url}/v1/ingest/fixes", headers={"X-Gateway-Key": sync_server.gateway_key},
                           json={"fixes": [bad, good]})
        assert [r["status"] for r in mixed.json()["results"]] == ["rejected", "accepted"], mixed.text
        track = officer.get(f"/v1/participants/{case}/track", params={"since": stamp})
        assert track.status_code == 422, track.text
    assert _positions(sync_server) == 2  # the good neighbours only


def test_one_bad_ping_among_concurrent_ones_fails_alone(sync_server_factory):
    server = sync_server_factory(caseload=12)
    serials = sorted(server.device_keys)[:12]
    now = datetime.now(UTC)
    answers: dict[str, int] = {}
    start = threading.Barrier(len(serials))

    def ping(i: int, serial: str) -> None:
        # every third one dated an hour ahead: refused; the rest share the same ingest group
        ahead = i % 3 == 0
        stamp = int((now + (timedelta(hours=1) if ahead else timedelta(seconds=-5))).timestamp())
        start.wait()
        r = httpx.get(f"{server.url}/osmand", params={"id": serial, "key": server.device_keys[serial],
                                                      "lat": 41.88, "lon": -87.63, "timestamp": stamp}, timeout=30)
        answers[serial] = r.status_code

    threads = [threading.Thread(target=ping, args=(i, s)) for i, s in enumerate(serials)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [answers[s] for s in serials] == [422 if i % 3 == 0 else 200 for i in range(len(serials))]
    assert _positions(server) == len([i for i in range(len(serials)) if i % 3])


def test_the_connection_stays_usable_after_an_error(sync_server):
    serial = sync_server.seeded["officers"]["officer1"]["serials"][0]
    key = sync_server.device_keys[serial]
    host, port = sync_server.host, sync_server.port
    bad = f"GET /osmand?id={serial}&key={key}&lat=91&lon=0 HTTP/1.1\r\nHost: x\r\n\r\n"
    good = f"GET /osmand?id={serial}&key={key}&lat=41.88&lon=-87.63 HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(bad.encode())
        first = _read_response(sock)
        sock.sendall(good.encode())  # the same connection
        second = _read_response(sock)
    assert first.startswith(b"HTTP/1.1 400") and second.startswith(b"HTTP/1.1 200"), (first, second)
    assert _positions(sync_server) == 1


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def _no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert ErrorBody.model_validate_json(response.content).error


text_values = st.one_of(
    st.text(max_size=24), st.sampled_from(["", "-1", "0", "1e308", "nan", "inf", "-0", "41.88", "-87.63",
                                            "true", "false", "sos", *OVERFLOWING, "1764763200000", "2025-12-03 12:00:00"]),
    st.integers(-2**70, 2**70).map(str), st.floats(allow_nan=True).map(str),
)
ping_fields = st.dictionaries(
    st.sampled_from(["lat", "lon", "location", "timestamp", "speed", "bearing", "heading", "altitude", "accuracy",
                     "hdop", "batt", "charge", "valid", "mock", "alarm", "cell", "wifi", "deviceid", "zzz"]),
    text_values, max_size=10,
)


@PROPERTY
@given(fields=ping_fields, post=st.booleans())
def test_no_ping_of_an_authenticated_device_gets_a_5xx(sync_server, fields, post):
    serial = sync_server.seeded["officers"]["officer1"]["serials"][0]
    params = {**fields, "id": serial, "key": sync_server.device_keys[serial]}
    url = f"{sync_server.url}/osmand"
    response = httpx.post(url, data=params) if post else httpx.get(url, params=params)
    _no_server_error(response)


fix_values = st.fixed_dictionaries(
    {"serial": st.sampled_from(["APP-0100001", "BI-LOC8-0100003", "SL-WR-0100002", "NOPE", ""]) | st.text(max_size=8),
     "fix_time": st.sampled_from([*OVERFLOWING, "not a time", "2000-01-01T00:00:00Z"]) | st.datetimes(
         min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)).map(datetime.isoformat),
     "lat": st.floats() | st.integers(-2**64, 2**64) | st.text(max_size=4),
     "lon": st.floats() | st.integers(-2**64, 2**64)},
    optional={"accuracy_m": st.floats(), "speed_kmh": st.floats(), "battery_pct": st.integers(-2**64, 2**64),
              "valid": st.booleans() | st.integers(), "mock": st.booleans(), "event": st.text(max_size=12),
              "hdop": st.floats(), "bearing": st.floats(), "charging": st.none() | st.booleans(),
              "source": st.sampled_from(["gps", "wifi", "cell", "moon"]), "extra": st.integers()},
)


@PROPERTY
@given(fixes=st.lists(fix_values, min_size=0, max_size=6) | st.none())
def test_no_gateway_batch_gets_a_5xx(sync_server, fixes):
    body = {"fixes": fixes} if fixes is not None else {"fixes": "not a list"}
    response = httpx.post(f"{sync_server.url}/v1/ingest/fixes", content=json.dumps(body),  # NaN and Infinity too
                          headers={"X-Gateway-Key": sync_server.gateway_key, "content-type": "application/json"})
    _no_server_error(response)
    if response.status_code == 200:
        answer = response.json()
        assert len(answer["results"]) == len(fixes)
        assert answer["accepted"] + answer["rejected"] == len(fixes)
