"""Audit chain upload to the real reference server: acknowledged, idempotent, breaks reported."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from local_db import audit
from workstation.auth import login
from workstation.security.audit_upload import (
    AUDIT_PATH,
    acked_seq,
    credential_headers,
    to_record,
    upload_audit,
)
from workstation.sync.errors import WorkstationRevoked
from workstation.sync.http import ServerClient


@pytest.fixture
def online(sync_server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    client = ServerClient(sync_server.url)
    result = login(home, "officer1", "pw", client, workstation_id="ws-audit")
    yield sync_server, result.store, client
    result.store.close()
    client.close()


def _server_rows(server) -> list[dict]:
    rows = server.query("select record from audit_upload where workstation_id = 'ws-audit' order by seq")
    return [json.loads(r[0]) for r in rows]


def test_rows_are_uploaded_once_and_acknowledged(online) -> None:
    server, store, client = online
    for i in range(5):
        audit.audit(store, "view_participant", f"participant:p01{i}")
    result = upload_audit(store, client, batch_size=2)
    assert result.chain_ok and result.sent == 6 and result.acknowledged_through == 6  # login + 5
    uploaded = _server_rows(server)
    assert [r["seq"] for r in uploaded] == list(range(1, 7))
    assert uploaded[1]["event"] == "view_participant" and uploaded[1]["workstation_id"] == "ws-audit"
    with store.read_session() as s:
        assert acked_seq(s) == 6
    # a second sync sends nothing; a replayed batch (lost ack) is stored once
    assert upload_audit(store, client).sent == 0
    with store.read_session() as s:
        replay = [to_record(r).model_dump(mode="json") for r in audit.unsent_rows(s, 0, 10)]
        headers = credential_headers(s)
    client.post_json(AUDIT_PATH, {"records": replay}, headers=headers)
    assert len(_server_rows(server)) == 6


def test_a_broken_chain_is_reported_to_the_server(online) -> None:
    server, store, client = online
    audit.audit(store, "view_participant", "participant:p0100001")
    audit.audit(store, "export", "participant:p0100001")

    def tamper(session) -> None:
        session.execute(text("DROP TRIGGER audit_event_no_update"))
        session.execute(text("UPDATE audit_event SET event = 'search' WHERE seq = 3"))

    store.write(tamper)
    result = upload_audit(store, client)
    assert not result.chain_ok and result.broken_at == 3
    uploaded = _server_rows(server)
    assert uploaded[-1]["event"] == "audit_chain_break"
    assert json.loads(uploaded[-1]["detail"])["broken_at"] == 3
    assert upload_audit(store, client).sent == 0, "the same break is reported once"


def test_a_revoked_workstation_gets_the_wipe_answer(online) -> None:
    server, store, client = online
    audit.audit(store, "search", "caseload")
    server.admin_revoke("ws-audit")
    with pytest.raises(WorkstationRevoked):
        upload_audit(store, client)


def test_each_sync_uploads_the_chain_and_actions_are_audited_with_their_effect(online) -> None:
    from workstation import actions
    from workstation.sync.engine import SyncEngine

    server, store, client = online
    engine = SyncEngine(store, client)
    assert engine.sync().ok
    with store.read_session() as s:
        pid = s.execute(text("SELECT id FROM participant ORDER BY id LIMIT 1")).scalar()
    action_id = actions.add_note(store, pid, "visited, all well")
    summary = engine.sync()
    assert summary.ok and summary.audit_error is None
    events = [(r["event"], r["object"], r["detail"]) for r in _server_rows(server)]
    assert events[0][0] == "login" and ("sync", client.base_url) in [(e, o) for e, o, _ in events]
    assert ("action", f"add_note:{pid}", action_id) in events
    with store.read_session() as s:
        local = s.execute(text("SELECT event FROM audit_event ORDER BY seq")).scalars().all()
    assert local[-1] == "sync" and acked_seq_of(store) == len(local) - 1  # the last sync row goes next time


def acked_seq_of(store) -> int:
    with store.read_session() as s:
        return acked_seq(s)


def _rewrite_history(session) -> None:
    """What someone with the key and a SQL shell can do: edit row 2 and re-hash every row after it,
    so the local chain verifies again."""
    from sqlalchemy import select

    from local_db.models import AuditEvent

    session.execute(text("DROP TRIGGER audit_event_no_update"))
    prev = audit.GENESIS_HASH
    for row in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
        if row.seq == 2:
            row.object = "participant:someone-else"
        row.prev_hash = prev
        row.hash = audit._hash_of(row)
        prev = row.hash


def test_the_server_finds_a_rewritten_history_the_local_check_cannot(online) -> None:
    server, store, client = online
    for i in range(3):
        audit.audit(store, "view_participant", f"participant:p01{i}")
    assert upload_audit(store, client).sent == 4
    store.write(_rewrite_history)
    with store.read_session() as s:
        assert audit.verify_chain(s).ok, "the rewritten chain verifies locally"
    audit.audit(store, "search", "caseload")  # row 5 links to the rewritten row 4

    result = upload_audit(store, client)
    assert result.chain_ok and result.server_broken_at == 5
    assert "row 5's prev_hash is not the hash of row 4" in result.problem()
    assert server.query("select seq, reason from audit_chain_break where workstation_id = 'ws-audit'") == [
        (5, "row 5's prev_hash is not the hash of row 4")
    ]
    # the client recorded the server's report in its own chain; it went up with the same upload
    uploaded = _server_rows(server)
    assert [r["seq"] for r in uploaded] == [1, 2, 3, 4, 5, 6]
    assert uploaded[1]["object"] == "participant:p010", "the server's copy was not overwritten"
    assert uploaded[-1]["event"] == "audit_chain_break" and uploaded[-1]["object"] == "server:audit_event:5"
    assert json.loads(uploaded[-1]["detail"])["reported_by"] == "server"
    # the break row continues the chain the server now holds: nothing more to report
    audit.audit(store, "search", "caseload")
    again = upload_audit(store, client)
    assert again.sent == 1 and again.problem() is None


def test_the_server_reports_a_gap_and_a_row_that_differs_from_its_copy(online) -> None:
    from workstation.protocol import AuditAck

    server, store, client = online
    for i in range(4):
        audit.audit(store, "view_participant", f"participant:p01{i}")
    with store.read_session() as s:
        rows = [to_record(r).model_dump(mode="json") for r in audit.unsent_rows(s, 0, 10)]
        headers = credential_headers(s)
    ack = AuditAck.model_validate_json(client.post_json(AUDIT_PATH, {"records": rows[:2]}, headers=headers).content)
    assert ack.chain_ok and ack.acknowledged_through == 2

    # rows 3 never arrive (an acknowledged seq moved forward by hand, a lost batch): a gap
    ack = AuditAck.model_validate_json(client.post_json(AUDIT_PATH, {"records": rows[3:]}, headers=headers).content)
    assert (ack.chain_ok, ack.broken_at, ack.reason) == (False, 4, "gap: rows 3..3 never reached the server")
    assert ack.acknowledged_through == 5, "the rows are stored and acknowledged all the same"

    # row 1 again with another content: refused as a copy, reported as a break
    forged = rows[0] | {"object": "nothing", "hash": "f" * 64}
    ack = AuditAck.model_validate_json(client.post_json(AUDIT_PATH, {"records": [forged]}, headers=headers).content)
    assert (ack.chain_ok, ack.broken_at) == (False, 1) and "differs from the copy" in ack.reason
    assert _server_rows(server)[0]["object"] == rows[0]["object"]

    # an honest replay of rows the server holds is fine
    ack = AuditAck.model_validate_json(client.post_json(AUDIT_PATH, {"records": rows[:2]}, headers=headers).content)
    assert ack.chain_ok
    assert server.query("select seq from audit_chain_break where workstation_id = 'ws-audit' order by seq") == [
        (1,), (4,)
    ]
