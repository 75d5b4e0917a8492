"""The audit chain in a real encrypted store: append, verify, tamper detection, fail closed."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from local_db import audit
from local_db.models import AuditEvent


def _rows(store) -> list[AuditEvent]:
    with store.read_session() as session:
        rows = list(session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars())
        session.expunge_all()  # keep the loaded values after the read session rolls back
        return rows


def _verify(store) -> audit.ChainReport:
    with store.read_session() as session:
        return audit.verify_chain(session)


def test_rows_chain_and_carry_the_au3_fields_with_millisecond_utc(store) -> None:
    audit.set_context(store, "officer.a", "ws-17")
    before = datetime.now(UTC).replace(tzinfo=None)
    seqs = [
        audit.audit(store, "login", "officer.a"),
        audit.audit(store, "view_participant", "participant:P-1"),
        audit.audit(store, "search", "caseload", detail='{"query": "Smith"}'),
    ]
    assert seqs == [1, 2, 3]
    rows = _rows(store)
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    for row in rows:
        assert row.officer == "officer.a" and row.workstation_id == "ws-17" and row.outcome == "ok"
        assert row.at.microsecond % 1000 == 0 and row.at >= before.replace(microsecond=0)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", audit.iso_ms(row.at))
    report = _verify(store)
    assert report.ok and report.rows == 3 and report.last_hash == rows[-1].hash


def test_the_table_refuses_update_and_delete(store) -> None:
    audit.audit(store, "login", officer="officer.a")
    for statement in ("UPDATE audit_event SET outcome = 'x'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"):
            store.write(lambda s, sql=statement: s.execute(text(sql)))
    assert _verify(store).ok


@pytest.mark.parametrize(
    ("tamper", "broken_at", "reason"),
    [
        ("UPDATE audit_event SET detail = 'nothing to see' WHERE seq = 2", 2, "content"),
        ("DELETE FROM audit_event WHERE seq = 2", 3, "missing"),
        ("UPDATE audit_event SET at = '2020-01-01 00:00:00.000000' WHERE seq = 3", 3, "content"),
        ("DELETE FROM audit_event WHERE seq = 4", None, ""),  # the newest row: see below
    ],
)
def test_tampering_breaks_the_chain_at_the_edited_row(store, tamper, broken_at, reason) -> None:
    for i in range(4):
        audit.audit(store, "view_participant", f"participant:P-{i}", officer="officer.a")

    def edit(session) -> None:
        # someone with the key and a SQL shell: drops the guards, then edits
        session.execute(text("DROP TRIGGER audit_event_no_update"))
        session.execute(text("DROP TRIGGER audit_event_no_delete"))
        session.execute(text(tamper))

    store.write(edit)
    report = _verify(store)
    if broken_at is None:
        # Truncating the tail keeps a valid prefix; it is caught by the server, which has the
        # uploaded rows and acknowledges by seq (tests/security/test_audit_upload.py).
        assert report.ok and report.last_seq == 3
        return
    assert not report.ok and report.broken_at == broken_at and reason in report.reason
    audit.report_break(store, report)
    assert _rows(store)[-1].event == "audit_chain_break"
    assert json.loads(_rows(store)[-1].detail)["broken_at"] == broken_at


def test_a_failed_audit_write_refuses_access_and_is_reported_by_the_next_row(store) -> None:
    audit.set_context(store, "officer.a", "ws-17")
    audit.audit(store, "login")
    # the database now refuses audit inserts (as a full or failing disk would)
    store.write(
        lambda s: s.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            )
        )
    )
    read_happened = []
    with pytest.raises(audit.AccessRefused, match="audit trail cannot be written"):
        audit.audited_access(store, "view_participant", "participant:P-1", lambda: read_happened.append(1))
    assert read_happened == [], "participant data must not be read without its audit row"
    assert not audit.audit_healthy(store)
    with pytest.raises(audit.AuditWriteFailed):
        audit.audit(store, "search", "caseload")

    store.write(lambda s: s.execute(text("DROP TRIGGER refuse")))
    assert audit.audited_access(store, "view_participant", "participant:P-1", lambda: "record") == "record"
    rows = _rows(store)
    assert [r.event for r in rows] == ["login", "audit_failure", "view_participant"]
    assert json.loads(rows[1].detail)["failed_writes"] == 2 and rows[1].outcome == "error"
    assert audit.audit_healthy(store) and _verify(store).ok


def test_unknown_events_are_refused(store) -> None:
    with pytest.raises(audit.AuditWriteFailed):
        audit.audit(store, "made_up_event")
    assert _rows(store) == []
