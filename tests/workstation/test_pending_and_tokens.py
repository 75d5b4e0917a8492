"""Local pending effects survive pulls; tokens refresh transparently; an ended session asks for the password."""

from __future__ import annotations

from sqlalchemy import select, text

from local_db.models import Alert, Note, OutboxAction
from tests.workstation.test_sync import _tamper_alert
from workstation import actions
from workstation.sync.pull import pull


def test_pending_note_and_alert_survive_a_pull_until_the_server_has_them(sync_server_factory, open_session):
    server = sync_server_factory(caseload=4)
    mine = open_session(server)
    other = open_session(server)
    alert_id = _tamper_alert(server, mine)
    case = server.seeded["officers"]["officer1"]["case_numbers"][0]
    note_id = actions.add_note(mine.store, case, "pending across a pull")
    ack = actions.acknowledge_alert(mine.store, alert_id, note="on my way")

    # the server's alert moves on (another laptop resolves it); this laptop pulls WITHOUT pushing
    assert other.sync_now().ok
    actions.resolve_alert(other.store, alert_id, note="strap checked, fine")
    assert other.sync_now().actions_applied == 1
    progress = []
    pull(mine.store, mine.client, progress=progress.append)
    assert progress and progress[-1].done >= 1 and progress[-1].total == progress[-1].done and progress[-1].bytes > 0
    with mine.store.read_session() as db:
        note = db.get(Note, note_id)
        assert note is not None and note.pending
        alert = db.get(Alert, alert_id)
        assert alert.state == "acknowledged" and alert.pending  # the officer still sees their action
        stash = db.get(OutboxAction, ack).server_result
        assert stash["server_row"]["state"] == "resolved"  # the server's row is kept with the action

    summary = mine.sync_now()  # the ack now conflicts (resolved meanwhile); the note goes through
    assert summary.actions_conflict == 1 and summary.actions_applied == 1
    mine.use_server(ack)
    with mine.store.read_session() as db:
        assert not db.get(Note, note_id).pending
        alert = db.get(Alert, alert_id)
        assert alert.state == "resolved" and not alert.pending


def expire_every_token(server, kinds: tuple[str, ...]) -> None:
    """Back office: the server's sessions time out (as after a long time offline)."""
    with server.db.write() as db:
        for kind in kinds:
            db.execute(text("update session_token set expires_at = '2000-01-01 00:00:00' where kind = :k"), {"k": kind})


def test_expired_access_token_is_refreshed_transparently(sync_server_factory, open_session):
    server = sync_server_factory(caseload=3)
    session = open_session(server)
    assert session.sync_now().ok
    first_token = session.auth.access_token()
    expire_every_token(server, ("access",))
    summary = session.sync_now()
    assert summary.ok, summary.error
    assert session.auth.access_token() != first_token


def test_an_ended_session_asks_for_the_password_and_relogin_resumes(sync_server_factory, open_session):
    server = sync_server_factory(caseload=3)
    session = open_session(server)
    asked = []
    session.auth_required.connect(asked.append)
    assert session.sync_now().ok
    case = server.seeded["officers"]["officer1"]["case_numbers"][0]
    action_id = actions.add_note(session.store, case, "kept while logged out")
    expire_every_token(server, ("access", "refresh"))
    summary = session.sync_now()
    assert not summary.ok and summary.error_kind == "AuthRequired" and not summary.retryable
    assert asked and "password" in asked[0]
    with session.store.read_session() as db:
        assert db.scalar(select(OutboxAction.state).where(OutboxAction.id == action_id)) in ("queued", "sending")
    session.relogin("pw")
    assert session.sync_now().ok
    assert server.count_notes(action_id) == 1
