"""The lock screen (CJIS AC-11, AC-11(1), SC-10): pattern-hiding, password to unlock.

`LockController` ties together:
- the idle timer (workstation.security.idle_lock), fed by an application-wide event filter that
  reports keyboard, mouse, wheel and touch input as activity;
- "Lock now" (Ctrl+L, an application-wide shortcut on every window it is installed on);
- the session: on lock `Lockable.lock()` has the core (WorkstationSession.lock) drop the server
  tokens and close the store (the data key is released with its connections); on unlock
  `Lockable.unlock(password)` has it re-open the store through the failed-unlock policy and log
  in to the server again; `resume_gui()` then brings the same window back.

Pattern hiding: every other top-level window gets an opaque cover child raised above all its
content, its web views (the map) are hidden, its title is replaced by a neutral one and it is
disabled, so nothing of the caseload can be seen or typed into; tooltips are closed. Windows
are covered rather than hidden because hiding a modal dialog ends its exec() and would lose a
half-written note. The lock screen itself shows only the product name, who is signed in, the
password field and generic messages (IA-6).

The password check runs on a worker thread: the KDF takes a noticeable fraction of a second
and the GUI thread never waits on it.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Protocol

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut, QWindow
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from workstation.security.idle_lock import IdleLock
from workstation.security.session_cap import SessionCap

if TYPE_CHECKING:
    from ui.main_window import MainWindow
    from workstation.session import WorkstationSession

LOCK_SHORTCUT = "Ctrl+L"
ADOPT_WINDOWS_MS = 500
NEUTRAL_TITLE = "Field Workstation (locked)"
COVER_NAME = "lockCover"
#: longest wait, on the lock's worker, for reads already running before the store closes
CLOSE_WAIT_MS = 10_000
_ACTIVITY_EVENTS = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
    }
)


class Lockable(Protocol):
    """What the lock needs from the session (workstation.session implements it)."""

    def lock(self, reason: str) -> None:
        """Drop tokens and close the store (releasing the data key)."""

    def unlock(self, password: str) -> None:
        """Re-open the store and re-login; raises with an officer-readable message on failure."""

    def release_with_code(self, code: str) -> bool:
        """A one-time admin code releases a lockout (True when it did)."""

    def resume_gui(self) -> None:
        """GUI thread, after a successful unlock: bring back what lock suspended."""

    @property
    def officer_name(self) -> str: ...


class LockScreen(QWidget):
    """The only window visible while locked."""

    unlock_requested = Signal(str)
    code_entered = Signal(str)

    def __init__(self, officer_name: str) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.setObjectName("lockScreen")
        # Application-modal and shown last, so it is the one window that takes input even when a
        # modal dialog (a half-written note) was open when the lock came.
        self.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.setWindowTitle(NEUTRAL_TITLE)
        self.setAccessibleName("Workstation locked")
        layout = QVBoxLayout(self)
        layout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("This workstation is locked")
        title.setAccessibleName("This workstation is locked")
        who = QLabel(f"Signed in as {officer_name}. Enter your password to continue.")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Password")
        self.password.setPlaceholderText("Password")
        self.unlock_button = QPushButton("&Unlock")
        self.unlock_button.setAccessibleName("Unlock")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Unlock status")
        self.code = QLineEdit()
        self.code.setAccessibleName("One-time admin code")
        self.code.setPlaceholderText("One-time admin code (from your administrator)")
        self.code_button = QPushButton("Use admin &code")
        self.code_button.setAccessibleName("Use admin code")
        for widget in (title, who, self.password, self.unlock_button, self.message, self.code, self.code_button):
            layout.addWidget(widget)
        self.password.returnPressed.connect(self._submit)
        self.unlock_button.clicked.connect(self._submit)
        self.code_button.clicked.connect(lambda: self.code_entered.emit(self.code.text()))

    def _submit(self) -> None:
        self.unlock_requested.emit(self.password.text())

    def busy(self, on: bool) -> None:
        for widget in (self.password, self.unlock_button, self.code, self.code_button):
            widget.setEnabled(not on)
        if on:
            self.message.setText("Checking…")

    def show_error(self, text: str) -> None:
        self.password.clear()
        self.message.setText(text)
        self.password.setFocus()


class _Cover(QFrame):
    """Opaque, child of a covered window, resized with it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName(COVER_NAME)
        self.setAutoFillBackground(True)
        self.setStyleSheet(f"#{COVER_NAME} {{ background: #202830; }}")
        self.setGeometry(parent.rect())
        parent.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parentWidget().rect())
            self.raise_()
        return False


