"""The lock screen over real windows: pattern hiding, Ctrl+L, key released and restored."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QMainWindow, QVBoxLayout, QWidget

from local_db.errors import StoreError
from local_db.models import AuditEvent
from ui.lock_screen import NEUTRAL_TITLE, LockController, LockScreen
from workstation.security import lockout, unlock
from workstation.security.idle_lock import IdleLock
from workstation.security.session_lock import SessionLock, SessionLocked

PASSWORD = "correct horse battery staple"
CANARY = "Zebulon Quackenbush C-424242"


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
    tokens = {"access": "tok"}
    session = SessionLock(home, "officer.a", "ws-1", store, forget_tokens=tokens.clear)
    window = QMainWindow()
    window.setWindowTitle(f"Participant {CANARY}")
    body = QWidget()
    QVBoxLayout(body).addWidget(QLabel(CANARY))
    window.setCentralWidget(body)
    window.resize(640, 400)
    qtbot.addWidget(window)
    window.show()
    clock = FakeClock()
    idle = IdleLock(15, clock=clock)
    controller = LockController(session, idle)
    controller.install_shortcut(window)
    yield session, window, controller, idle, clock, tokens
    controller.shutdown()
    idle.stop()
    if not session.locked:
        session.store.close()


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
    with qtbot.waitSignal(controller._unlock_done, timeout=10_000):
        qtbot.keyClick(screen.password, Qt.Key.Key_Return)


def test_idle_lock_covers_every_window_releases_the_key_and_comes_back(qtbot, signed_in) -> None:
    session, window, controller, idle, clock, tokens = signed_in
    assert not _uniform(window), "the unlocked window shows its content"
    clock.now = 15 * 60
    assert idle.check()
    assert controller.is_locked and session.locked and tokens == {}
    with pytest.raises(SessionLocked):
        _ = session.store
    assert window.windowTitle() == NEUTRAL_TITLE and not window.isEnabled()
    assert _uniform(window), "nothing of the caseload may be visible while locked"
    screen = controller.screen
    assert isinstance(screen, LockScreen) and screen.isVisible()
    assert screen.password.echoMode() == screen.password.EchoMode.Password
    texts = " ".join(label.text() for label in screen.findChildren(QLabel))
    assert "Quackenbush" not in texts and "C-424242" not in texts

    _unlock(qtbot, controller, "wrong password")
    assert controller.is_locked and "Wrong password" in screen.message.text()
    _unlock(qtbot, controller, PASSWORD)
    assert not controller.is_locked and not session.locked
    assert window.windowTitle() == f"Participant {CANARY}" and window.isEnabled()
    assert not _uniform(window)
    with session.store.read_session() as s:
        events = [r.event for r in s.query(AuditEvent).order_by(AuditEvent.seq)]
    # the failure was recorded in the key file while the store was closed, then chained
    assert events == ["login", "lock", "unlock_failed", "unlock"]


def test_ctrl_l_locks_now_and_input_counts_as_activity(qtbot, signed_in) -> None:
    session, window, controller, idle, clock, _tokens = signed_in
    clock.now = 14 * 60
    qtbot.mouseMove(window.centralWidget())
    qtbot.keyClick(window.centralWidget(), Qt.Key.Key_A)
    clock.now = 15 * 60
    assert not idle.check(), "input one minute ago restarted the idle period"
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert controller.is_locked and session.locked
    assert _uniform(window)


def test_a_locked_out_workstation_stays_locked_and_an_admin_code_releases_it(qtbot, signed_in) -> None:
    session, _window, controller, idle, _clock, _tokens = signed_in
    codes = lockout.issue_release_codes(session.home, count=2)
    idle.lock_now()
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
    _session, window, controller, idle, _clock, _tokens = signed_in
    dialog = QWidget()
    dialog.setWindowTitle(f"Note for {CANARY}")
    QVBoxLayout(dialog).addWidget(QLabel(CANARY))
    qtbot.addWidget(dialog)
    dialog.show()
    idle.lock_now()
    for top in QApplication.topLevelWidgets():
        if top.isVisible() and top is not controller.screen:
            assert top.windowTitle() == NEUTRAL_TITLE and _uniform(top), top


def test_the_lock_screen_takes_input_over_an_open_modal_dialog(qtbot, signed_in) -> None:
    _session, window, controller, idle, _clock, _tokens = signed_in
    dialog = QDialog(window)
    dialog.setWindowTitle(f"Note for {CANARY}")
    dialog.setModal(True)
    dialog.show()  # a modal dialog in progress (open(), not exec(), so the test keeps running)
    assert QApplication.activeModalWidget() is dialog
    idle.lock_now()
    assert QApplication.activeModalWidget() is controller.screen
    assert dialog.isVisible() and dialog.windowTitle() == NEUTRAL_TITLE and _uniform(dialog)
    _unlock(qtbot, controller, PASSWORD)
    assert not controller.is_locked and dialog.isVisible(), "the dialog and what was typed in it survive"
    assert QApplication.activeModalWidget() is dialog
    dialog.close()


def test_store_errors_are_shown_not_raised(qtbot, signed_in) -> None:
    session, _window, controller, idle, _clock, _tokens = signed_in
    idle.lock_now()
    (session.home / "keys.json").unlink()
    _unlock(qtbot, controller, PASSWORD)
    assert controller.is_locked and controller.screen.message.text()
    with pytest.raises(StoreError):
        session.unlock(PASSWORD)
