"""The lock in the real application: MainWindow over a real session and server.

Idle time runs on an injected clock; the lock must cover the main window, end the session
(tokens forgotten, store closed = data key released) and, after the password, come back with a
new session and a rebuilt window showing the caseload.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import QApplication

from local_db.errors import StoreError
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
    built: list[MainWindow] = []

    def build(session) -> MainWindow:
        window = MainWindow(GuiServices(session, auto_sync=False), with_map=False)
        built.append(window)
        return window

    session = WorkstationSession.open(config, "officer1", "pw")
    assert session.sync_now().ok
    window = build(session)
    window.show()
    with qtbot.waitSignal(window.snapshotApplied, timeout=20_000):
        window.start()
    controller, lockable = install_lock(
        session, window, lambda pw: WorkstationSession.open(config, "officer1", pw), build, 15
    )
    clock = FakeClock()
    controller.idle._clock = clock  # the injected clock (the idle period starts now)
    controller.idle.reset()
    yield controller, lockable, clock, built
    controller.shutdown()
    for w in built:
        w.shutdown()
    QThreadPool.globalInstance().waitForDone(10_000)
    lockable.session.close()


def test_idle_lock_ends_the_session_and_unlock_rebuilds_the_window(qtbot, running_app) -> None:
    controller, lockable, clock, built = running_app
    first_session, first_window = lockable.session, lockable.window
    assert first_window.caseload.model.rowCount() == 6
    clock.now = 15 * 60 - 1
    assert not controller.idle.check()
    clock.now = 15 * 60
    assert controller.idle.check() and controller.is_locked
    assert first_window.windowTitle() == NEUTRAL_TITLE
    assert not first_session.auth.logged_in, "server tokens are dropped on lock"
    # the store closes on a worker (the GUI thread never waits on disk or network)
    qtbot.waitUntil(lambda: lockable.closed, timeout=15_000)
    with pytest.raises(StoreError):
        first_session.store.read_session().__enter__()  # the store is closed: the key is released

    controller.screen.password.setText("pw")
    with qtbot.waitSignal(controller.locked_changed, timeout=20_000):
        qtbot.keyClick(controller.screen.password, Qt.Key.Key_Return)
    assert not controller.is_locked and lockable.session is not first_session
    assert lockable.session.auth.logged_in, "tokens come back with the unlock"
    new_window = lockable.window
    assert new_window is built[-1] and new_window is not first_window
    with qtbot.waitSignal(new_window.snapshotApplied, timeout=20_000):
        pass
    assert new_window.caseload.model.rowCount() == 6
    assert NEUTRAL_TITLE not in new_window.windowTitle()
    # Ctrl+L is wired on the rebuilt window too
    new_window.activateWindow()
    qtbot.keyClick(new_window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert controller.is_locked
    visible = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w is not controller.screen]
    assert all(w.windowTitle() == NEUTRAL_TITLE for w in visible)
