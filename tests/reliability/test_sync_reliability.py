"""Reliability of the sync engine: kill -9, network faults, and a Hypothesis state machine.

Bounded for CI; RELIABILITY_CAMPAIGN=1 runs the big versions (>= 1,000 kills, many fault rounds,
many state-machine examples).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from local_db.models import OutboxAction, Participant
from tests.reliability.faults import fault_campaign
from tests.reliability.kill import kill_campaign
from tests.reliability.oracle import compare
from tests.workstation.conftest import make_config
from workstation import actions
from workstation.session import WorkstationSession
from workstation.sync import outbox, push

CAMPAIGN = os.environ.get("RELIABILITY_CAMPAIGN") == "1"


@pytest.mark.slow
@pytest.mark.timeout(7200 if CAMPAIGN else 300)
def test_kill_minus_nine_during_pull_and_push_converges(tmp_path):
    report = kill_campaign(kills=1000 if CAMPAIGN else 50, caseload=30 if CAMPAIGN else 8, tmp_dir=tmp_path)
    assert report["killed"] >= (1000 if CAMPAIGN else 50)
    assert report["integrity_check"] == "ok"
    assert report["ok"], report


@pytest.mark.slow
@pytest.mark.timeout(3600 if CAMPAIGN else 300)
def test_network_faults_then_server_equals_the_oracle(tmp_path):
    report = fault_campaign(rounds=200 if CAMPAIGN else 8, tmp_dir=tmp_path)
    assert report["syncs_failed"] > 0  # the faults did bite
    assert report["ok"], report


class SyncMachine(RuleBasedStateMachine):
    """Offline edits, syncs, lost answers (duplicate requests), crashes between queue and push,
    reassignments away and back. Invariant: no note is ever on the server twice; after a clean
    sync every action is settled and the caseload equals the server's."""

    server = None
    config = None

    def __init__(self) -> None:
        super().__init__()
        self.session = WorkstationSession.open(self.config, "officer1", "pw")
        assert self.session.sync_now().ok
        self.queued: list[str] = []

    def teardown(self) -> None:
        self.session.close()

    def _cases(self) -> list[str]:
        with self.session.store.read_session() as db:
            return sorted(db.scalars(select(Participant.case_number)))

    # Draws never depend on the store or the server (which outlive one example): Hypothesis
    # replays an example by its draws, so they must be the same however the caseload looks.
    @rule(pick=st.integers(0, 999), text=st.text(alphabet="abcdefgh ", min_size=1, max_size=20))
    def write_note_offline(self, pick, text) -> None:
        cases = self._cases()
        if cases:
            self.queued.append(actions.add_note(self.session.store, cases[pick % len(cases)], "hyp-" + text))

    @rule()
    def sync(self) -> None:
        self.session.sync_now()

    @rule()
    def answer_lost(self) -> None:
        """The server applies a batch but its answer never arrives (a duplicate request follows)."""
        with self.session.store.read_session() as db:
            batch = outbox.next_batch(db, 50, 0)
        for action in batch:
            action.pop("_seq")
        if batch:
            push.send_batch(self.session.client, batch)

    @rule()
    def crash_and_restart(self) -> None:
        """Close everything without a sync and log in again (tokens are lost, the store stays)."""
        self.session.close()
        self.session = WorkstationSession.open(self.config, "officer1", "pw")

    @rule(pick=st.integers(0, 2), back=st.booleans())
    def reassign(self, pick, back) -> None:
        cases = self.server.seeded["officers"]["officer1"]["case_numbers"]
        self.server.reassign(cases[pick % len(cases)], "officer1" if back else "officer2")

    @invariant()
    def never_twice_on_the_server(self) -> None:
        for note_id in self.queued:
            assert self.server.count_notes(note_id) <= 1

    @precondition(lambda self: len(self.queued) > 0)
    @rule()
    def clean_sync_settles_everything(self) -> None:
        summary = self.session.sync_now()
        assert summary.ok, summary.error
        report = compare(self.session.store, self.server, "off1", [], "hyp-%")
        assert report["caseload_equal"]
        with self.session.store.read_session() as db:
            states = dict(db.execute(select(OutboxAction.id, OutboxAction.state)).all())
        for action_id in self.queued:
            state = states[action_id]
            assert state in ("done", "rejected"), state
            assert self.server.count_notes(action_id) == (1 if state == "done" else 0)


@pytest.mark.timeout(3600 if CAMPAIGN else 300)
def test_sync_state_machine(sync_server_factory, tmp_path):
    SyncMachine.server = sync_server_factory(officers=2, caseload=5)
    SyncMachine.config = make_config(tmp_path / "machine-home", SyncMachine.server.url)
    run_state_machine_as_test(
        SyncMachine,
        settings=settings(
            max_examples=60 if CAMPAIGN else 3,
            stateful_step_count=40 if CAMPAIGN else 10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
