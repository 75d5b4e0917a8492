"""Sync engine against the real reference server over loopback, with a real encrypted store."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from local_db.models import (
    Alert,
    Appointment,
    Device,
    Note,
    OutboxAction,
    Participant,
    SyncState,
    Zone,
)
from workstation import actions
from workstation.protocol import GatewayFix
from workstation.sync import outbox, push


def local_count(session, model, **where) -> int:
    with session.store.read_session() as db:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return db.scalar(query)


def local_ids(session, model) -> set[str]:
    with session.store.read_session() as db:
        return set(db.scalars(select(model.id)))


def server_ids(server, table: str, officer_id: str = "off1") -> set[str]:
    if table == "participant":
        rows = server.query("select id from participant where officer_id = :o", o=officer_id)
    else:
        rows = server.query(
            f"select t.id from {table} t join participant p on p.id = t.participant_id where p.officer_id = :o",
            o=officer_id,
        )
    return {r[0] for r in rows}


def outbox_row(session, action_id: str) -> SimpleNamespace:
    with session.store.read_session() as db:
        row = db.get(OutboxAction, action_id)
        return SimpleNamespace(**{c.key: getattr(row, c.key) for c in OutboxAction.__table__.columns})


def test_full_sync_brings_the_caseload_then_delta_brings_only_changes(sync_server_factory, open_session):
    server = sync_server_factory(officers=2, caseload=20)
    session = open_session(server)
    summary = session.sync_now()
    assert summary.ok, summary.error
    assert summary.participants == 20
    for model, table in ((Participant, "participant"), (Device, "device"), (Zone, "zone"),
                         (Appointment, "appointment"), (Alert, "alert"), (Note, "note")):  # fmt: skip
        assert local_ids(session, model) == server_ids(server, table), table
    assert summary.bytes_down > 0 and summary.changes_applied >= 40

    touched = server.touch_participants(0.25, seed=3)
    assert touched > 0
    delta = session.sync_now()
    assert delta.ok
    # both officers' participants were touched; this officer's feed carries only its own
    mine = server.query("select id, phone from participant where officer_id = 'off1'")
    assert 0 < delta.changes_applied <= touched
    with session.store.read_session() as db:
        local_phones = dict(db.execute(select(Participant.id, Participant.phone)).all())
    assert local_phones == dict(mine)
    # the pull says which participants it changed, and nothing else (a phone: the record and the row)
    assert 0 < len(delta.pulled.participants) == delta.changes_applied
    assert delta.pulled.caseload_rows == delta.pulled.participants <= set(local_phones)
    assert not (delta.pulled.devices or delta.pulled.alerts or delta.pulled.incidents)
    again = session.sync_now()
    assert again.ok and again.changes_applied == 0 and not again.changed


def test_reassigned_participant_is_purged_with_everything_hanging_off_it(sync_server_factory, open_session):
    server = sync_server_factory(officers=2, caseload=10)
    session = open_session(server)
    assert session.sync_now().ok
    case = server.seeded["officers"]["officer1"]["case_numbers"][0]
    with session.store.read_session() as db:
        pid = db.scalar(select(Participant.id).where(Participant.case_number == case))
    actions.add_note(session.store, case, "seen at home")
    assert session.sync_now().ok
    assert local_count(session, Device, participant_id=pid) > 0
    assert local_count(session, Note, participant_id=pid) > 0

    server.reassign(case, "officer2")
    summary = session.sync_now()
    assert summary.ok
    assert summary.participants == 9
    for model in (Participant,):
        assert local_count(session, model, id=pid) == 0
    for model in (Device, Zone, Appointment, Alert, Note):
        assert local_count(session, model, participant_id=pid) == 0, model.__name__


def test_note_written_offline_reaches_the_server_once(sync_server_factory, open_session):
    server = sync_server_factory(caseload=5)
    session = open_session(server)
    assert session.sync_now().ok
    case = server.seeded["officers"]["officer1"]["case_numbers"][1]
    action_id = actions.add_note(session.store, case, "left a card at the door")
    with session.store.read_session() as db:
        note = db.get(Note, action_id)
        assert note is not None and note.pending and note.text == "left a card at the door"
    assert outbox_row(session, action_id).state == "queued"
    assert server.count_notes(action_id) == 0

    summary = session.sync_now()
    assert summary.ok and summary.actions_sent == 1 and summary.actions_applied == 1
    assert server.count_notes(action_id) == 1
    with session.store.read_session() as db:
        note = db.get(Note, action_id)
        assert note is not None and not note.pending and note.version == 1  # the pulled server row
        assert db.scalar(select(func.count()).select_from(Note).where(Note.text == "left a card at the door")) == 1
    assert outbox_row(session, action_id).state == "done"
    assert session.sync_now().actions_sent == 0
    assert server.count_notes(action_id) == 1


def test_a_batch_whose_answer_was_lost_is_resent_and_applied_once(sync_server_factory, open_session):
    server = sync_server_factory(caseload=5)
    session = open_session(server)
    assert session.sync_now().ok
    case = server.seeded["officers"]["officer1"]["case_numbers"][0]
    ids = [actions.add_note(session.store, case, f"note {i}") for i in range(3)]
    with session.store.read_session() as db:
        batch = outbox.next_batch(db, 10, 0)
    for action in batch:
        action.pop("_seq")
    # The server commits the batch, but its answer never reaches the store (lost ack).
    answers = push.send_batch(session.client, batch)
    assert [a.status for a in answers] == ["applied"] * 3
    summary = session.sync_now()
    assert summary.ok and summary.actions_sent == 3 and summary.actions_applied == 3
    for action_id in ids:
        assert server.count_notes(action_id) == 1
        row = outbox_row(session, action_id)
        assert row.state == "done" and row.server_result["status"] == "duplicate"


def _tamper_alert(server, session) -> str:
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    (lat, lon), = server.query("select lat, lon from position limit 1") or [(41.88, -87.63)]
    raised = server.ingest([GatewayFix(serial=serial, fix_time=datetime.now(UTC), lat=lat, lon=lon,
                                       event="strap_tamper")])  # fmt: skip
    assert raised.alerts_raised >= 1
    assert session.sync_now().ok
    with session.store.read_session() as db:
        return db.scalars(select(Alert.id).where(Alert.kind == "strap_tamper", Alert.state == "open")).first()


def test_conflicts_and_rejections_do_not_block_the_actions_behind_them(sync_server_factory, open_session):
    server = sync_server_factory(officers=2, caseload=6)
    mine = open_session(server)
    other = open_session(server)  # the same officer on a second laptop
    assert other.sync_now().ok
    alert_id = _tamper_alert(server, mine)
    assert alert_id is not None
    assert other.sync_now().ok

    actions.resolve_alert(other.store, alert_id, note="strap replaced")
    assert other.sync_now().actions_applied == 1  # resolved on the server

    cases = server.seeded["officers"]["officer1"]["case_numbers"]
    ack = actions.acknowledge_alert(mine.store, alert_id)  # made without seeing the resolution: conflict
    doomed = actions.add_note(mine.store, cases[2], "about to be reassigned")
    server.reassign(cases[2], "officer2")  # before the push: the note's target is gone
    fine = actions.add_note(mine.store, cases[1], "an ordinary note")
    summary = mine.sync_now()
    assert summary.ok, summary.error
    assert (summary.actions_sent, summary.actions_applied, summary.actions_conflict, summary.actions_rejected) == (
        3, 1, 1, 1,
    )
    assert outbox_row(mine, ack).state == "conflict"
    assert outbox_row(mine, ack).server_result["current"]["state"] == "resolved"
    rejected = outbox_row(mine, doomed)
    assert rejected.state == "rejected" and "unknown participant" in rejected.last_error
    assert rejected.payload["text"] == "about to be reassigned"  # the officer's words are kept
    assert outbox_row(mine, fine).state == "done" and server.count_notes(fine) == 1

    mine.use_server(ack)
    with mine.store.read_session() as db:
        alert = db.get(Alert, alert_id)
        assert alert.state == "resolved" and not alert.pending
    assert outbox_row(mine, ack).state == "discarded"


def test_keep_mine_resends_on_the_servers_version(sync_server_factory, open_session):
    server = sync_server_factory(caseload=6)
    mine = open_session(server)
    other = open_session(server)
    alert_id = _tamper_alert(server, mine)
    assert other.sync_now().ok
    actions.resolve_alert(other.store, alert_id, note="strap checked, fine")
    assert other.sync_now().actions_applied == 1

    resolve = actions.resolve_alert(mine.store, alert_id, note="strap replaced on visit")
    assert mine.sync_now().actions_conflict == 1
    assert mine.keep_mine(resolve) == resolve
    assert outbox_row(mine, resolve).state == "queued"
    summary = mine.sync_now()
    assert summary.actions_applied == 1, summary
    assert server.query("select state from alert where id = :a", a=alert_id) == [("resolved",)]
    assert server.query("select text from note where id = :i", i=resolve) == [("strap replaced on visit",)]
    with mine.store.read_session() as db:
        alert = db.get(Alert, alert_id)
        assert alert.state == "resolved" and not alert.pending


def test_a_tamper_alert_is_not_resolved_without_a_note(sync_server_factory, open_session):
    server = sync_server_factory(caseload=4)
    session = open_session(server)
    alert_id = _tamper_alert(server, session)
    with pytest.raises(actions.ActionInvalid, match="without a note"):
        actions.resolve_alert(session.store, alert_id, note="   ")
    assert local_count(session, OutboxAction) == 0
    with session.store.read_session() as db:
        assert db.get(Alert, alert_id).state == "open"


def test_pull_resumes_from_the_last_applied_page(sync_server_factory, open_session):
    server = sync_server_factory(caseload=12)
    session = open_session(server)
    session.engine.page_size = 7
    first = session.sync_now()
    assert first.ok
    with session.store.read_session() as db:
        cursor = db.get(SyncState, 1).cursor
    # forget the last pages: set the cursor back and drop nothing; re-applying is idempotent
    session.store.write(lambda s: s.execute(update(SyncState).values(cursor=cursor // 2)))
    again = session.sync_now()
    assert again.ok and 0 < again.changes_applied < first.changes_applied
    assert local_ids(session, Participant) == server_ids(server, "participant")
