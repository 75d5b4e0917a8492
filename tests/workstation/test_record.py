"""The typed action pipeline: record(store, target, payload), where the payload's type names
the action and the result says what changed; the push after an action runs on the scheduler."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from local_db.models import OutboxAction
from tests.ui.populate import fill_store
from tests.workstation.test_session import wait_for
from workstation import actions
from workstation import protocol as p
from workstation.sync.engine import SyncSummary
from workstation.sync.scheduler import SyncScheduler


def test_the_payload_type_names_the_action_and_the_changes_say_what_moved(store):
    fill_store(store, 4)
    note = actions.record(store, "p001", p.AddNotePayload(text="Phoned; no answer."))
    ack = actions.record(store, "al1", p.AcknowledgeAlertPayload())
    with store.read_session() as s:
        kinds = dict(s.execute(select(OutboxAction.id, OutboxAction.kind)).all())
    assert kinds == {note.action_id: "add_note", ack.action_id: "acknowledge_alert"}
    assert note.changes.participants == {"p001"} and not note.changes.alerts
    assert note.changes.outbox == {note.action_id}
    assert ack.changes.alerts == {"al1"} and ack.changes.participants == {"p001"}


def test_a_model_that_is_no_action_is_refused_and_writes_nothing(store):
    fill_store(store, 4)
    with pytest.raises(TypeError, match="not an action payload"):
        actions.record(store, "p001", p.RefreshRequest(refresh_token="x"))
    with pytest.raises(actions.ActionInvalid, match="add note: text"):
        actions.add_note(store, "p001", "")
    with store.read_session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxAction)) == 0


def test_a_push_runs_without_automatic_sync_and_once_more_when_asked_during_one():
    release = threading.Event()
    started = threading.Event()
    pushes: list[int] = []

    def push() -> SyncSummary:
        pushes.append(1)
        started.set()
        release.wait(10)
        return SyncSummary()

    def sync() -> SyncSummary:
        raise AssertionError("no sync was asked for")

    scheduler = SyncScheduler(sync, push=push, interval_s=3600)
    try:
        scheduler.request_push()
        assert started.wait(10)
        scheduler.request_push()  # two actions while the first push is on the wire...
        scheduler.request_push()
        release.set()
        wait_for(lambda: scheduler.pushes == 2)  # ...are sent by one more push, right after
        assert scheduler.runs == 0 and len(pushes) == 2
    finally:
        release.set()
        scheduler.stop()
