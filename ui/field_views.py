"""Field extras: today's visits as a route, and the sync journal.

The route pane shows workstation.route's plan (appointment-time order with the travel between
stops, office check-ins apart) with "where they should be now" beside "where the device is". The journal lists what each sync
brought and sent (local_db SyncJournal rows, newest first).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from workstation.local_time import local_text
from workstation.read.outbox import JournalEntry
from workstation.route import RoutePlan

ROUTE_COLUMNS = ("#", "Time", "Participant", "Visit", "Travel", "Should be now", "Device")


class RouteView(QWidget):
    """The day's stops in appointment-time order (workstation.route.plan_route); office check-ins
    are listed apart underneath. Enter or a double click opens the participant."""

    participantActivated = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.header = QLabel("<b>Today's visits</b>", self)
        self.table = QTableWidget(0, len(ROUTE_COLUMNS), self)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table
        self.table.setAccessibleName("Today's visits route")
        self.table.setHorizontalHeaderLabels(list(ROUTE_COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.table.cellActivated.connect(self._activate)
        self.table.cellDoubleClicked.connect(self._activate)
        self.checkins = QLabel(self)
        self.checkins.setWordWrap(True)
        self.checkins.setAccessibleName("Office check-ins today")
        self._ids: list[str] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.checkins)

    def set_plan(self, plan: RoutePlan) -> None:
        stops = plan.stops
        self.table.setRowCount(len(stops))
        self._ids = [s.visit.participant_id for s in stops]
        ahead = [s for s in stops if not s.past]
        late = sum(1 for s in ahead if s.late)
        drive = sum(s.travel_min or 0 for s in ahead)
        self.header.setText(
            f"<b>Today's visits</b> — {len(ahead)} ahead, {plan.total_km:.1f} km, about {drive} min driving"
            + (f", <span style='color:{theme.semantic().danger}'>{late} not reachable on time</span>" if late else "")
        )
        danger, muted = theme.colour("danger"), theme.colour("muted")
        for r, s in enumerate(stops):
            travel = "—" if s.leg_km is None else f"{s.leg_km:.1f} km · {s.travel_min} min"
            if s.late:
                travel += " · late"
            values = (
                "past" if s.past else str(s.order),
                local_text(s.visit.starts_at, s.visit.time_zone),
                s.visit.name,
                s.visit.kind.replace("_", " "),
                travel,
                s.expected,
                s.device,
            )
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                if c == 2:
                    item.setToolTip(f"{s.visit.name} · {s.visit.case_number} · {s.visit.place}")
                if s.past:
                    item.setForeground(muted)
                elif (c == 6 and (s.device == "No fix" or (s.device_km_from_expected or 0) > 0.15)) or (c == 4 and s.late):
                    item.setForeground(danger)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        if plan.checkins:
            items = ", ".join(f"{local_text(v.starts_at, v.time_zone)} {v.name}" for v in plan.checkins)
            self.checkins.setText(f"<b>Office check-ins</b> (they come to the office): {items}")
        else:
            self.checkins.setText("")

    def _activate(self, row: int, _col: int) -> None:
        if 0 <= row < len(self._ids):
            self.participantActivated.emit(self._ids[row])


class JournalDialog(QDialog):
    def __init__(self, entries: Sequence[JournalEntry], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sync journal")
        self.resize(820, 480)
        cols = ("Started (UTC)", "Took", "Outcome", "Brought", "Sent", "Detail")
        table = QTableWidget(len(entries), len(cols), self)
        table.setTabKeyNavigation(False)  # Tab leaves the table
        table.setAccessibleName("Sync journal")
        table.setHorizontalHeaderLabels(list(cols))
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, e in enumerate(entries):
            s = e.summary
            took = f"{(e.finished_at - e.started_at).total_seconds():.1f} s" if e.finished_at else "—"
            brought = f"{s.get('changes_applied', 0):,} changes, {s.get('bytes_down', 0) / 1024:,.0f} KiB"
            sent = (f"{s.get('actions_sent', 0)} actions ({s.get('actions_applied', 0)} applied, "
                    f"{s.get('actions_conflict', 0)} conflict, {s.get('actions_rejected', 0)} rejected)")
            values = (f"{e.started_at:%Y-%m-%d %H:%M:%S}", took, e.outcome, brought, sent, e.error or "")
            for c, v in enumerate(values):
                table.setItem(r, c, QTableWidgetItem(v))
        table.resizeColumnsToContents()
        table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close")
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"{len(entries)} syncs recorded", self))
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.table = table
