"""Helpers for the server's own tests: logged-in HTTP clients and the database matrix.

`db_url` runs a test on a fresh SQLite file always, and on a fresh PostgreSQL database when
TEST_POSTGRES_URL points at a server (marker `postgres`; skipped when absent).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from sync_server.cluster.launcher import fresh_database


def login(server, username: str = "officer1", password: str = "pw", workstation_id: str = "ws-test") -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    response = client.post(
        "/v1/auth/token", json={"username": username, "password": password, "workstation_id": workstation_id}
    )
    assert response.status_code == 200, response.text
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    if credential := response.json().get("workstation_credential"):
        client.headers["X-Workstation-Credential"] = credential
    return client


def pull_all(client: httpx.Client, cursor: int = 0, limit: int = 1000) -> tuple[list[dict], int]:
    changes: list[dict] = []
    while True:
        page = client.get("/v1/sync/changes", params={"cursor": cursor, "limit": limit})
        assert page.status_code == 200, page.text
        body = page.json()
        changes.extend(body["changes"])
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return changes, cursor


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def action(kind: str, target: str, payload: dict, base_version: int | None = None, action_id=None) -> dict:
    return {
        "id": str(action_id or uuid.uuid4()),
        "kind": kind,
        "target": target,
        "base_version": base_version,
        "payload": payload,
        "created_at": now_iso(),
    }


@pytest.fixture
def client_for():
    """login(server, ...) that closes its clients at teardown."""
    clients: list[httpx.Client] = []

    def make(server, **kwargs) -> httpx.Client:
        client = login(server, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> Iterator[str | None]:
    """None means the factory's default fresh SQLite file; for postgres a fresh database."""
    if request.param == "sqlite":
        yield None
        return
    admin_url = os.environ.get("TEST_POSTGRES_URL")
    if not admin_url:
        pytest.skip("TEST_POSTGRES_URL is not set")
    with fresh_database(admin_url, "fw_test") as url:
        yield url
