"""Incidents, not raw alerts: the officer's work queue on the right of the main window.

Rows are workstation.incidents.Incident snapshots, already ranked (open first, then severity,
risk and recency). Selecting an incident shows its raw alerts underneath, so every alert stays
reachable; Acknowledge and Resolve act on the whole incident and are refused (with the reason)
where the rules say so, e.g. a tamper incident without a note.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from PySide6.QtCore import QEvent, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.snapshot_model import SnapshotTableModel
from workstation.clock import utc_now
from workstation.incidents import KIND_LABEL, Incident
from workstation.local_time import local_text
from workstation.route import format_age
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE

IncidentRole = Qt.ItemDataRole.UserRole + 10
COLUMNS = ("Severity", "Participant · incident")
STATE_MARK = {"open": "", "acknowledged": "acknowledged", "resolved": "resolved"}


def incident_line(incident: Incident) -> str:
    """"Low battery → No communication · 2 alerts": what happened, in order, and how many raw
    alerts were grouped (the raw alerts themselves are listed under the table)."""
    n = len(incident.alerts)
    return incident.summary + (f" · {n} alerts" if n > 1 else "")


def due_words(incident: Incident, now: datetime) -> str:
    """"late 3 h" (overdue), "due 40 min", or the age of the last alert when no officer is needed yet
    (short: the severity column is narrow at 1366x768)."""
    if incident.state == "resolved" or incident.due_at is None:
        return format_age(now - incident.last_at)
    if incident.due_at < now:
        return f"late {format_age(now - incident.due_at)}"
    return f"due {format_age(incident.due_at - now)}"


class IncidentTableModel(SnapshotTableModel):
    COLUMNS = COLUMNS

    def __init__(self, parent=None, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(parent)
        self._names: dict[str, str] = {}
        self._time_zones: dict[str, str] = {}
        self.clock = clock
        self._now = clock()

    def set_incidents(self, incidents: Sequence[Incident], names: dict[str, str]) -> None:
        self._names = dict(names)
        self.set_rows(incidents)

    def _rows_replaced(self) -> None:
        self._now = self.clock()  # ages are shown relative to the moment the list arrived

    def incidents(self) -> list[Incident]:
        return self._items

    def set_time_zones(self, zones: dict[str, str]) -> None:
        self._time_zones = dict(zones)

    def when(self, at: datetime, participant_id: str, fmt: str = "%d %b %H:%M") -> str:
        """`at` in the participant's time zone (labelled where the laptop's clock differs)."""
        return local_text(at, self._time_zones.get(participant_id, DEFAULT_AGENCY_TIME_ZONE), fmt)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        inc = self._items[index.row()]
        col = index.column()
        if role == IncidentRole:
            return inc
        if role == Qt.ItemDataRole.DisplayRole:
            # two lines a row, so a narrow pane still shows what happened (one line elided it to
            # "Rebecca Nelson · Low batter…"): severity / how long ago, who / what
            if col == 0:
                return f"{inc.severity.capitalize()}\n{due_words(inc, self._now)}"
            mark = "conflict" if inc.conflict else "pending" if inc.pending else STATE_MARK[inc.state]
            name = self._names.get(inc.participant_id, inc.participant_id)
            return f"{name}{' · ' + mark if mark else ''}\n{incident_line(inc)}"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.data(index).replace("\n", ", ")
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if inc.state == "resolved":
                return theme.colour("muted")
            if inc.conflict:
                return theme.colour("danger")
            if col == 0:
                return theme.colour("pending" if inc.pending else theme.SEVERITY_COLOUR_KEY.get(inc.severity, "muted"))
        if role == Qt.ItemDataRole.ToolTipRole:
            conflict = f"\n{inc.conflict}" if inc.conflict else ""
            pid = inc.participant_id
            return (f"{inc.title}: {inc.summary}\nfirst {self.when(inc.opened_at, pid)}, "
                    f"last {self.when(inc.last_at, pid)}{conflict}")
        return None


class IncidentsPanel(QWidget):
    """Keyboard: Enter opens the incident's participant, Space goes to its raw alerts, Tab leaves."""

    #: the current incident's participant (selecting an incident selects its participant)
    participantSelected = Signal(str)
    participantActivated = Signal(str)
    acknowledgeRequested = Signal(object)  # Incident
    resolveRequested = Signal(object)  # Incident

    def __init__(self, parent=None, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(parent)
        self.model = IncidentTableModel(self, clock=clock)
        self._all: list[Incident] = []
        self._names: dict[str, str] = {}
        self._followed: str | None = None  # the incident whose participant was last selected
        self.title = QLabel("<b>Incidents</b>", self)
        self.show_resolved = QCheckBox("All alerts", self)
        self.show_resolved.setAccessibleName("Show resolved incidents")
        self.show_resolved.toggled.connect(self._refilter)
        self.table = QTableView(self)
        self.table.setAccessibleName("Incidents table")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(24)
        header.resizeSection(0, 68)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().lineSpacing() * 2 + 10)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table instead of walking its cells
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.table.doubleClicked.connect(self._activate)
        self.table.activated.connect(self._activate)  # Enter
        self.table.installEventFilter(self)
        self.alerts = QListWidget(self)
        self.alerts.setAccessibleName("Raw alerts of the selected incident")
        self.alerts_title = QLabel("Select an incident to see its alerts", self)
        self.ack = QPushButton("Acknowledge", self)
        self.ack.setToolTip("Acknowledge the selected incident (Ctrl+K)")
        self.ack.setAccessibleName("Acknowledge incident")
        self.resolve = QPushButton("Resolve…", self)
        self.resolve.setToolTip("Resolve the selected incident (Ctrl+E); tamper incidents need a note")
        self.resolve.setAccessibleName("Resolve incident")
        self.open_participant = QPushButton("&Open participant", self)
        self.open_participant.setAccessibleName("Open participant of the incident")
        self.ack.clicked.connect(lambda: self._emit(self.acknowledgeRequested))
        self.resolve.clicked.connect(lambda: self._emit(self.resolveRequested))
        self.open_participant.clicked.connect(self._activate)
        # a conflict is said in words beside the incident, not only as a count in the status bar
        self.conflict = QLabel(self)
        self.conflict.setWordWrap(True)
        self.conflict.setAccessibleName("Conflict on the selected incident")
        self.conflict.setStyleSheet(f"color: {theme.semantic().danger}")
        self.conflict.hide()
        self.ratio = QLabel(self)
        self.ratio.setAccessibleName("Alert to incident ratio")
        self.ratio.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.show_resolved)
        buttons = QHBoxLayout()
        for b in (self.ack, self.resolve, self.open_participant):
            buttons.addWidget(b)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.table)
        raw = QWidget(self)
        raw_layout = QVBoxLayout(raw)
        raw_layout.setContentsMargins(0, 4, 0, 0)
        raw_layout.setSpacing(2)
        raw_layout.addWidget(self.alerts_title)
        raw_layout.addWidget(self.alerts, 1)
        split.addWidget(raw)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(head)
        layout.addWidget(split, 1)
        layout.addWidget(self.conflict)
        layout.addLayout(buttons)
        layout.addWidget(self.ratio)
        self._update_buttons()

    def set_incidents(self, incidents: Sequence[Incident], names: dict[str, str], raw_alerts: int) -> None:
        incidents = list(incidents)
        if incidents != self._all or names != self._names:  # else keep the table: no reset, no repaint
            keep = self.current_incident()
            self._all = incidents
            self._names = names
            self._refilter()
            if keep is not None:
                self.select_incident(keep.id)
        needing = [i for i in incidents if i.state != "resolved" and i.needs_action]
        acknowledged = sum(1 for i in needing if i.state == "acknowledged")
        self.title.setText(f"<b>Needs action</b> ({len(needing):,}, {acknowledged:,} acknowledged)")
        n = len(incidents)
        self.ratio.setText(
            f"{raw_alerts:,} alerts grouped into {n:,} incidents ({raw_alerts / n:.1f} per incident)" if n else "No alerts."
        )

    def _refilter(self, *_args) -> None:
        show = self.show_resolved.isChecked()
        # the queue opens on what needs the officer; the box adds what may still clear and what closed
        self.model.set_incidents(
            [i for i in self._all if show or (i.state != "resolved" and i.needs_action) or i.conflict], self._names
        )
        self._update_buttons()

    def current_incident(self) -> Incident | None:
        ix = self.table.currentIndex()
        return self.model.data(ix, IncidentRole) if ix.isValid() else None

    def select_incident(self, incident_id: str) -> bool:
        for row, inc in enumerate(self.model.incidents()):
            if inc.id == incident_id:
                self.table.setCurrentIndex(self.model.index(row, 0))
                return True
        return False

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if (watched is self.table and event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Space
                and not event.modifiers() and self.alerts.count()):
            self.alerts.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.alerts.setCurrentRow(0)
            return True
        return super().eventFilter(watched, event)

    def _emit(self, signal) -> None:
        incident = self.current_incident()
        if incident is not None:
            signal.emit(incident)

    def _activate(self, *_args) -> None:
        incident = self.current_incident()
        if incident is not None:
            self.participantActivated.emit(incident.participant_id)

    def _current_changed(self, current: QModelIndex, _prev: QModelIndex) -> None:
        self.alerts.clear()
        incident = self.model.data(current, IncidentRole) if current.isValid() else None
        n = len(incident.alerts) if incident is not None else 0
        self.alerts_title.setText(f"{n} alert{'s' if n != 1 else ''} in this incident" if incident is not None
                                  else "Select an incident to see its alerts")
        if incident is not None and incident.id != self._followed:
            # a new choice of the officer, not the same incident re-selected after a reload
            self._followed = incident.id
            self.participantSelected.emit(incident.participant_id)
        if incident is not None:
            for a in incident.alerts:
                pending = " (pending)" if a.pending else ""
                detail = f" — {a.detail}" if a.detail else ""
                self.alerts.addItem(
                    f"{self.model.when(a.opened_at, a.participant_id)}  {KIND_LABEL.get(a.kind, a.kind)} · "
                    f"{a.severity} · {a.state}{pending}{detail}"
                )
        self._update_buttons()

    def _update_buttons(self) -> None:
        incident = self.current_incident()
        words = incident.conflict if incident is not None else ""
        self.conflict.setText(words)
        self.conflict.setVisible(bool(words))
        actionable = incident is not None and incident.state != "resolved" and not incident.pending
        self.ack.setEnabled(actionable and incident.state == "open")
        self.resolve.setEnabled(actionable)
        self.open_participant.setEnabled(incident is not None)
