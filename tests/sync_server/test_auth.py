"""Login, lockout, token refresh/expiry and workstation revocation over real HTTP."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx

from sync_server import totp
from sync_server.__main__ import main as cli
from sync_server.login_throttle import LoginThrottle
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


def _refresh(server, token: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/auth/refresh", json={"refresh_token": token})


def _changes(server, access: str) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/sync/changes", headers={"Authorization": f"Bearer {access}"})


def test_lockout_blocks_password_logins_only_and_answers_like_a_wrong_password(sync_server_factory, db_url):
    server = sync_server_factory(caseload=1, db_url=db_url, lockout_s=1, login_free_failures=100)
    session = _token(server, "pw").json()
    unknown = _token(server, "pw", username="nobody")
    assert unknown.status_code == 401
    for _ in range(5):
        wrong = _token(server, "wrong")
        assert (wrong.status_code, wrong.json()) == (401, unknown.json())
    # locked: the right password gets the very same answer, so an attacker learns nothing
    locked = _token(server, "pw")
    assert (locked.status_code, locked.json()) == (401, unknown.json())
    # the officer's running session is not cut off: refresh and requests keep working
    refreshed = _refresh(server, session["refresh_token"])
    assert refreshed.status_code == 200
    assert _changes(server, refreshed.json()["access_token"]).status_code == 200
    # an administrator releases it at once; otherwise it ends by itself after lockout_s
    assert cli(["unlock", "officer1", "--db", server.db_url]) == 0
    assert _token(server, "pw").status_code == 200
    assert cli(["unlock", "ghost", "--db", server.db_url]) == 1
    for _ in range(5):
        _token(server, "wrong")
    assert _token(server, "pw").status_code == 401
    time.sleep(1.2)
    assert _token(server, "pw").status_code == 200


def test_failed_logins_from_one_address_are_delayed_progressively(sync_server_factory):
    server = sync_server_factory(caseload=1, login_free_failures=2)
    assert [_token(server, "wrong", username=f"guess{i}").status_code for i in range(2)] == [401, 401]
    slowed = _token(server, "pw")  # even the right password waits: the address is being braked
    assert slowed.status_code == 429 and slowed.json()["error"] == "too_many_attempts"
    assert slowed.headers["Retry-After"] == "1"
    throttle = LoginThrottle(free_failures=2, clock=lambda: now)
    now = 0.0
    for _ in range(6):
        throttle.failed("10.0.0.1")
    assert [throttle.retry_after("10.0.0.1"), throttle.retry_after("10.0.0.2")] == [16, 0]
    now = 16.0
    assert throttle.retry_after("10.0.0.1") == 0
    for _ in range(20):
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 60  # capped
    throttle.succeeded("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0


def test_disable_stops_everything_of_an_officer_and_enable_restores_it(sync_server_factory, db_url):
    server = sync_server_factory(officers=2, caseload=1, db_url=db_url)
    mine, theirs = _token(server, "pw").json(), _token(server, "pw", username="officer2", ws="ws-b").json()
    assert cli(["disable", "officer1", "--db", server.db_url]) == 0
    denied = _changes(server, mine["access_token"])
    assert denied.status_code == 401 and denied.json()["error"] == "account_disabled"
    assert _refresh(server, mine["refresh_token"]).status_code == 401
    assert _token(server, "pw").json()["error"] == "invalid_credentials"
    assert _changes(server, theirs["access_token"]).status_code == 200  # only that officer
    assert cli(["enable", "officer1", "--db", server.db_url]) == 0
    assert _changes(server, mine["access_token"]).status_code == 200
    assert _token(server, "pw").status_code == 200
    assert cli(["disable", "ghost", "--db", server.db_url]) == 1


def test_a_reused_refresh_token_revokes_its_whole_family(sync_server_factory, db_url):
    server = sync_server_factory(caseload=1, db_url=db_url)
    first, other = _token(server, "pw").json(), _token(server, "pw", ws="ws-b").json()
    stolen = first["refresh_token"]
    rotated = _refresh(server, stolen).json()  # the thief (or the officer) uses it first
    reused = _refresh(server, stolen)
    assert reused.status_code == 401 and reused.json()["error"] == "refresh_reused"
    # everything descended from that login is gone: the rotated pair and the original access token
    assert _refresh(server, rotated["refresh_token"]).status_code == 401
    for access in (rotated["access_token"], first["access_token"]):
        assert _changes(server, access).json()["error"] == "invalid_token"
    # another login of the same officer is another family and keeps working
    assert _changes(server, other["access_token"]).status_code == 200
    assert _refresh(server, other["refresh_token"]).status_code == 200


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


def test_password_change_route_changes_the_server_credential(sync_server_factory, db_url):
    server = sync_server_factory(caseload=1, db_url=db_url)
    access = _token(server, "pw").json()["access_token"]
    elsewhere = _token(server, "pw", ws="ws-b").json()

    def change(current: str, new: str, token: str = access) -> httpx.Response:
        return httpx.post(f"{server.url}/v1/auth/password", json={"current_password": current, "new_password": new},
                          headers={"Authorization": f"Bearer {token}"})

    assert change("pw", "a-new-passphrase", token="nope").status_code == 401
    wrong = change("not-pw", "a-new-passphrase")
    assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_password"
    assert server.query("select count(*) from login_failure") == [(1,)], "a wrong current password counts"
    assert change("pw", "short").status_code == 422
    assert change("pw", "pw").status_code == 422
    assert change("pw", "a-new-passphrase").json() == {"changed": True}
    assert _token(server, "pw").status_code == 401
    assert _token(server, "a-new-passphrase").status_code == 200
    assert _changes(server, access).status_code == 200  # the session that changed it goes on
    # every other session of the officer ends with the old password
    assert _changes(server, elsewhere["access_token"]).status_code == 401
    assert _refresh(server, elsewhere["refresh_token"]).status_code == 401


def test_totp_mfa_is_enforced_when_enrolled_and_codes_are_single_use(sync_server_factory, db_url, capsys):
    server = sync_server_factory(caseload=1, db_url=db_url, login_free_failures=100)
    assert cli(["mfa", "enrol", "officer1", "--db", server.db_url]) == 0
    uri = json.loads(capsys.readouterr().out)["otpauth"]
    assert uri.startswith("otpauth://totp/Field%20Workstation%3Aofficer1?")
    secret = parse_qs(urlsplit(uri).query)["secret"][0]

    def login(password: str, code: str | None) -> httpx.Response:
        body = {"username": "officer1", "password": password, "workstation_id": "ws-a", "one_time_code": code}
        return httpx.post(f"{server.url}/v1/auth/token", json=body)

    assert login("pw", None).json()["error"] == "mfa_required"
    code = totp.code_at(secret, totp.step_of(time.time()))
    # a wrong password never reveals that a code would be asked for
    assert login("wrong", code).json()["error"] == "invalid_credentials"
    wrong_code = f"{(int(code) + 1) % 10**6:06d}"
    assert login("pw", wrong_code).json()["error"] == "mfa_invalid"
    assert login("pw", code).status_code == 200
    assert login("pw", code).json()["error"] == "mfa_invalid"  # the same code cannot be replayed
    assert cli(["mfa", "remove", "officer1", "--db", server.db_url]) == 0
    assert login("pw", None).status_code == 200
    assert cli(["mfa", "enrol", "ghost", "--db", server.db_url]) == 1


def test_totp_codes_match_the_rfc_6238_vectors():
    secret = base64.b32encode(b"12345678901234567890").decode()
    # RFC 6238 appendix B (SHA-1), last 6 of the 8 digits
    for unix_time, expected in ((59, "287082"), (1111111109, "081804"), (1234567890, "005924")):
        assert totp.code_at(secret, totp.step_of(unix_time)) == expected
        assert totp.matching_step(secret, expected, unix_time, None) == totp.step_of(unix_time)
        assert totp.matching_step(secret, expected, unix_time, totp.step_of(unix_time)) is None
