"""Login, lockout, token refresh/expiry and workstation revocation over real HTTP."""

from __future__ import annotations

import httpx

from sync_server.__main__ import main as cli
from tests.sync_server.conftest import login


def _token(server, password: str, username: str = "officer1", ws: str = "ws-a") -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/auth/token", json={"username": username, "password": password, "workstation_id": ws}
    )


def test_login_refresh_and_bearer_checks(sync_server_factory, db_url):
    server = sync_server_factory(caseload=3, db_url=db_url)
    ok = _token(server, "pw")
    assert ok.status_code == 200
    body = ok.json()
    assert body["officer"]["username"] == "officer1" and body["expires_in"] > 0
    # the password is stored as a salted scrypt hash, never in clear
    (stored,) = server.query("select password_hash from officer where username = 'officer1'")[0]
    assert stored.startswith("scrypt$") and "pw" not in stored.split("$")

    changes = httpx.get(f"{server.url}/v1/sync/changes", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert changes.status_code == 200
    for header in ({}, {"Authorization": "Bearer nope"}, {"Authorization": body["access_token"]}):
        denied = httpx.get(f"{server.url}/v1/sync/changes", headers=header)
        assert denied.status_code == 401 and denied.json()["wipe"] is False

    refreshed = httpx.post(f"{server.url}/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200
    # rotation: the old refresh token is spent
    again = httpx.post(f"{server.url}/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert again.status_code == 401
    assert httpx.post(f"{server.url}/v1/auth/refresh", json={"refresh_token": "x"}).status_code == 401


def test_unknown_user_and_wrong_password_are_401(sync_server):
    assert _token(sync_server, "pw", username="nobody").status_code == 401
    wrong = _token(sync_server, "wrong")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"


def test_five_failures_lock_until_admin_unlocks(sync_server):
    statuses = [_token(sync_server, "wrong").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    # locked: even the right password is refused
    assert _token(sync_server, "pw").status_code == 423
    assert cli(["unlock", "officer1", "--db", sync_server.db_url]) == 0
    assert _token(sync_server, "pw").status_code == 200
    assert cli(["unlock", "ghost", "--db", sync_server.db_url]) == 1


def test_expired_access_token_is_401(sync_server_factory):
    server = sync_server_factory(caseload=2, access_ttl_s=0)
    token = _token(server, "pw").json()["access_token"]
    response = httpx.get(f"{server.url}/v1/sync/changes", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["error"] == "token_expired"


def test_revoked_workstation_is_told_to_wipe(sync_server_factory, db_url):
    server = sync_server_factory(caseload=2, db_url=db_url)
    client = login(server, workstation_id="ws-lost")
    assert client.get("/v1/sync/changes").status_code == 200
    assert server.admin_revoke("ws-lost")["newly_revoked"] is True
    for response in (client.get("/v1/sync/changes"), _token(server, "pw", ws="ws-lost")):
        assert response.status_code == 403
        assert response.json() == {
            "error": "workstation_revoked",
            "detail": "this workstation was revoked; wipe local data",
            "wipe": True,
        }
    # other workstations of the same officer keep working
    assert login(server, workstation_id="ws-other").get("/v1/sync/changes").status_code == 200
    client.close()


def test_admin_endpoint_needs_the_admin_key(sync_server):
    url = f"{sync_server.url}/v1/admin/revoke-workstation"
    assert httpx.post(url, json={"workstation_id": "w"}).status_code == 401
    assert httpx.post(url, json={"workstation_id": "w"}, headers={"X-Admin-Key": "guess"}).status_code == 401
    assert sync_server.query("select count(*) from workstation where id = 'w'") == [(0,)]
    assert cli(["revoke-workstation", "w", "--db", sync_server.db_url]) == 0
    assert sync_server.query("select count(*) from workstation where id = 'w' and revoked_at is not null") == [(1,)]
