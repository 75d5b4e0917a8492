"""Enrolment binds a workstation id to its officer, and audit uploads to the workstation's credential."""

from __future__ import annotations

import hashlib

import httpx

from tests.sync_server.conftest import now_iso


def _login(server, username: str, ws: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/auth/token", json={"username": username, "password": "pw", "workstation_id": ws}
    )


def _chain(n: int, officer: str = "officer1") -> list[dict]:
    rows, prev = [], "0" * 64
    for seq in range(1, n + 1):
        digest = hashlib.sha256(f"{prev}{seq}".encode()).hexdigest()
        rows.append({"seq": seq, "at": now_iso(), "officer": officer, "workstation_id": "ignored",
                     "event": "login", "prev_hash": prev, "hash": digest})
        prev = digest
    return rows


def test_a_workstation_is_bound_to_its_officer_and_audit_needs_its_credential(sync_server_factory, db_url):
    server = sync_server_factory(officers=2, caseload=1, db_url=db_url)
    enrolled = _login(server, "officer1", "ws-a").json()
    credential = enrolled["workstation_credential"]
    assert credential and server.query("select credential_hash from workstation where id = 'ws-a'") == [
        (hashlib.sha256(credential.encode()).hexdigest(),)
    ], "only the credential's digest is stored"
    # handed out once: later logins of the same officer do not repeat it
    assert _login(server, "officer1", "ws-a").json()["workstation_credential"] is None
    # another officer cannot claim that workstation id
    claimed = _login(server, "officer2", "ws-a")
    assert claimed.status_code == 403 and claimed.json()["error"] == "workstation_enrolled_elsewhere"

    def upload(token: dict, records: list[dict], credential: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        if credential is not None:
            headers["X-Workstation-Credential"] = credential
        return httpx.post(f"{server.url}/v1/audit", json={"records": records}, headers=headers)

    for wrong in (None, "guess", ""):
        refused = upload(enrolled, _chain(1), wrong)
        assert refused.status_code == 403 and refused.json()["error"] == "workstation_credential_invalid"
    # the officer's token from another workstation cannot use ws-a's credential either
    elsewhere = _login(server, "officer1", "ws-b").json()
    assert upload(elsewhere, _chain(1), credential).status_code == 403
    posing = upload(enrolled, _chain(2)[:1] + _chain(2, officer="officer2")[1:], credential)
    assert posing.status_code == 422 and posing.json()["error"] == "audit_officer_mismatch"
    assert server.query("select count(*) from audit_upload") == [(0,)]
    # the right credential and rows naming the token's officer, even out of order and with a repeat
    rows = _chain(3)
    ack = upload(enrolled, [rows[2], rows[0], rows[1], rows[0]], credential)
    assert ack.status_code == 200 and ack.json()["chain_ok"] is False  # the repeat is reported
    assert server.query("select seq from audit_upload where workstation_id = 'ws-a' order by seq") == [(1,), (2,), (3,)]
    in_order = upload(enrolled, [rows[2], rows[1]], credential).json()
    assert in_order["chain_ok"] is True and in_order["acknowledged_through"] == 3
