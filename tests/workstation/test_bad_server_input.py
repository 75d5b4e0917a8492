"""Payloads the real server never sends (malformed pages, 5xx, revocation) come from a tiny real HTTP
stub on loopback: that boundary cannot be reached through the reference server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from local_db.models import Participant, SyncJournal, SyncState
from workstation.sync.engine import SyncEngine
from workstation.sync.errors import PageRejected
from workstation.sync.http import ServerClient
from workstation.sync.pull import pull

GOOD = {
    "entity": "participant", "id": "p1", "op": "upsert", "version": 1,
    "data": {"id": "p1", "case_number": "C-1", "first_name": "A", "last_name": "B", "dob": "1990-01-01",
             "officer_id": "off1"},
}  # fmt: skip
BAD = {**GOOD, "id": "p2", "data": {**GOOD["data"], "id": "p2", "case_number": "C-2", "home_lat": 999.0}}


class Stub:
    def __init__(self) -> None:
        self.status = 200
        self.body = b"{}"
        self.requests: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                stub.requests.append(self.path)
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(stub.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(stub.body)))
                self.end_headers()
                self.wfile.write(stub.body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.stop()


@pytest.fixture
def stub_client(stub, sync_server_factory, open_session):
    """A logged-in session (created against the real server), and a client of the stub with its tokens."""
    session = open_session(sync_server_factory(caseload=2))
    client = ServerClient(stub.url, tokens=session.auth)
    yield session, client
    client.close()


def cursor_of(store) -> int:
    with store.read_session() as db:
        return db.get(SyncState, 1).cursor


def test_a_page_failing_validation_is_rejected_whole(stub, stub_client):
    session, client = stub_client
    stub.body = json.dumps({"changes": [GOOD, BAD], "next_cursor": 2, "has_more": False}).encode()
    with pytest.raises(PageRejected) as caught:
        pull(session.store, client)
    assert "cursor 0" in str(caught.value) and "home_lat" in str(caught.value)
    assert caught.value.cursor == 0
    with session.store.read_session() as db:
        assert db.scalar(select(func.count()).select_from(Participant)) == 0  # not even the good row
    assert cursor_of(session.store) == 0

    # the engine reports it and keeps running; a later good page is applied
    engine = SyncEngine(session.store, client)
    summary = engine.sync()
    assert not summary.ok and summary.error_kind == "PageRejected" and not summary.retryable
    stub.body = json.dumps({"changes": [GOOD], "next_cursor": 1, "has_more": False}).encode()
    assert engine.sync().ok
    assert cursor_of(session.store) == 1
    with session.store.read_session() as db:
        outcomes = [row.outcome for row in db.scalars(select(SyncJournal).order_by(SyncJournal.id))]
    assert outcomes[-2:] == ["failed", "ok"]


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"changes": [], "next_cursor": 5, "has_more": false, "extra": 1}',
     json.dumps({"changes": [{**GOOD, "entity": "spaceship"}], "next_cursor": 1, "has_more": False}).encode()],
)  # fmt: skip
def test_garbage_pages_change_nothing(stub, stub_client, body):
    session, client = stub_client
    stub.body = body
    summary = SyncEngine(session.store, client).sync()
    assert not summary.ok and summary.error_kind == "PageRejected"
    assert cursor_of(session.store) == 0


def test_a_5xx_is_retryable_and_loses_nothing(stub, stub_client):
    from workstation import actions

    session, client = stub_client
    assert session.sync_now().ok  # the real server's caseload
    case = session.outbox() or None
    assert case is None
    with session.store.read_session() as db:
        number = db.scalars(select(Participant.case_number)).first()
    action_id = actions.add_note(session.store, number, "written while the server is down")
    stub.status, stub.body = 503, b'{"error": "unavailable", "detail": "maintenance"}'
    summary = SyncEngine(session.store, client).sync()
    assert not summary.ok and summary.retryable and "503" in summary.error
    (row,) = session.outbox()
    assert row["id"] == action_id and row["state"] == "sending" and "maintenance" in row["last_error"]
    assert session.sync_now().ok  # the real server again: the action goes through
    assert session.outbox()[0]["state"] == "done"


def test_revocation_is_reported(stub, stub_client):
    session, client = stub_client
    stub.status, stub.body = 403, b'{"error": "workstation_revoked", "detail": "stolen laptop", "wipe": true}'
    summary = SyncEngine(session.store, client).sync()
    assert summary.revoked and not summary.ok and "stolen laptop" in summary.error
