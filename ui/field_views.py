"""Field extras: today's visits as a route, and the sync journal.

The route pane shows workstation.route stops (nearest-neighbour order from the office) with
"where they should be now" beside "where the device is". The journal lists what each sync
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
from workstation.read.outbox import JournalEntry
from workstation.route import RouteStop

ROUTE_COLUMNS = ("#", "Time", "Participant", "Visit", "Leg", "Should be now", "Device")


class RouteView(QWidget):
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
        self._ids: list[str] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.table, 1)

    def set_stops(self, stops: Sequence[RouteStop], local_offset) -> None:
        self.table.setRowCount(len(stops))
        self._ids = [s.visit.participant_id for s in stops]
        total = sum(s.leg_km or 0 for s in stops)
        self.header.setText(f"<b>Today's visits</b> — {len(stops)} stops, {total:.1f} km by straight-line legs")
        danger = theme.colour("danger")
        for r, s in enumerate(stops):
            values = (
                str(s.order),
                (s.visit.starts_at + local_offset).strftime("%H:%M"),
                f"{s.visit.name} ({s.visit.case_number})",
                s.visit.kind.replace("_", " "),
                f"{s.leg_km:.1f} km" if s.leg_km is not None else "—",
                s.expected,
                s.device,
            )
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                if c == 6 and (s.device == "No fix" or (s.device_km_from_expected or 0) > 0.15):
                    item.setForeground(danger)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)

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
