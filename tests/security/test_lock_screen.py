"""The lock as the application ships it: the real MainWindow over a WorkstationSession on a real
encrypted store, locked and unlocked through ui.lock_screen.install_lock (the core's
WorkstationSession.lock/unlock behind it). Pattern hiding, Ctrl+L, the key released and restored,
the audit trail the app really writes, and the officer's work found as it was left."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, Qt, QThreadPool
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QWidget
from sqlalchemy import select

from local_db.errors import StoreError
from local_db.models import AuditEvent
from tests.ui.populate import fill_store
from ui.action_forms import NoteForm
from ui.lock_screen import NEUTRAL_TITLE, LockController, LockScreen, install_lock
from ui.main_window import MainWindow
from ui.services import GuiServices
from workstation.auth import Auth
from workstation.security import lockout, unlock
from workstation.security.session_lock import SessionLocked
from workstation.session import WorkstationSession
from workstation.sync.connectivity import Connectivity

PASSWORD = "correct horse battery staple"
#: a participant of tests.ui.populate's caseload, shown in the caseload table
SHOWN_NAME = "Garcia"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def signed_in(tmp_path, qtbot):
    home = tmp_path / "home"
    home.mkdir()
    store = unlock.first_store(home, PASSWORD, "officer.a", "ws-1")
    fill_store(store, 12)
    session = WorkstationSession(home, store, None, Auth("officer.a", "ws-1"), Connectivity(),
                                 offline_reason="no server in this test")
    window = MainWindow(GuiServices(session), with_map=False)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.snapshotApplied, timeout=10_000):
        window.start()
    controller, lockable = install_lock(session, window, 15)
    clock = FakeClock()
    controller.idle._clock = clock
    controller.idle.reset()
    yield session, window, controller, clock, lockable
    controller.shutdown()
    lockable.wait_closed()
    window.shutdown()
    window.services.wait_stopped()
    QThreadPool.globalInstance().waitForDone(10_000)
    session.close()


def _uniform(widget: QWidget) -> bool:
    image = widget.grab().toImage()
    first = image.pixel(0, 0)
    step = max(1, min(image.width(), image.height()) // 40)
    return all(
        image.pixel(x, y) == first for x in range(0, image.width(), step) for y in range(0, image.height(), step)
    )


def _unlock(qtbot, controller: LockController, password: str) -> None:
    screen = controller.screen
    assert screen is not None
    screen.password.setText(password)
    with qtbot.waitSignal(controller._unlock_done, timeout=15_000):
        qtbot.keyClick(screen.password, Qt.Key.Key_Return)


def _events(session: WorkstationSession) -> list[str]:
    with session.store.read_session() as s:
        return list(s.scalars(select(AuditEvent.event).order_by(AuditEvent.seq)))


def test_idle_lock_covers_every_window_releases_the_key_and_comes_back(qtbot, signed_in) -> None:
    session, window, controller, clock, lockable = signed_in
    assert not _uniform(window), "the unlocked window shows its content"
    old_store, title = session.store, window.windowTitle()
    clock.now = 15 * 60
    assert controller.idle.check()
    assert controller.is_locked
    assert window.windowTitle() == NEUTRAL_TITLE and not window.isEnabled()
    assert _uniform(window), "nothing of the caseload may be visible while locked"
    screen = controller.screen
    assert isinstance(screen, LockScreen) and screen.isVisible()
    assert screen.password.echoMode() == screen.password.EchoMode.Password
    texts = " ".join(label.text() for label in screen.findChildren(QLabel))
    assert SHOWN_NAME not in texts
    # the session closes on a worker: then no store, no key
    qtbot.waitUntil(lambda: lockable.closed, timeout=15_000)
    assert session.locked
    with pytest.raises(SessionLocked):
        _ = session.store
    with pytest.raises(StoreError):
        old_store.read_session().__enter__()

    _unlock(qtbot, controller, "wrong password")
    assert controller.is_locked and "Wrong password" in screen.message.text()
    _unlock(qtbot, controller, PASSWORD)
    assert not controller.is_locked and not session.locked
    assert window.windowTitle() == title and window.isEnabled()
    assert not _uniform(window)
    # the trail the app writes: the failure was recorded in the key file while the store was
    # closed, then chained; no logout/login, the session never ended
    events = _events(session)
    assert events[0] == "login"
    assert [e for e in events if e in ("login", "logout", "lock", "unlock", "unlock_failed")] == [
        "login", "lock", "unlock_failed", "unlock"]


def test_ctrl_l_locks_now_and_input_counts_as_activity(qtbot, signed_in) -> None:
    session, window, controller, clock, lockable = signed_in
    clock.now = 14 * 60
    qtbot.mouseMove(window.caseload.table)
    qtbot.keyClick(window.caseload.table, Qt.Key.Key_Down)
    clock.now = 15 * 60
    assert not controller.idle.check(), "input one minute ago restarted the idle period"
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert controller.is_locked and _uniform(window)
    qtbot.waitUntil(lambda: lockable.closed, timeout=15_000)
    assert session.locked


def test_a_locked_out_workstation_stays_locked_and_an_admin_code_releases_it(qtbot, signed_in) -> None:
    session, _window, controller, _clock, _lockable = signed_in
    codes = lockout.issue_release_codes(session.home, count=2)
    controller.idle.lock_now()
    for i in range(5):
        _unlock(qtbot, controller, f"guess {i}")
    _unlock(qtbot, controller, PASSWORD)
    assert controller.is_locked and "locked after repeated failed sign-ins" in controller.screen.message.text()
    controller.screen.code.setText("WRONG-CODE")
    controller.screen.code_button.click()
    assert "not accepted" in controller.screen.message.text()
    controller.screen.code.setText(codes[0])
    controller.screen.code_button.click()
    assert "Released" in controller.screen.message.text()
    _unlock(qtbot, controller, PASSWORD)
    assert not controller.is_locked


def test_only_the_lock_screen_is_left_uncovered(qtbot, signed_in) -> None:
    _session, window, controller, _clock, _lockable = signed_in
    dialog = QWidget()
    dialog.setWindowTitle(f"Note for {SHOWN_NAME}")
    qtbot.addWidget(dialog)
    dialog.show()
    controller.idle.lock_now()
    for top in QApplication.topLevelWidgets():
        if top.isVisible() and top is not controller.screen:
            assert top.windowTitle() == NEUTRAL_TITLE and _uniform(top), top


def test_unlock_finds_the_selection_the_search_and_the_half_written_note(qtbot, signed_in) -> None:
    """Issue 13 item 5: locking covers the window instead of rebuilding it."""
    session, window, controller, _clock, lockable = signed_in
    qtbot.keyClicks(window.caseload.search, SHOWN_NAME.lower())
    window.caseload.table.setFocus()
    qtbot.keyClick(window.caseload.table, Qt.Key.Key_Down)
    selected = window.caseload.selected_participant()
    assert selected is not None
    qtbot.waitUntil(lambda: window.record.record is not None and window.record.record.id == selected, timeout=10_000)
    window.actions_by_id["note"].trigger()
    form = window._open_form
    assert isinstance(form, NoteForm) and form.isVisible()
    secret = "Door answered by the brother; says she moved out Tuesday"
    qtbot.keyClicks(form.text, secret)

    controller.idle.lock_now()
    assert QApplication.activeModalWidget() is controller.screen
    assert form.isVisible() and form.windowTitle() == NEUTRAL_TITLE and _uniform(form)
    qtbot.waitUntil(lambda: lockable.closed, timeout=15_000)
    # held in memory only: nothing under the data directory carries the note in clear
    for path in session.home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path

    with qtbot.waitSignal(window.snapshotApplied, timeout=15_000):
        _unlock(qtbot, controller, PASSWORD)
    assert window._open_form is form and form.isVisible() and form.text.toPlainText() == secret
    assert form.windowTitle() != NEUTRAL_TITLE
    assert window.caseload.search.text() == SHOWN_NAME.lower()
    assert window.caseload.selected_participant() == selected
    assert window.record.record is not None and window.record.record.id == selected
    # the note queues into the re-opened store
    with qtbot.waitSignal(window.actionQueued, timeout=10_000):
        form.accept()
    events = _events(session)
    assert "action" in events[events.index("unlock"):]


def test_the_lock_screen_takes_input_over_an_open_modal_dialog(qtbot, signed_in) -> None:
    _session, window, controller, _clock, _lockable = signed_in
    dialog = QDialog(window)
    dialog.setWindowTitle(f"Note for {SHOWN_NAME}")
    dialog.setModal(True)
    dialog.show()  # a modal dialog in progress (open(), not exec(), so the test keeps running)
    assert QApplication.activeModalWidget() is dialog
    controller.idle.lock_now()
    assert QApplication.activeModalWidget() is controller.screen
    assert dialog.isVisible() and dialog.windowTitle() == NEUTRAL_TITLE and _uniform(dialog)
    _unlock(qtbot, controller, PASSWORD)
    assert not controller.is_locked and dialog.isVisible(), "the dialog survives"
    assert QApplication.activeModalWidget() is dialog
    dialog.close()


def test_store_errors_are_shown_not_raised(qtbot, signed_in) -> None:
    session, _window, controller, _clock, lockable = signed_in
    controller.idle.lock_now()
    qtbot.waitUntil(lambda: lockable.closed, timeout=15_000)
    (session.home / "keys.json").unlink()
    _unlock(qtbot, controller, PASSWORD)
    assert controller.is_locked and controller.screen.message.text()
    with pytest.raises(StoreError):
        session.unlock(PASSWORD)


@pytest.mark.webengine
def test_unlock_finds_the_map_where_it_was(qtbot, tmp_path) -> None:
    """The map page is hidden behind the cover, never reloaded: its view survives the lock."""
    from maps.tiles import TileStore

    home = tmp_path / "home"
    home.mkdir()
    store = unlock.first_store(home, PASSWORD, "officer.a", "ws-1")
    fill_store(store, 12)
    session = WorkstationSession(home, store, None, Auth("officer.a", "ws-1"), Connectivity(),
                                 offline_reason="no server in this test")
    tiles = TileStore(home / "tile-cache.mbtiles", cache_key=store.cache_key)
    window = MainWindow(GuiServices(session), with_map=True, tile_store=tiles)
    qtbot.addWidget(window)
    window.show()
    controller = lockable = None
    try:
        with qtbot.waitSignal(window.snapshotApplied, timeout=15_000):
            window.start()
        qtbot.waitUntil(lambda: window.map.view_state()["bounds"] is not None, timeout=20_000)
        with qtbot.waitCallback(timeout=10_000) as settled:
            window.map.evaluate("1", settled)
        page, before = window.map.page, window.map.view_state()
        controller, lockable = install_lock(session, window, 15)
        controller.idle.lock_now()
        assert not window.map.web_view.isVisible()
        qtbot.waitUntil(lambda: lockable.closed, timeout=15_000)
        _unlock(qtbot, controller, PASSWORD)
        assert window.map.web_view.isVisible() and window.map.page is page
        with qtbot.waitCallback(timeout=10_000) as answered:
            window.map.evaluate("6 * 7", answered)  # a round trip through the page: alive, not reloaded
        assert answered.args == [42]
        assert window.map.view_state() == before
    finally:
        if controller is not None:
            controller.shutdown()
            lockable.wait_closed()
        window.shutdown()
        window.services.wait_stopped()
        QThreadPool.globalInstance().waitForDone(10_000)
        session.close()
        # the map's page is deleted with deleteLater: deliver that now so no page outlives its profile
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
