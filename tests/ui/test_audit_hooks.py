"""AU-2 in the window: a settled caseload search and a participant's track on the map are audited;
when the audit row cannot be written the search is cleared and the track is not shown."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from local_db import audit as audit_log
from local_db.models import AuditEvent
from ui import search_audit, window_actions
from workstation.config import Config
from workstation.session import WorkstationSession


def audit_rows(store, event: str) -> list[str]:
    with store.read_session() as db:
        return list(db.scalars(select(AuditEvent.object).where(AuditEvent.event == event).order_by(AuditEvent.seq)))


@pytest.fixture
def quick_settle(monkeypatch):
    monkeypatch.setattr(search_audit, "SETTLE_MS", 50)


def test_a_settled_search_is_audited_once_not_per_keystroke(qtbot, quick_settle, offline_session, make_window):
    window = make_window(offline_session)
    window.show()
    with qtbot.waitSignal(window.snapshotApplied, timeout=10_000):
        window.start()
    with qtbot.waitSignal(window._search_audit.audited, timeout=10_000) as audited:
        qtbot.keyClicks(window.caseload.search, "nguyen")
    assert audited.args == ["nguyen"]
    assert audit_rows(offline_session.store, "search") == ["query:nguyen"]
    # the same text again is not a new search; a different one is
    window.caseload.search.setText("nguyen ")
    with qtbot.waitSignal(window._search_audit.audited, timeout=10_000):
        window.caseload.search.setText("CHI-")
    assert audit_rows(offline_session.store, "search") == ["query:nguyen", "query:CHI-"]


def test_a_search_that_cannot_be_audited_is_cleared(qtbot, quick_settle, offline_session, make_window, monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(window_actions.QMessageBox, "warning", lambda _p, _t, text: warnings.append(text))

    def broken_audit(*_args, **_kwargs):
        raise audit_log.AuditWriteFailed("audit write failed: disk I/O error")

    monkeypatch.setattr(audit_log, "audit", broken_audit)
    window = make_window(offline_session)
    window.show()
    with qtbot.waitSignal(window.snapshotApplied, timeout=10_000):
        window.start()
    qtbot.keyClicks(window.caseload.search, "nguyen")
    qtbot.waitUntil(lambda: bool(warnings), timeout=10_000)
    assert "Search refused" in warnings[0] and "disk I/O error" in warnings[0]
    assert window.caseload.search.text() == ""
    assert window.caseload.proxy.rowCount() == window.caseload.model.rowCount()


@pytest.mark.webengine
def test_showing_a_track_on_the_map_is_audited_first(qtbot, offline_session, make_window, tmp_path):
    from maps.tiles import TileStore

    window = make_window(offline_session, with_map=True, tile_store=TileStore(tmp_path / "cache.mbtiles"))
    window.show()
    with qtbot.waitSignal(window.snapshotApplied, timeout=15_000):
        window.start()
    qtbot.waitUntil(lambda: window.map.is_ready, timeout=20_000)
    window.caseload.select_participant("p001")
    qtbot.waitUntil(lambda: window.record.record is not None and window.record.record.id == "p001", timeout=5000)
    window.actions_by_id["track"].trigger()
    qtbot.waitUntil(lambda: audit_rows(offline_session.store, "map_view") == ["participant:p001"], timeout=10_000)
    # offline: the map shows what the store holds, and the officer is told so
    qtbot.waitUntil(lambda: "showing what this laptop holds" in window.statusBar().currentMessage(), timeout=10_000)


@pytest.fixture
def online_session(tmp_path, sync_server_factory):
    server = sync_server_factory(caseload=2)
    home = tmp_path / "online"
    home.mkdir()
    session = WorkstationSession.open(Config(data_dir=home, server_url=server.url, workstation_id="ws-dialog"),
                                      "officer1", "pw")
    assert session.offline_reason is None
    session.server = server
    yield session
    session.close()


@pytest.fixture
def online_window(qtbot, online_session, make_window):
    return make_window(online_session)


def _server_accepts(server, password: str) -> bool:
    return httpx.post(f"{server.url}/v1/auth/token", json={
        "username": "officer1", "password": password, "workstation_id": "ws-dialog"}).status_code == 200


def test_change_password_dialog_changes_server_and_key_together_and_is_audited(
    qtbot, online_window, online_session, offline_window
):
    from local_db.keys import unwrap_data_key

    home, server = online_session.home, online_session.server
    # offline, nothing is changed anywhere and the officer is told why
    offline = offline_window.change_password()
    offline.current.setText("pw")
    offline.new.setText("a-new-passphrase")
    offline.again.setText("a-new-passphrase")
    offline.accept()
    qtbot.waitUntil(lambda: "only be changed while connected" in offline.message.text(), timeout=10_000)

    window = online_window
    dialog = window.change_password()
    dialog.current.setText("not the password")
    dialog.new.setText("a-new-passphrase")
    dialog.again.setText("a-new-passphrase-typo")
    dialog.accept()
    assert "differ" in dialog.message.text() and dialog.isVisible()
    dialog.again.setText("a-new-passphrase")
    dialog.accept()
    qtbot.waitUntil(lambda: "wrong" in dialog.message.text(), timeout=10_000)
    assert dialog.isVisible()
    unwrap_data_key(home, "pw")  # nothing changed, on either end
    assert _server_accepts(server, "pw")
    dialog.current.setText("pw")
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        dialog.accept()
    unwrap_data_key(home, "a-new-passphrase")
    assert _server_accepts(server, "a-new-passphrase") and not _server_accepts(server, "pw")
    assert audit_rows(window.store, "key_change") == ["keys.json"] * 4  # attempt+failed, attempt+ok
    with window.store.read_session() as db:
        outcomes = db.scalars(select(AuditEvent.outcome).where(AuditEvent.event == "key_change")).all()
    assert outcomes == ["attempt", "failed", "attempt", "ok"]


def test_wrong_current_passwords_in_the_dialog_lock_the_window(qtbot, online_window, online_session):
    from workstation.security import lockout

    window = online_window
    dialog = window.change_password()
    for i in range(lockout.MAX_FAILURES - 1):
        dialog.current.setText(f"guess {i}")
        dialog.new.setText("a-new-passphrase")
        dialog.again.setText("a-new-passphrase")
        dialog.accept()
        qtbot.waitUntil(lambda: dialog.buttons.isEnabled() and "wrong" in dialog.message.text(), timeout=10_000)
    dialog.current.setText("one more guess")
    with qtbot.waitSignal(window.lock_requested, timeout=10_000):
        dialog.accept()
    assert lockout.status(online_session.home).locked and not dialog.isVisible()


def test_an_audit_chain_break_reported_by_a_sync_stays_in_the_status_bar(qtbot, offline_window):
    from workstation.sync.engine import SyncSummary

    window = offline_window
    assert not window.status.audit.isVisible()
    clean = SyncSummary(changes_applied=3)
    with qtbot.waitSignal(window.syncFinished, timeout=5000):
        window._sync_done(clean)
    assert not window.status.audit.isVisible()
    broken = SyncSummary(audit_chain_break="server: audit row 12 differs from the copy it holds")
    with qtbot.waitSignal(window.syncFinished, timeout=5000):
        window._sync_done(broken)
    assert window.status.audit.isVisible()
    assert "row 12 differs" in window.status.audit.toolTip()
    with qtbot.waitSignal(window.syncFinished, timeout=5000):
        window._sync_done(clean)  # a later clean sync does not hide a break that happened
    assert window.status.audit.isVisible()
