"""The status bar: connection state, time since the last sync, pending actions, live feed,
and the sync progress bar with its cancel button.

Everything shown is pushed in by the main window from plain values; the "3 min ago" text is
re-rendered by a slow timer because it changes with time, not with data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QProgressBar, QPushButton, QStatusBar, QWidget

from ui import theme
from workstation.clock import utc_now
from workstation.route import format_age

STATE_TEXT = {"online": "● Online", "degraded": "● Degraded", "offline": "● Offline"}
STATE_COLOUR = {"online": "ok", "degraded": "warning", "offline": "danger"}


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(parent)
        self.clock = clock
        self.connection = QLabel(self)
        self.connection.setAccessibleName("Connection state")
        self.synced = QLabel(self)
        self.synced.setAccessibleName("Last synced")
        self.pending = QLabel(self)
        self.pending.setAccessibleName("Pending actions")
        self.live = QLabel(self)
        self.live.setAccessibleName("Live feed state")
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Sync progress")
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel = QPushButton("Cancel sync", self)
        self.cancel.setAccessibleName("Cancel sync")
        self.cancel.hide()
        # Shown only when the audit trail's chain check (local, or the server's on upload) found a
        # break: the officer and the agency must learn of it, and it stays until the app restarts.
        self.audit = QLabel(self)
        self.audit.setAccessibleName("Audit trail problem")
        self.audit.hide()
        self.sign_in = QPushButton("Sign in…", self)
        self.sign_in.setAccessibleName("Sign in to the server again")
        self.sign_in.hide()
        for w in (self.progress, self.cancel):
            self.addWidget(w)
        self.addPermanentWidget(self.audit)
        self.addPermanentWidget(self.sign_in)
        for w in (self.live, self.pending, self.synced, self.connection):
            self.addPermanentWidget(w)
        self._last_sync: datetime | None = None
        self._sync_error: str | None = None
        self._ticker = QTimer(self)
        self._ticker.setObjectName("status-age-ticker")
        self._ticker.setInterval(15_000)
        self._ticker.timeout.connect(self._render_synced)
        self.set_connection("offline", None)
        self.set_pending(0, 0)
        self.set_live("off")
        self._render_synced()

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        # the coloured texts carry their colour inline: redraw them in the palette that is now in force
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_live_shown"):
            self.set_connection(*self._connection_shown)
            self.set_live(*self._live_shown)
        super().changeEvent(event)

    def set_connection(self, state: str, detail: str | None) -> None:
        self._connection_shown = (state, detail)
        c = theme.colour(STATE_COLOUR.get(state, "muted"), QApplication.palette()).name()
        self.connection.setText(f"<span style='color:{c}'>{STATE_TEXT.get(state, state)}</span>")
        self.connection.setToolTip(detail or state)
        self.connection.setProperty("state", state)

    def set_last_sync(self, when: datetime | None, error: str | None = None) -> None:
        self._last_sync = when
        self._sync_error = error
        self._render_synced()

    def _render_synced(self) -> None:
        if self._last_sync is None:
            text = "Never synced"
        else:
            age = format_age(self.clock() - self._last_sync)
            text = "Synced just now" if age == "now" else f"Last synced {age} ago"
        if self._sync_error:
            text += " · last sync failed"
            self.synced.setToolTip(self._sync_error)
        self.synced.setText(text)

    def set_audit_problem(self, problem: str) -> None:
        c = theme.colour("danger").name()
        self.audit.setText(f"<span style='color:{c}'>⚠ Audit trail break reported</span>")
        self.audit.setToolTip(f"{problem}\nThe break was recorded and sent to the agency; tell your supervisor.")
        self.audit.show()

    def set_pending(self, pending: int, problems: int) -> None:
        text = f"{pending} pending action{'s' if pending != 1 else ''}"
        if problems:
            c = theme.colour("danger").name()
            text += f" · <span style='color:{c}'>{problems} need attention</span>"
        self.pending.setText(text)

    def set_live(self, state: str, detail: str = "") -> None:
        words = {"on": "Live feed on", "connecting": "Live feed connecting…", "off": "Live feed off",
                 "error": "Live feed interrupted"}
        self._live_shown = (state, detail)
        colour = {"on": "ok", "connecting": "warning", "off": "muted", "error": "danger"}.get(state, "muted")
        c = theme.colour(colour, QApplication.palette()).name()
        self.live.setText(f"<span style='color:{c}'>{words.get(state, state)}</span>" + (f" · {detail}" if detail else ""))

    def show_progress(self, done: int, total: int, phase: str) -> None:
        self.progress.show()
        self.cancel.show()
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.progress.setFormat(f"{phase} {done:,}/{total:,}")

    def hide_progress(self) -> None:
        self.progress.hide()
        self.cancel.hide()
