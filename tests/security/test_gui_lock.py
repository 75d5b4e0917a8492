"""The lock in the real application: MainWindow over a real session and server.

Idle time runs on an injected clock; the lock must cover the main window, lock the session
(tokens forgotten, store closed = data key released) and, after the password, bring the same
window back over the same session, logged in to the server again and showing the caseload.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from local_db.errors import StoreError
from local_db.models import AuditEvent
from ui.lock_screen import NEUTRAL_TITLE, install_lock
from ui.main_window import MainWindow
from ui.services import GuiServices
from workstation.config import Config
from workstation.session import WorkstationSession


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def running_app(qtbot, tmp_path, sync_server_factory):
    server = sync_server_factory(caseload=6, password="pw")
    home = tmp_path / "home"
    home.mkdir()
    config = Config(data_dir=home, server_url=server.url, workstation_id="ws-gui-lock")
    session = WorkstationSession.open(config, "officer1", "pw")
    assert session.sync_now().ok
    window = MainWindow(GuiServices(session, auto_sync=False), with_map=False)
    window.show()
    with qtbot.waitSignal(window.snapshotApplied, timeout=20_000):
        window.start()
    controller, lockable = install_lock(session, window, 15)
    clock = FakeClock()
    controller.idle._clock = clock  # the injected clock (the idle period starts now)
    controller.idle.reset()
    yield controller, lockable, clock
    controller.shutdown()
    lockable.wait_closed()
    window.shutdown()
    window.services.wait_stopped()
    QThreadPool.globalInstance().waitForDone(10_000)
    session.close()


def test_idle_lock_locks_the_session_and_unlock_resumes_the_same_window(qtbot, running_app) -> None:
    controller, lockable, clock = running_app
    session, window = lockable.session, lockable.window
    old_store = session.store
    assert window.caseload.model.rowCount() == 6
    clock.now = 15 * 60 - 1
    assert not controller.idle.check()
    clock.now = 15 * 60
    assert controller.idle.check() and controller.is_locked
    assert window.windowTitle() == NEUTRAL_TITLE
    # the session locks on a worker (the GUI thread never waits on disk or network)
    qtbot.waitUntil(lambda: lockable.closed, timeout=15_000)
    assert not session.auth.logged_in, "server tokens are dropped on lock"
    with pytest.raises(StoreError):
        old_store.read_session().__enter__()  # the store is closed: the key is released

    controller.screen.password.setText("pw")
    with qtbot.waitSignal(window.snapshotApplied, timeout=20_000):
        qtbot.keyClick(controller.screen.password, Qt.Key.Key_Return)
    assert not controller.is_locked and lockable.session is session and lockable.window is window
    assert session.auth.logged_in, "tokens come back with the unlock"
    assert window.caseload.model.rowCount() == 6
    assert NEUTRAL_TITLE not in window.windowTitle()
    with session.store.read_session() as s:
        events = list(s.scalars(select(AuditEvent.event).order_by(AuditEvent.seq)))
    session_events = [e for e in events[events.index("lock"):] if e in ("lock", "unlock", "logout", "login")]
    assert session_events == ["lock", "unlock"], "a lock, not a logout and a new login"
    # sync works over the re-opened store
    with qtbot.waitSignal(window.syncFinished, timeout=20_000) as finished:
        window.sync_now()
    assert finished.args[0].ok
    # Ctrl+L still locks
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)  # back where the officer was
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert controller.is_locked
    visible = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w is not controller.screen]
    assert all(w.windowTitle() == NEUTRAL_TITLE for w in visible)
