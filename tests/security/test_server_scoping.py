"""Officer scoping on every route of the reference server (real server over loopback HTTP).

Officer A must get nothing of officer B's caseload: 0 rows in every feed, and 404 (the same
answer as for something that does not exist, never 403, which would confirm it exists) for
every direct reference. The last test lists the server's routes from its OpenAPI document and
fails when a route appears that this file does not cover.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from workstation.protocol import AuditBatch, AuditRecord, GatewayFix

COVERED_ROUTES = {
    ("get", "/healthz"),  # no data
    ("post", "/v1/auth/token"),  # test_tokens_are_bound_to_their_officer
    ("post", "/v1/auth/refresh"),  # test_tokens_are_bound_to_their_officer
    ("post", "/v1/auth/password"),  # test_a_password_change_changes_only_the_callers_password
    ("get", "/v1/sync/changes"),  # test_change_feed_holds_no_row_of_another_caseload
    ("post", "/v1/actions:batch"),  # test_actions_on_another_caseload_are_rejected_like_unknown_targets
    ("get", "/v1/participants/{case_number}"),  # test_detail_and_track_answer_404_like_nonexistent
    ("get", "/v1/participants/{case_number}/track"),  # same
    ("get", "/v1/live"),  # test_live_feed_carries_no_event_of_another_caseload
    ("get", "/osmand"),  # device ingestion: no officer data is returned (test_ingestion_returns_no_caseload)
    ("post", "/osmand"),  # test_osmand_form_post_returns_no_caseload
    ("post", "/v1/ingest/fixes"),  # gateway key, answers counts only
    ("post", "/v1/audit"),  # test_audit_upload_is_filed_under_the_callers_workstation
    ("post", "/v1/admin/revoke-workstation"),  # test_admin_routes_refuse_officer_tokens
    ("put", "/v1/workstation/signing-key"),  # test_signing_keys_are_filed_under_the_callers_workstation
    ("get", "/v1/signing-keys/{fingerprint}"),  # same: by fingerprint only, the key record and nothing else
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from sync_server.embedded import start_server

    server = start_server(
        None, tmp_dir=tmp_path_factory.mktemp("scoping"), officers=2, caseload=4, password="pw"
    )
    tokens = {}
    for name, ws in (("officer1", "ws-A"), ("officer2", "ws-B")):
        r = httpx.post(f"{server.url}/v1/auth/token", json={"username": name, "password": "pw", "workstation_id": ws})
        r.raise_for_status()
        tokens[name] = r.json()
    yield server, tokens
    server.stop()


def _h(tokens, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]['access_token']}"}


def _pull(server, tokens, who: str) -> list[dict]:
    changes, cursor = [], 0
    while True:
        page = httpx.get(
            f"{server.url}/v1/sync/changes", params={"cursor": cursor, "limit": 500}, headers=_h(tokens, who)
        ).json()
        changes += page["changes"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return changes


def _ids(changes: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for change in changes:
        out.setdefault(change["entity"], set()).add(change["id"])
    return out


@pytest.fixture(scope="module")
def b_caseload(world):
    server, tokens = world
    # B writes a note, so every entity type exists in B's caseload
    first = _pull(server, tokens, "officer2")
    target = next(c["id"] for c in first if c["entity"] == "participant")
    batch = {"actions": [_action("add_note", target, {"text": "B's private note"})]}
    r = httpx.post(f"{server.url}/v1/actions:batch", json=batch, headers=_h(tokens, "officer2"))
    assert r.json()["results"][0]["status"] == "applied"
    changes = _pull(server, tokens, "officer2")
    participants = [c["data"] for c in changes if c["entity"] == "participant"]
    assert participants and all(p["officer_id"] == "off2" for p in participants)
    return changes


def test_change_feed_holds_no_row_of_another_caseload(world, b_caseload) -> None:
    server, tokens = world
    mine = _pull(server, tokens, "officer1")
    theirs = _ids(b_caseload)
    assert set(theirs) == {"participant", "device", "zone", "appointment", "alert", "incident", "note"}
    leaked = {entity: ids & theirs.get(entity, set()) for entity, ids in _ids(mine).items()}
    assert sum(len(v) for v in leaked.values()) == 0, leaked
    b_participants = theirs["participant"]
    for change in mine:
        data = change.get("data") or {}
        assert data.get("officer_id", "off1") == "off1"
        assert data.get("participant_id") not in b_participants


def test_detail_and_track_answer_404_like_nonexistent(world, b_caseload) -> None:
    server, tokens = world
    b_cases = [c["data"]["case_number"] for c in b_caseload if c["entity"] == "participant"]
    for path in ("/v1/participants/{}", "/v1/participants/{}/track"):
        missing = httpx.get(server.url + path.format("CHI-0000-NOPE"), headers=_h(tokens, "officer1"))
        assert missing.status_code == 404
        for case_number in b_cases:
            r = httpx.get(server.url + path.format(case_number), headers=_h(tokens, "officer1"))
            assert r.status_code == 404, (path, case_number, r.status_code)
            assert r.json() == missing.json(), "must not reveal that the record exists"
        # and B sees its own: the 404 above is scoping, not a broken route
        assert httpx.get(server.url + path.format(b_cases[0]), headers=_h(tokens, "officer2")).status_code == 200


def _action(kind: str, target: str, payload: dict) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "target": target,
        "payload": payload,
        "created_at": datetime.now(UTC).isoformat(),
    }


def test_actions_on_another_caseload_are_rejected_like_unknown_targets(world, b_caseload) -> None:
    server, tokens = world
    b_participant = next(c["id"] for c in b_caseload if c["entity"] == "participant")
    b_alert = next(c["id"] for c in b_caseload if c["entity"] == "alert")
    now = datetime.now(UTC).isoformat()
    payloads = {
        "add_note": ("participant", {"text": "probe"}),
        "record_contact": ("participant", {"kind": "contact", "outcome": "met", "occurred_at": now}),
        "record_checkin": ("participant", {"kind": "office_checkin", "occurred_at": now}),
        "request_schedule_change": ("participant", {"requested_time": now, "reason": "probe"}),
        "acknowledge_alert": ("alert", {}),
        "resolve_alert": ("alert", {"note": "probe"}),
    }
    notes_before = server.query("select count(*) from note")[0][0]
    alert_before = server.query("select state, version from alert where id = :id", id=b_alert)
    for kind, (target_kind, payload) in payloads.items():
        target = b_participant if target_kind == "participant" else b_alert
        batch = {"actions": [_action(kind, target, payload), _action(kind, "does-not-exist", payload)]}
        r = httpx.post(f"{server.url}/v1/actions:batch", json=batch, headers=_h(tokens, "officer1"))
        assert r.status_code == 200
        foreign, unknown = r.json()["results"]
        assert foreign["status"] == "rejected" == unknown["status"], (kind, foreign)
        assert foreign["reason"] == unknown["reason"] and foreign["current"] is None
    assert server.query("select count(*) from note")[0][0] == notes_before
    assert server.query("select state, version from alert where id = :id", id=b_alert) == alert_before


def _read_live(server, tokens, who: str, until_serial_event: str, stop: threading.Event) -> list[dict]:
    events: list[dict] = []
    with httpx.stream(
        "GET", f"{server.url}/v1/live", params={"after": 0}, headers=_h(tokens, who), timeout=20
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            events.append(event)
            if until_serial_event in line or stop.is_set():
                break
    return events


def test_live_feed_carries_no_event_of_another_caseload(world, b_caseload) -> None:
    server, tokens = world
    a_serial = server.seeded["officers"]["officer1"]["serials"][0]
    b_serial = server.seeded["officers"]["officer2"]["serials"][0]
    b_devices = {c["id"] for c in b_caseload if c["entity"] == "device"}
    b_participants = {c["id"] for c in b_caseload if c["entity"] == "participant"}
    now = datetime.now(UTC)
    # B's device reports first; then A's, whose arrival ends A's read
    server.ingest([GatewayFix(serial=b_serial, fix_time=now, lat=41.88, lon=-87.63, battery_pct=3)])
    server.ingest([GatewayFix(serial=a_serial, fix_time=now, lat=41.89, lon=-87.62)])
    a_device = server.query("select id from device where serial = :s", s=a_serial)[0][0]
    events = _read_live(server, tokens, "officer1", a_device, threading.Event())
    assert any(a_device in json.dumps(e) for e in events)
    for event in events:
        text = json.dumps(event)
        assert not any(d in text for d in b_devices) and not any(p in text for p in b_participants), event


def test_audit_upload_is_filed_under_the_callers_workstation(world) -> None:
    server, tokens = world
    record = AuditRecord(
        seq=1, at=datetime.now(UTC), officer="officer1", workstation_id="ws-B", event="login",
        prev_hash="0" * 64, hash="f" * 64,
    )
    headers = {
        **_h(tokens, "officer1"), "Content-Type": "application/json",
        "X-Workstation-Credential": tokens["officer1"]["workstation_credential"],
    }
    posing = AuditBatch(records=[record.model_copy(update={"officer": "officer2"})]).model_dump_json()
    r = httpx.post(f"{server.url}/v1/audit", content=posing, headers=headers)
    assert r.status_code == 422 and r.json()["error"] == "audit_officer_mismatch"
    r = httpx.post(f"{server.url}/v1/audit", content=AuditBatch(records=[record]).model_dump_json(), headers=headers)
    assert r.status_code == 200
    rows = server.query("select workstation_id, officer_id from audit_upload")
    assert rows == [("ws-A", "off1")], "the record is filed under the token's workstation, not the body's"


def test_tokens_are_bound_to_their_officer(world) -> None:
    server, tokens = world
    r = httpx.post(f"{server.url}/v1/auth/refresh", json={"refresh_token": tokens["officer1"]["refresh_token"]})
    assert r.status_code == 200 and r.json()["officer"]["id"] == "off1"
    tokens["officer1"] = r.json()  # the old refresh token is spent
    wrong = httpx.post(
        f"{server.url}/v1/auth/token", json={"username": "officer2", "password": "nope", "workstation_id": "ws-A"}
    )
    assert wrong.status_code == 401 and "access_token" not in wrong.text


def test_admin_routes_refuse_officer_tokens(world) -> None:
    server, tokens = world
    r = httpx.post(
        f"{server.url}/v1/admin/revoke-workstation", json={"workstation_id": "ws-B"}, headers=_h(tokens, "officer1")
    )
    assert r.status_code == 401
    assert server.query("select revoked_at from workstation where id = 'ws-B'") == [(None,)]


def test_ingestion_returns_no_caseload(world) -> None:
    server, _tokens = world
    serial = server.seeded["officers"]["officer2"]["serials"][1]
    r = httpx.get(f"{server.url}/osmand", params={"id": serial, "lat": 41.9, "lon": -87.6,
                                                  "key": server.device_keys[serial]})
    assert r.status_code == 200 and r.content == b""
    fix = {"fixes": [{"serial": serial, "fix_time": datetime.now(UTC).isoformat(), "lat": 41.9, "lon": -87.6}]}
    r = httpx.post(f"{server.url}/v1/ingest/fixes", json=fix, headers={"X-Gateway-Key": server.gateway_key})
    assert r.status_code == 200 and set(r.json()) == {"accepted", "alerts_raised", "rejected", "results"}
    assert r.json()["results"] == [{"status": "accepted", "error": None, "detail": None}]
    assert httpx.post(f"{server.url}/v1/ingest/fixes", json=fix).status_code == 401


def test_osmand_form_post_returns_no_caseload(world) -> None:
    server, _tokens = world
    serial = server.seeded["officers"]["officer2"]["serials"][1]
    r = httpx.post(f"{server.url}/osmand", data={"id": serial, "lat": "41.9", "lon": "-87.6",
                                                 "key": server.device_keys[serial]})
    assert r.status_code == 200 and r.content == b""


def test_signing_keys_are_filed_under_the_callers_workstation(world) -> None:
    import base64
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    server, tokens = world
    raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    key, fingerprint = base64.b64encode(raw).decode(), hashlib.sha256(raw).hexdigest()
    # the body cannot name a workstation: an extra field is refused, the token decides
    spoof = httpx.put(f"{server.url}/v1/workstation/signing-key", json={"public_key": key, "workstation_id": "ws-B"},
                      headers=_h(tokens, "officer1"))
    assert spoof.status_code == 422
    assert httpx.put(f"{server.url}/v1/workstation/signing-key", json={"public_key": key},
                     headers=_h(tokens, "officer1")).status_code == 200
    taken = httpx.put(f"{server.url}/v1/workstation/signing-key", json={"public_key": key}, headers=_h(tokens, "officer2"))
    assert taken.status_code == 409
    record = httpx.get(f"{server.url}/v1/signing-keys/{fingerprint}").json()
    assert (record["workstation_id"], record["officer_username"]) == ("ws-A", "officer1")
    assert set(record) == {"fingerprint", "algorithm", "public_key", "workstation_id", "officer_username",
                           "registered_at", "workstation_revoked_at"}


def test_every_route_is_covered_here(world) -> None:
    server, _tokens = world
    spec = httpx.get(f"{server.url}/openapi.json").json()
    routes = {(method, path) for path, methods in spec["paths"].items() for method in methods}
    assert routes == COVERED_ROUTES, f"new or removed routes need a scoping test: {routes ^ COVERED_ROUTES}"


def test_a_password_change_changes_only_the_callers_password(sync_server_factory) -> None:
    server = sync_server_factory(officers=2, caseload=1)

    def login(username: str, password: str, ws: str) -> httpx.Response:
        body = {"username": username, "password": password, "workstation_id": ws}
        return httpx.post(f"{server.url}/v1/auth/token", json=body)

    access = login("officer1", "pw", "ws-A").json()["access_token"]
    # the body names no officer: the token's officer is the only one whose password can change
    r = httpx.post(f"{server.url}/v1/auth/password", json={"current_password": "pw", "new_password": "officer1-only"},
                   headers={"Authorization": f"Bearer {access}"})
    assert r.status_code == 200
    assert login("officer2", "pw", "ws-B").status_code == 200
    assert login("officer1", "pw", "ws-A").status_code == 401
