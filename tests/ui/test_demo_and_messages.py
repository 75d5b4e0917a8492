"""The demo server lifecycle and the login error sentences."""

from __future__ import annotations

import os

import httpx

from local_db.errors import WrongPassword
from ui.login import describe_login_error
from workstation.config import HOME_ENV
from workstation.demo import DemoServer
from workstation.security.lockout import AccountLocked
from workstation.sync.errors import AuthRequired, ServerUnreachable


def test_demo_server_starts_seeded_on_loopback_and_cleans_up(monkeypatch):
    monkeypatch.delenv(HOME_ENV, raising=False)
    demo = DemoServer(caseload=15, simulate=False).start()
    try:
        assert demo.url.startswith("http://127.0.0.1:")
        assert httpx.get(demo.url + "/healthz", timeout=5).status_code == 200
        home = demo.home
        assert home is not None and home.is_dir() and os.environ[HOME_ENV] == str(home)
        token = httpx.post(demo.url + "/v1/auth/token", timeout=10, json={
            "username": "officer1", "password": demo.password, "workstation_id": "ws-demo-test"})
        assert token.status_code == 200
    finally:
        demo.stop()
    assert not home.exists() and HOME_ENV not in os.environ
    try:
        httpx.get(demo.url + "/healthz", timeout=1)
        raise AssertionError("the demo server still answers after stop()")
    except httpx.HTTPError:
        pass


def test_login_error_sentences():
    url = "https://agency.example"
    assert "Wrong password" in describe_login_error(WrongPassword("x"), url)
    assert "refused this username or password" in describe_login_error(AuthRequired("401"), url)
    assert "Cannot reach the server at https://agency.example" in describe_login_error(ServerUnreachable("down"), url)
    assert "locked after repeated failed sign-ins" in describe_login_error(AccountLocked("5 failures"), url)