class LockController(QObject):
    locked_changed = Signal(bool)
    _unlock_done = Signal(str)  # "" on success, else the message (from the worker thread)

    def __init__(self, session: Lockable, idle: IdleLock, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.idle = idle
        self.screen: LockScreen | None = None
        self._covered: list[tuple[QWidget, str, _Cover, list[QWidget]]] = []
        self._worker: threading.Thread | None = None
        self._was_active: QWidget | None = None
        self._shortcuts: list[QShortcut] = []
        self.idle.lock_requested.connect(self.lock)
        self._unlock_done.connect(self._finish_unlock)
        assert QApplication.instance() is not None, "create the QApplication first"
        # Input is watched on each top-level QWindow, which receives every key and mouse event of
        # its widgets (the map's web view included) before they are dispatched. Not on the whole
        # QApplication: a Python event filter there sees events of QtWebEngine-internal objects
        # and crashed the real app (segfault, PySide6 6.12, measured here).
        self._watched: list[QWindow] = []
        self._adopt = QTimer(self)
        self._adopt.setInterval(ADOPT_WINDOWS_MS)
        self._adopt.timeout.connect(self.watch_windows)
        self._adopt.start()
        self.watch_windows()

    # -- wiring -------------------------------------------------------------------------------
    def install_shortcut(self, window: QWidget) -> QShortcut:
        """Ctrl+L on `window` (and any widget inside it) locks at once."""
        shortcut = QShortcut(QKeySequence(LOCK_SHORTCUT), window)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.activated.connect(self.idle.lock_now)
        self._shortcuts.append(shortcut)
        return shortcut

    def watch_windows(self) -> None:
        """Start watching top-level windows that appeared since the last look (new dialogs)."""
        alive = [w for w in self._watched if shiboken6.isValid(w)]
        for window in QGuiApplication.topLevelWindows():
            if not any(window is w for w in alive):
                window.installEventFilter(self)
                alive.append(window)
        self._watched = alive

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() in _ACTIVITY_EVENTS and not self.is_locked:
            self.idle.activity()
        return False

    def shutdown(self) -> None:
        self.idle.stop()
        self._adopt.stop()
        for window in self._watched:
            if shiboken6.isValid(window):
                window.removeEventFilter(self)
        self._watched = []
        if self._worker is not None:
            self._worker.join()
        if self.screen is not None:
            self.screen.close()
            self.screen.deleteLater()
            self.screen = None

    @property
    def is_locked(self) -> bool:
        return self.screen is not None

    # -- lock ---------------------------------------------------------------------------------
    def lock(self, reason: str = "manual") -> None:
        if self.is_locked:
            return
        QToolTip.hideText()
        self._was_active = QApplication.activeWindow()
        for window in QApplication.topLevelWidgets():
            if window.isVisible() and not isinstance(window, LockScreen):
                self._cover(window)
        self.screen = LockScreen(self.session.officer_name)
        self.screen.unlock_requested.connect(self._start_unlock)
        self.screen.code_entered.connect(self._use_code)
        self.screen.show()
        self.screen.raise_()
        self.screen.activateWindow()
        self.screen.password.setFocus()
        # After the screen is up: the session then drops tokens and releases the key.
        self.session.lock(reason)
        self.locked_changed.emit(True)

    def _cover(self, window: QWidget) -> None:
        # web views (the map) exist only if their module was loaded; importing it here just to
        # look cost 75 ms of GUI-thread time on lock in a session without a map
        web = sys.modules.get("PySide6.QtWebEngineWidgets")
        hidden = [view for view in window.findChildren(web.QWebEngineView) if view.isVisible()] if web else []
        for view in hidden:
            view.hide()
        cover = _Cover(window)
        cover.show()
        cover.raise_()
        self._covered.append((window, window.windowTitle(), cover, hidden))
        window.setWindowTitle(NEUTRAL_TITLE)
        window.setEnabled(False)

    # -- unlock -------------------------------------------------------------------------------
    def _start_unlock(self, password: str) -> None:
        if self._worker is not None and self._worker.is_alive():
            return
        assert self.screen is not None
        self.screen.busy(True)

        def run() -> None:
            try:
                self.session.unlock(password)
            except Exception as exc:  # noqa: BLE001 - shown to the officer; the lock stays
                self._unlock_done.emit(str(exc) or "Unlock failed.")
            else:
                self._unlock_done.emit("")

        self._worker = threading.Thread(target=run, name="unlock", daemon=True)
        self._worker.start()

    def _use_code(self, code: str) -> None:
        assert self.screen is not None
        if self.session.release_with_code(code.strip()):
            self.screen.code.clear()
            self.screen.message.setText("Released by the administrator code. Enter your password.")
        else:
            self.screen.message.setText("That code was not accepted.")

    def _finish_unlock(self, error: str) -> None:
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        if self.screen is None:
            return
        if error:
            self.screen.busy(False)
            self.screen.show_error(error)
            return
        self.session.resume_gui()  # GUI-thread part of unlocking
        for window, title, cover, hidden in self._covered:
            if not shiboken6.isValid(window):
                continue  # closed while locked
            window.setWindowTitle(title)
            window.setEnabled(True)
            cover.hide()
            cover.deleteLater()
            for view in hidden:
                if shiboken6.isValid(view):
                    view.show()
        self._covered.clear()
        self.screen.close()
        self.screen.deleteLater()
        self.screen = None
        # the officer goes on where they were, keyboard included (the half-written note's field)
        if self._was_active is not None and shiboken6.isValid(self._was_active):
            self._was_active.activateWindow()
        self._was_active = None
        self.idle.reset()
        self.locked_changed.emit(False)


class AppLock:
    """`Lockable` for the running application (ui/app.py): the GUI wrapper of the session's lock.

    The window stays: lock suspends it (timers, live feed, automatic sync) and the session's
    lock runs on a worker (audit `lock`, tokens forgotten, store closed, so the data key is
    released); the GUI thread never waits on disk or network. Unlock re-opens the session on the
    unlock worker, then `resume_gui` resumes the same window: the selection, the search, the map
    view and any half-written form (its text held only in the widgets' memory, never on disk)
    are where the officer left them, behind the cover until then.
    """

    def __init__(self, session: WorkstationSession, window: MainWindow) -> None:
        self.session, self.window = session, window
        self._closer: threading.Thread | None = None

    @property
    def officer_name(self) -> str:
        return self.session.officer_name

    @property
    def locked(self) -> bool:
        return self._closer is not None

    def lock(self, reason: str) -> None:
        """GUI thread, returns at once; the session locks on a worker."""
        if self._closer is not None:
            return
        session, window = self.session, self.window
        window.suspend()  # timers stop now; the services' threads stop on their own thread

        def close() -> None:
            window.services.wait_stopped()
            # reads already running finish against the open store before it closes
            QThreadPool.globalInstance().waitForDone(CLOSE_WAIT_MS)
            session.lock(reason)

        self._closer = threading.Thread(target=close, name="lock-close", daemon=True)
        self._closer.start()

    @property
    def closed(self) -> bool:
        """The locked session's store is closed (data key released)."""
        return self._closer is not None and not self._closer.is_alive()

    def wait_closed(self, timeout: float | None = 30.0) -> bool:
        """Off the GUI thread (unlock's worker, application exit): wait for lock's close."""
        if self._closer is not None:
            self._closer.join(timeout)
            return not self._closer.is_alive()
        return True

    def unlock(self, password: str) -> None:  # worker thread
        self.wait_closed()  # the store closes before it is opened again
        self.session.unlock(password)

    def resume_gui(self) -> None:  # GUI thread, after a successful unlock
        self._closer = None
        self.window.resume()

    def release_with_code(self, code: str) -> bool:
        return self.session.release_with_code(code)


def install_lock(session: WorkstationSession, window: MainWindow, minutes: float) -> tuple[LockController, AppLock]:
    """Idle lock (with the 12 h session cap), Ctrl+L and the lock screen for the running app."""
    lockable = AppLock(session, window)
    idle = IdleLock(minutes, session_cap=SessionCap())
    controller = LockController(lockable, idle)
    idle.setParent(controller)
    controller.install_shortcut(window)
    window.lock_requested.connect(idle.lock_now)

    def unlocked(locked: bool) -> None:
        if not locked and idle.session_cap is not None:
            idle.session_cap.authenticated()

    controller.locked_changed.connect(unlocked)
    idle.start()
    return controller, lockable
