"""Payloads the real server never sends (malformed pages, 5xx, revocation) come from a tiny real HTTP
stub on loopback: that boundary cannot be reached through the reference server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from local_db.models import Device, Participant, SyncJournal, SyncState
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


def page(*changes, next_cursor: int) -> bytes:
    return json.dumps({"changes": list(changes), "next_cursor": next_cursor, "has_more": False}).encode()


def test_a_case_number_held_locally_by_another_id_is_taken_over_by_the_server_row(stub, stub_client):
    """The server is the system of record for natural keys: a stale local holder of the case number (whose
    tombstone this store never saw) is purged instead of the sync stalling on that page forever."""
    session, client = stub_client
    stub.body = page(GOOD, next_cursor=1)
    pull(session.store, client)
    renumbered = {**GOOD, "id": "p9", "data": {**GOOD["data"], "id": "p9"}}  # same case number C-1, new id
    stub.body = page(renumbered, next_cursor=2)
    result = pull(session.store, client)
    assert result.purged_participants == 1
    with session.store.read_session() as db:
        assert [(r.id, r.case_number) for r in db.scalars(select(Participant))] == [("p9", "C-1")]
    assert cursor_of(session.store) == 2


def test_two_rows_of_one_page_claiming_one_case_number_reject_the_page(stub, stub_client):
    session, client = stub_client
    twin = {**GOOD, "id": "p9", "data": {**GOOD["data"], "id": "p9"}}
    stub.body = page(GOOD, twin, next_cursor=1)
    with pytest.raises(PageRejected, match="conflicts with stored rows"):
        pull(session.store, client)
    with session.store.read_session() as db:
        assert db.scalar(select(func.count()).select_from(Participant)) == 0
    assert cursor_of(session.store) == 0


def test_a_device_serial_moved_to_a_new_device_id_replaces_the_stale_device(stub, stub_client):
    session, client = stub_client
    device = {"entity": "device", "id": "d1", "op": "upsert", "version": 1,
              "data": {"id": "d1", "participant_id": "p1", "kind": "ankle", "serial": "SN-1"}}  # fmt: skip
    stub.body = page(GOOD, device, next_cursor=1)
    pull(session.store, client)
    replacement = {**device, "id": "d2", "data": {**device["data"], "id": "d2"}}
    stub.body = page(replacement, next_cursor=2)
    pull(session.store, client)
    with session.store.read_session() as db:
        assert [(d.id, d.serial) for d in db.scalars(select(Device))] == [("d2", "SN-1")]
        assert db.scalar(select(func.count()).select_from(Participant)) == 1


def test_a_live_answer_that_is_no_event_stream_is_retried_and_applies_nothing(stub, stub_client, caplog):
    from tests.workstation.test_session import wait_for
    from workstation.sync.backoff import Backoff
    from workstation.sync.live import LiveFeed

    session, client = stub_client
    stub.body = json.dumps({"seq": 9, "type": "heartbeat"}).encode()  # JSON, not text/event-stream
    feed = LiveFeed(session.store, client, backoff=Backoff(base_s=0.05, cap_s=0.1))
    feed.start()
    try:
        wait_for(lambda: sum(path.startswith("/v1/live") for path in stub.requests) >= 2)  # retried
        assert feed.running and feed.events_received == 0
    finally:
        feed.stop()
    assert not any(r.exc_info for r in caplog.records), "logged as a disconnection, not a crash"
    with session.store.read_session() as db:
        assert not db.get(SyncState, 1).live_seq
