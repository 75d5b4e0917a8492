"""Incidents, not raw alerts: the officer's work queue on the right of the main window.

Rows are workstation.incidents.Incident snapshots, already ranked (workstation.incidents.rank_key).
The bar above (ui.incident_queue_bar) switches between Needs action, Auto-resolved today and All
alerts and filters by age, kind and risk (workstation.triage_queue's rule). Selecting an incident
shows its raw alerts underneath, so every alert stays reachable. Several rows can be selected
(Shift/Ctrl-click, Shift+arrows, Ctrl+Space, Ctrl+A) and acknowledged at once; Resolve acts on one
incident and is refused (with the reason) where the rules say so, e.g. a tamper incident without a note.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from PySide6.QtCore import QEvent, QItemSelection, QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
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
from ui.incident_queue_bar import QueueBar
from ui.snapshot_model import SnapshotTableModel
from workstation.clock import utc_now
from workstation.incidents import KIND_LABEL, Incident
from workstation.local_time import local_text
from workstation.route import format_age
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE
from workstation.triage_queue import NO_FILTER, QueueClock, queue, view_counts

IncidentRole = Qt.ItemDataRole.UserRole + 10
COLUMNS = ("Severity", "Participant · incident")
#: rows inserted or removed one by one at most; more (a filter chosen, a first sync) is one reset
MAX_ROW_CHANGES = 50
STATE_MARK = {"open": "", "acknowledged": "acknowledged", "resolved": "resolved"}


def incident_line(incident: Incident) -> str:
    """"Low battery → No communication · 2 alerts": what happened, in order, and how many raw
    alerts were grouped (the raw alerts themselves are listed under the table)."""
    n = len(incident.alerts)
    return incident.summary + (f" · {n} alerts" if n > 1 else "")


def cleared_words(incident: Incident) -> str:
    """"Cleared: contact restored" (what the server recorded when the condition cleared)."""
    reason = incident.resolution.removeprefix("cleared:").strip() or "condition cleared"
    return f"Cleared: {reason}"


def state_words(incident: Incident) -> str:
    """"acknowledged, pending · " before the incident line: what the officer did to it (the row keeps
    its place in the queue until resolved, so the mark is what says it was handled)."""
    if incident.conflict:
        return "conflict · "
    words = [w for w in (STATE_MARK[incident.state], "pending" if incident.pending else "") if w]
    return ", ".join(words) + " · " if words else ""


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
        self._cases: dict[str, str] = {}
        self._time_zones: dict[str, str] = {}
        self.clock = clock
        self._now = clock()

    def set_incidents(self, incidents: Sequence[Incident], names: Mapping[str, str],
                      cases: Mapping[str, str] | None = None) -> bool:
        """Show these rows, changing only what differs: a few incidents that came or went (a live
        alert, a resolve) are inserted or removed where they rank, the others that changed
        (acknowledged, a new alert in them) are repainted in place, and the view keeps its
        selection and scroll position. Many changes, or incidents that moved, replace the list (one
        reset); returns True then."""
        incidents = list(incidents)
        cases = dict(cases) if cases is not None else self._cases
        self._names, self._cases = dict(names), cases
        self._now = self.clock()  # "due 40 min" / "late 3 h" as of now
        new_ids = [i.id for i in incidents]
        kept = set(new_ids) & {i.id for i in self._items}
        if (len(set(new_ids)) != len(new_ids)
                or len(self._items) + len(incidents) - 2 * len(kept) > MAX_ROW_CHANGES
                or [i.id for i in self._items if i.id in kept] != [i for i in new_ids if i in kept]):
            self.set_rows(incidents)
            return True
        for row in range(len(self._items) - 1, -1, -1):  # bottom up: the rows above keep their numbers
            if self._items[row].id not in kept:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._items[row]
                self.endRemoveRows()
        for row, incident in enumerate(incidents):  # top down: what is above is already the new list
            if incident.id not in kept:
                self.beginInsertRows(QModelIndex(), row, row)
                self._items.insert(row, incident)
                self.endInsertRows()
        self._items = incidents
        if incidents:
            # one signal for the rest: the view repaints the rows on screen, not the 1,000 below (cheaper
            # than comparing every row to find the few an acknowledge changed)
            self.dataChanged.emit(self.index(0, 0), self.index(len(incidents) - 1, len(COLUMNS) - 1))
        return False

    def incidents(self) -> list[Incident]:
        return self._items

    def set_time_zones(self, zones: dict[str, str]) -> None:
        self._time_zones = dict(zones)

    def when(self, at: datetime, participant_id: str, fmt: str = "%d %b %H:%M") -> str:
        """`at` in the participant's time zone (labelled where the laptop's clock differs)."""
        return local_text(at, self._time_zones.get(participant_id, DEFAULT_AGENCY_TIME_ZONE), fmt)

    def who(self, incident: Incident) -> str:
        """"Sara Negrete · CHI-2026-0100123": the case number beside the name, since two participants
        may share one; an incident about several participants (an outage) says how many."""
        people = incident.participant_ids
        if len(people) > 1:
            return f"{incident.title} · {len(people)} participants"
        name = self._names.get(incident.participant_id, incident.participant_id)
        case = self._cases.get(incident.participant_id)
        return f"{name} · {case}" if case else name

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
                if inc.auto_resolved and inc.resolved_at is not None:  # when it cleared, in their zone
                    return f"{inc.severity.capitalize()}\n{self.when(inc.resolved_at, inc.participant_id, '%H:%M')}"
                return f"{inc.severity.capitalize()}\n{due_words(inc, self._now)}"
            who = self.who(inc)
            if inc.auto_resolved:
                return f"{who}\n{cleared_words(inc)} ({inc.summary})"
            return f"{who}\n{state_words(inc)}{incident_line(inc)}"
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
            cleared = (f"\n{cleared_words(inc)} at {self.when(inc.resolved_at, pid)}"
                       if inc.auto_resolved and inc.resolved_at is not None else "")
            return (f"{inc.title}: {inc.summary}\nfirst {self.when(inc.opened_at, pid)}, "
                    f"last {self.when(inc.last_at, pid)}{cleared}{conflict}")
        return None


class IncidentsPanel(QWidget):
    """Keyboard: Enter opens the incident's participant, Space goes to its raw alerts, Shift+arrows
    and Ctrl+Space select several, Tab leaves (to the buttons; Shift+Tab to the views and filters)."""

    #: the current incident's participant (selecting an incident selects its participant)
    participantSelected = Signal(str)
    participantActivated = Signal(str)
    acknowledgeRequested = Signal(list)  # [Incident]: the selected rows
    resolveRequested = Signal(object)  # Incident

    def __init__(self, parent=None, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(parent)
        self.clock = clock
        self.model = IncidentTableModel(self, clock=clock)
        self._all: list[Incident] = []
        self._names: dict[str, str] = {}
        self._cases: dict[str, str] = {}
        self._followed: str | None = None  # the incident whose participant was last selected
        #: the agency's zone: the "today" of the views and the age filter
        self.agency_time_zone = DEFAULT_AGENCY_TIME_ZONE
        self.bar = QueueBar(self)
        self.bar.changed.connect(self._refilter)
        self.table = QTableView(self)
        self.table.setAccessibleName("Incidents table")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(24)
        header.resizeSection(0, 78)  # "due 40 min", "05:30 CST"
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().lineSpacing() * 2 + 10)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table instead of walking its cells
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        self.table.doubleClicked.connect(self._activate)
        self.table.activated.connect(self._activate)  # Enter
        self.table.installEventFilter(self)
        self.alerts = QListWidget(self)
        self.alerts.setAccessibleName("Raw alerts of the selected incident")
        self.alerts_title = QLabel("Select an incident to see its alerts", self)
        self.ack = QPushButton("Acknowledge", self)
        self.ack.setToolTip("Acknowledge the selected incidents, one or several (Ctrl+K)")
        self.ack.setAccessibleName("Acknowledge selected incidents")
        self.resolve = QPushButton("Resolve…", self)
        self.resolve.setToolTip("Resolve the selected incident, one at a time (Ctrl+E); tamper incidents need a note")
        self.resolve.setAccessibleName("Resolve incident")
        self.open_participant = QPushButton("&Open participant", self)
        self.open_participant.setAccessibleName("Open participant of the incident")
        self.ack.clicked.connect(self._acknowledge_selected)
        self.resolve.clicked.connect(self._resolve_current)
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
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.conflict)
        layout.addLayout(buttons)
        layout.addWidget(self.ratio)
        self._refilter()

    def set_incidents(self, incidents: Sequence[Incident], names: dict[str, str], raw_alerts: int,
                      cases: Mapping[str, str] | None = None) -> None:
        incidents = list(incidents)
        cases = dict(cases) if cases is not None else self._cases
        if incidents != self._all or names != self._names or cases != self._cases:  # else keep the table as is
            self._all, self._names, self._cases = incidents, names, cases
            self._refilter()
        n = len(incidents)
        self.ratio.setText(
            f"{raw_alerts:,} alerts grouped into {n:,} incidents ({raw_alerts / n:.1f} per incident)" if n else "No alerts."
        )

    def tick(self) -> None:
        """Time passed: the ages and due times on the rows, and what "last hour" and "today" hold."""
        self._refilter()

    # ------------------------------------------------------------------ views and filters
    def set_view(self, view: str) -> None:
        self.bar.set_view(view)

    def show_everything(self) -> None:
        """All alerts, no filter: where any incident of the snapshot is listed."""
        self.bar.blockSignals(True)
        self.bar.set_view("all")
        self.bar.blockSignals(False)
        self.bar.clear_filters()

    def _refilter(self, *_args) -> None:
        view, queue_filter = self.bar.view(), self.bar.queue_filter()
        clock = QueueClock.at(self.clock(), self.agency_time_zone)
        listed = queue(self._all, view, queue_filter, clock)
        keep_current = self.current_incident()
        keep_selected = {i.id for i in self.selected_incidents()}
        if self.model.set_incidents(listed, self._names, self._cases):
            self._restore_selection(keep_selected, keep_current.id if keep_current is not None else None)
        elif self.current_incident() != keep_current:  # changed in place (acknowledged): its alerts too
            self._current_changed(self.table.currentIndex(), QModelIndex())
        counts = view_counts(self._all, queue_filter, clock)
        unfiltered = view_counts(self._all, NO_FILTER, clock)[view] if queue_filter.active else len(listed)
        acknowledged = sum(1 for i in listed if i.state == "acknowledged") if view == "needs_action" else 0
        self.bar.show_counts(counts, len(listed), unfiltered, acknowledged)
        self._update_buttons()

    def _restore_selection(self, selected: set[str], current: str | None) -> None:
        """After the list was replaced, select again the incidents still listed (the officer's choice
        survives a reload), the current one last so the record and the raw alerts follow it."""
        selection = QItemSelection()
        last_column = self.model.columnCount() - 1
        for row, incident in enumerate(self.model.incidents()):
            if incident.id in selected:
                selection.select(self.model.index(row, 0), self.model.index(row, last_column))
        chooser = self.table.selectionModel()
        if current is not None:
            self.select_incident(current, keep_selection=True)
        chooser.select(selection, QItemSelectionModel.SelectionFlag.Select)

    # ------------------------------------------------------------------ selection
    def current_incident(self) -> Incident | None:
        ix = self.table.currentIndex()
        return self.model.data(ix, IncidentRole) if ix.isValid() else None

    def selected_incidents(self) -> list[Incident]:
        """The selected rows, in queue order (the current one when nothing is selected)."""
        rows = sorted(ix.row() for ix in self.table.selectionModel().selectedRows())
        items = self.model.incidents()
        chosen = [items[r] for r in rows if r < len(items)]
        current = self.current_incident()
        return chosen or ([current] if current is not None else [])

    def select_incident(self, incident_id: str, keep_selection: bool = False) -> bool:
        for row, inc in enumerate(self.model.incidents()):
            if inc.id == incident_id:
                flags = (QItemSelectionModel.SelectionFlag.NoUpdate if keep_selection else
                         QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
                self.table.selectionModel().setCurrentIndex(self.model.index(row, 0), flags)
                return True
        return False

    def select_incidents(self, incident_ids: Sequence[str]) -> int:
        """Select these incidents (those listed); returns how many were."""
        wanted = set(incident_ids)
        self.table.clearSelection()
        selection = QItemSelection()
        rows = [r for r, inc in enumerate(self.model.incidents()) if inc.id in wanted]
        for row in rows:
            selection.select(self.model.index(row, 0), self.model.index(row, self.model.columnCount() - 1))
        if rows:
            self.select_incident(self.model.incidents()[rows[0]].id)
        self.table.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.Select)
        return len(rows)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if (watched is self.table and event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Space
                and not event.modifiers() and self.alerts.count()):
            self.alerts.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.alerts.setCurrentRow(0)
            return True
        return super().eventFilter(watched, event)

    def _acknowledge_selected(self) -> None:
        chosen = self.selected_incidents()
        if chosen:
            self.acknowledgeRequested.emit(chosen)

    def _resolve_current(self) -> None:
        incident = self.current_incident()
        if incident is not None:
            self.resolveRequested.emit(incident)

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
                # an incident may name several participants' devices (an outage): say whose alert it is
                whose = "" if a.participant_id == incident.participant_id else (
                    f"{self._names.get(a.participant_id, a.participant_id)} · ")
                self.alerts.addItem(
                    f"{self.model.when(a.opened_at, a.participant_id)}  {whose}{KIND_LABEL.get(a.kind, a.kind)} · "
                    f"{a.severity} · {a.state}{pending}{detail}"
                )
        self._update_buttons()

    def _update_buttons(self) -> None:
        incident = self.current_incident()
        words = incident.conflict if incident is not None else ""
        self.conflict.setText(words)
        self.conflict.setVisible(bool(words))
        chosen = self.selected_incidents()
        can_ack = [i for i in chosen if i.state == "open" and not i.pending]
        self.ack.setEnabled(bool(can_ack))
        self.ack.setText(f"Acknowledge {len(can_ack)}" if len(chosen) > 1 else "Acknowledge")
        single = incident is not None and len(chosen) <= 1
        self.resolve.setEnabled(single and incident.state != "resolved" and not incident.pending)
        self.open_participant.setEnabled(incident is not None)
