"""Property-based bad input against every write endpoint: a clear 4xx, never a 500, nothing written.

Bounded (max_examples) so the whole module runs in seconds against one real server per test.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workstation.protocol import ErrorBody

SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def officer1(sync_server, client_for) -> httpx.Client:
    """Logged in once per test, shared by all examples (a login costs a deliberate scrypt)."""
    return client_for(sync_server)


def _assert_error(response: httpx.Response) -> ErrorBody:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = ErrorBody.model_validate_json(response.content)
    assert body.error and not body.wipe
    return body


def _counts(server) -> tuple:
    return server.query(
        "select (select count(*) from position), (select count(*) from note), (select count(*) from alert),"
        " (select count(*) from applied_action), (select count(*) from change_log)"
    )[0]


@SETTINGS
@given(body=json_values)
def test_arbitrary_json_to_json_endpoints(sync_server, officer1, body):
    client = officer1
    before = _counts(sync_server)
    for path in ("/v1/actions:batch", "/v1/auth/refresh", "/v1/admin/revoke-workstation"):
        _assert_error(client.post(path, json=body))
    gateway = client.post("/v1/ingest/fixes", json=body, headers={"X-Gateway-Key": sync_server.gateway_key})
    _assert_error(gateway)
    assert _counts(sync_server) == before


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_malformed_bytes(sync_server, officer1, raw):
    client = officer1
    before = _counts(sync_server)
    for path in ("/v1/actions:batch", "/v1/auth/token", "/v1/ingest/fixes"):
        response = client.post(path, content=raw, headers={"content-type": "application/json",
                                                           "X-Gateway-Key": sync_server.gateway_key})
        _assert_error(response)
    assert _counts(sync_server) == before


fix_fields = st.fixed_dictionaries(
    {
        "serial": st.sampled_from(["APP-0100001", "BI-LOC8-0100003", "UNKNOWN-9", ""]),
        "fix_time": st.sampled_from([
            datetime.now(UTC) + timedelta(days=2), datetime(1999, 1, 1, tzinfo=UTC), "not a time",
        ]).map(lambda v: v.isoformat() if isinstance(v, datetime) else v),
        "lat": st.one_of(st.floats(min_value=90.0001, max_value=1e6), st.floats(max_value=-90.0001, min_value=-1e6),
                         st.just("41.9")),
        "lon": st.floats(allow_nan=False, allow_infinity=False),
    },
    optional={"battery_pct": st.integers(-500, 500), "accuracy_m": st.floats(max_value=-0.1, allow_infinity=False), "extra": st.text()},
)


@SETTINGS
@given(fixes=st.lists(fix_fields, min_size=1, max_size=5))
def test_invalid_fixes_never_write(sync_server, fixes):
    before = _counts(sync_server)
    response = httpx.post(
        f"{sync_server.url}/v1/ingest/fixes", json={"fixes": fixes}, headers={"X-Gateway-Key": sync_server.gateway_key}
    )
    if response.status_code == 200:  # well-formed, but every fix refused on its own (unknown, future, too old)
        assert response.json()["accepted"] == 0
    else:
        _assert_error(response)
    assert _counts(sync_server) == before


@SETTINGS
@given(params=st.dictionaries(
    st.sampled_from(["id", "lat", "lon", "timestamp", "speed", "batt", "accuracy", "bearing", "altitude"]),
    st.text(max_size=12), min_size=1))
def test_osmand_fuzz(sync_server, params):
    before = _counts(sync_server)[0]
    if "id" in params:  # a known serial with its key half the time: the parser runs, not only the refusal
        serial = sync_server.seeded["officers"]["officer1"]["serials"][0]
        if len(params["id"]) % 2:
            params = {**params, "id": serial, "key": sync_server.device_keys[serial]}
    response = httpx.get(f"{sync_server.url}/osmand", params=params)
    if response.status_code == 200:  # only a complete, valid ping for a known serial can get here
        assert _counts(sync_server)[0] == before + 1
    else:
        _assert_error(response)
        assert _counts(sync_server)[0] == before


@SETTINGS
@given(cursor=st.text(max_size=8) | st.integers(-5, 2**63), limit=st.text(max_size=6) | st.integers(-5, 10**6))
def test_change_feed_query_fuzz(officer1, cursor, limit):
    response = officer1.get("/v1/sync/changes", params={"cursor": cursor, "limit": limit})
    if response.status_code != 200:
        _assert_error(response)
    else:
        assert json.loads(response.content)["next_cursor"] >= 0


def test_oversized_and_duplicated_bodies(sync_server_factory, client_for):
    server = sync_server_factory(caseload=2, max_body_bytes=10_000)
    client = client_for(server)
    before = _counts(server)
    big = {"actions": [{"id": str(uuid.uuid4()), "kind": "add_note", "target": "p0100001",
                       "payload": {"text": "x" * 20_000}, "created_at": datetime.now(UTC).isoformat()}]}
    declared = client.post("/v1/actions:batch", json=big)
    assert declared.status_code == 413 and _assert_error(declared).error == "body_too_large"

    def chunks():  # no Content-Length: the cap is enforced while reading
        for _ in range(20):
            yield b"x" * 1000

    streamed = client.post("/v1/actions:batch", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert _counts(server) == before
