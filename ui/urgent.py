"""Urgent incidents are never silent, and being offline is said once, not by 7,000 "stale" rows.

- A critical or tamper-class incident that arrives (workstation.incidents.Incident.urgent) raises a
  desktop notification where the platform offers one (a system tray that supports messages), asks
  the window manager to flag the window (QApplication.alert), and shows a banner at the top of the
  window naming the participant, with "Show" (selects the incident, its participant follows) and
  "Dismiss". Incidents already open when the window starts are counted, not announced.
- The window title carries the count of urgent open incidents: "Field Workstation (2 urgent) — Officer One".
- Without the live feed, a notice "Offline — data as of HH:MM" (the officer's clock) stands in for
  staleness: positions are judged as of that moment (workstation.read.rules.stale_reference).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QFrame, QHBoxLayout, QLabel, QPushButton, QSystemTrayIcon, QWidget

from ui import theme
from workstation.incidents import Incident

TITLE = "Field Workstation"


def window_title(officer_name: str, urgent: int) -> str:
    """"Field Workstation (2 urgent) — Officer One": the count right after the name, so a taskbar that
    cuts the title still shows it."""
    return TITLE + (f" ({urgent} urgent)" if urgent else "") + (f" — {officer_name}" if officer_name else "")


def local_clock(when: datetime) -> str:
    """HH:MM on the laptop's clock: the officer's own sense of "when did I last hear"."""
    return f"{when.replace(tzinfo=UTC).astimezone():%H:%M}"


class Banner(QFrame):
    """One line across the top of the window; hidden when it has nothing to say."""

    def __init__(self, parent: QWidget, accessible_name: str, colour_key: str) -> None:
        super().__init__(parent)
        self.setObjectName(accessible_name.replace(" ", ""))
        self.setAccessibleName(accessible_name)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAutoFillBackground(True)
        self.text = QLabel(self)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setWordWrap(True)
        self.text.setAccessibleName(accessible_name + " text")
        self._colour_key = colour_key
        self._restyle()
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 8, 4)
        self._layout.addWidget(self.text, 1)
        self.hide()

    def _restyle(self) -> None:
        """A solid band in the state's colour with text that keeps its contrast on it, light or dark."""
        band = theme.colour(self._colour_key, QApplication.palette())  # the app's, not this styled widget's
        text = "#000000" if band.lightnessF() > 0.55 else "#ffffff"
        sheet = (f"#{self.objectName()} {{ background: {band.name()}; border-radius: 3px; }}"
                 f"#{self.objectName()} > QLabel {{ color: {text}; font-weight: bold; }}")
        if sheet != self.styleSheet():  # setting a style sheet is itself a palette change
            self.setStyleSheet(sheet)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.PaletteChange:
            self._restyle()
        super().changeEvent(event)

    def add_button(self, text: str, name: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(text, self)
        button.setAccessibleName(name)
        button.clicked.connect(slot)
        self._layout.addWidget(button)
        return button

    def say(self, text: str) -> None:
        self.text.setText(text)
        self.setVisible(bool(text))


class UrgentIncidents(QObject):
    """Watches each applied snapshot's incidents; see the module docstring."""

    #: the officer asked to see this incident (banner "Show")
    showRequested = Signal(str)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self._seen: set[str] | None = None  # None until the first snapshot
        self._officer = ""
        self.count = 0
        #: (title, text) of every notification raised, whether or not the platform could show it
        self.notifications: list[tuple[str, str]] = []
        self._current: str | None = None
        self.banner = Banner(window, "Urgent incident banner", "danger")
        self.show_button = self.banner.add_button("Show", "Show the urgent incident", self._show)
        self.banner.add_button("Dismiss", "Dismiss the urgent incident banner", self._dismiss)
        self.offline = Banner(window, "Offline notice", "warning")
        self._tray: QSystemTrayIcon | None = None

    def set_officer(self, name: str) -> None:
        self._officer = name
        self._window.setWindowTitle(window_title(name, self.count))

    def update(self, incidents: Sequence[Incident], names: dict[str, str]) -> None:
        urgent = [i for i in incidents if i.urgent]
        self.count = len(urgent)
        self._window.setWindowTitle(window_title(self._officer, self.count))
        ids = {i.id for i in urgent}
        if self._seen is None:  # what was open at start is counted, not announced
            self._seen = ids
            return
        new = [i for i in urgent if i.id not in self._seen]
        self._seen |= ids
        if self._current is not None and self._current not in ids:
            self._dismiss()  # acknowledged or resolved meanwhile: nothing to call attention to
        if not new:
            return
        newest = max(new, key=lambda i: i.last_at)
        who = names.get(newest.participant_id, newest.participant_id)
        more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
        text = f"{newest.severity.capitalize()}: {newest.title}, {newest.summary} — {who}{more}"
        self._current = newest.id
        self.banner.say(text)
        self._notify(f"{newest.title}: {who}", text)

    def set_data_as_of(self, when: datetime | None) -> None:
        self.offline.say("" if when is None else
                         f"Offline — data as of {local_clock(when)}. Positions and their ages are as of then.")

    def _notify(self, title: str, text: str) -> None:
        self.notifications.append((title, text))
        QApplication.alert(self._window)
        if not (QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages()):
            return  # the banner and the title still say it
        if self._tray is None:
            self._tray = QSystemTrayIcon(self._window.windowIcon(), self)
            self._tray.show()
        self._tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Critical, 30_000)

    def _show(self) -> None:
        if self._current is not None:
            self.showRequested.emit(self._current)

    def _dismiss(self) -> None:
        self._current = None
        self.banner.say("")
