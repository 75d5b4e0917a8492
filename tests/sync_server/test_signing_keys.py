"""Report-signing keys on the server: registered by a logged-in workstation, looked up by fingerprint."""

from __future__ import annotations

import base64
import hashlib

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.sync_server.conftest import login


def _public_key() -> tuple[str, str]:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    return base64.b64encode(raw).decode(), hashlib.sha256(raw).hexdigest()


def test_register_then_look_up_by_fingerprint(sync_server_factory, db_url):
    server = sync_server_factory(caseload=1, db_url=db_url)
    key, fingerprint = _public_key()
    client = login(server, workstation_id="ws-sign-a")
    first = client.put("/v1/workstation/signing-key", json={"public_key": key})
    again = client.put("/v1/workstation/signing-key", json={"public_key": key, "algorithm": "ed25519"})
    client.close()
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json()  # idempotent: the first registration time stays
    record = httpx.get(f"{server.url}/v1/signing-keys/{fingerprint}").json()  # no login needed
    assert record["workstation_id"] == "ws-sign-a" and record["officer_username"] == "officer1"
    assert record["public_key"] == key and record["workstation_revoked_at"] is None

    server.admin_revoke("ws-sign-a")
    assert httpx.get(f"{server.url}/v1/signing-keys/{fingerprint}").json()["workstation_revoked_at"] is not None


def test_hostile_input_is_a_clear_4xx_and_changes_nothing(sync_server_factory):
    server = sync_server_factory(caseload=1)
    key, fingerprint = _public_key()
    assert httpx.put(f"{server.url}/v1/workstation/signing-key", json={"public_key": key}).status_code == 401
    client = login(server, workstation_id="ws-sign-b")
    for body in ({"public_key": "not base64"}, {"public_key": key, "algorithm": "rsa"}, {}, {"public_key": key[:-2]}):
        response = client.put("/v1/workstation/signing-key", json=body)
        assert response.status_code == 422 and response.json()["error"] == "invalid_request", body
    assert client.put("/v1/workstation/signing-key", json={"public_key": key}).status_code == 200
    client.close()
    other = login(server, workstation_id="ws-sign-c")
    stolen = other.put("/v1/workstation/signing-key", json={"public_key": key})
    other.close()
    assert stolen.status_code == 409 and stolen.json()["error"] == "key_conflict"
    assert httpx.get(f"{server.url}/v1/signing-keys/{fingerprint}").json()["workstation_id"] == "ws-sign-b"
    assert httpx.get(f"{server.url}/v1/signing-keys/{'0' * 64}").status_code == 404
    assert httpx.get(f"{server.url}/v1/signing-keys/NOT-HEX").status_code == 422
