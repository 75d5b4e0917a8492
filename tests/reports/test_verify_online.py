"""verify-packet against the server's record of the key: the real server, and answers it never gives."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from local_db.models import Setting
from tests.reports.seed import CASE, seed_case
from workstation.reports import export, window
from workstation.reports.signing_key import SETTING_KEY, lookup
from workstation.reports.verify import verify_file
from workstation.sync.http import ServerClient

IDENTITY = export.Identity("officer1", "ws-verify-test")


def _sealed(store) -> bytes:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
    seed_case(store, start=start, fixes=30)
    span = window.parse_window(start.isoformat(), (start + timedelta(hours=6)).isoformat(), "UTC")
    return export.generate_packet(store, CASE, span, IDENTITY).data


def _checked(data: bytes, url: str):
    client = ServerClient(url)
    try:
        return verify_file(data, lambda fingerprint: lookup(client, fingerprint))
    finally:
        client.close()


def test_hostile_or_failing_key_server(store, stub):
    data = _sealed(store)
    stub.status, stub.body = 200, b'{"fingerprint": "nope"}'
    result = _checked(data, stub.url)
    assert not result.ok and "could not confirm the key" in result.server_check
    stub.status, stub.body = 503, b'{"error": "database_unavailable", "detail": ""}'
    result = _checked(data, stub.url)
    assert result.ok and result.server_check == "offline"  # the server could not be asked: said so
    seal = verify_file(data).seal
    stub.status, stub.body = 200, json.dumps({
        "fingerprint": seal.key_fingerprint, "public_key": base64.b64encode(seal.public_key).decode(),
        "workstation_id": "ws-someone-else", "officer_username": "officer9", "registered_at": "2026-01-01T00:00:00Z",
    }).encode()
    result = _checked(data, stub.url)
    assert not result.ok and "belongs to workstation ws-someone-else" in result.server_check
    stub.status, stub.body = 404, b'{"error": "not_found", "detail": ""}'
    assert "no record of the key" in _checked(data, stub.url).server_check


def test_a_key_made_offline_is_registered_by_the_next_sync(sync_server_factory, open_session):
    server = sync_server_factory(caseload=1)
    session = open_session(server)

    def forget_registration(db) -> None:  # as if the key had been made in the field, after this login
        row = db.get(Setting, SETTING_KEY)
        row.value = {**row.value, "registered": None}

    session.store.write(forget_registration)
    summary = session.sync_now()
    assert summary.ok
    with session.store.read_session() as db:
        assert db.get(Setting, SETTING_KEY).value["registered"]["server_url"] == server.url
