"""The caseload panel: search box, filters, the table (ui.caseload_model through
ui.caseload_filter) and a count line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QEvent, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.caseload_filter import CaseloadFilter, CaseloadFilterProxy
from ui.caseload_model import CaseloadTableModel, Col, RowRole
from workstation.clock import utc_now


class CaseloadPanel(QWidget):
    """Search box, filters, the table and a count line; emits participantSelected(id)."""

    participantSelected = Signal(str)

    def __init__(self, parent=None, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(parent)
        self.model = CaseloadTableModel(self, clock=clock)
        self.proxy = CaseloadFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search name, case number, address, phone  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search caseload")
        self.search.textChanged.connect(self._apply_filter)
        self.search.installEventFilter(self)

        self.only_incidents = QCheckBox("Incidents", self)
        self.only_today = QCheckBox("Due today", self)
        self.only_stale = QCheckBox("Stale", self)
        self.only_device = QCheckBox("Device issue", self)
        self.only_incidents.setToolTip("Only participants with open incidents")
        self.only_today.setToolTip("Only participants with an appointment today")
        self.only_stale.setToolTip("Only participants whose last fix is older than 15 minutes (or none)")
        self.only_device.setToolTip("Only participants with low battery, strap problem, stale or missing device")
        self.risk = QComboBox(self)
        self.risk.addItem("Any risk", "")
        for level in ("high", "medium", "low"):
            self.risk.addItem(f"{level.capitalize()}", level)
        self.risk.setAccessibleName("Risk filter")
        for box in (self.only_incidents, self.only_today, self.only_stale, self.only_device):
            box.setAccessibleName(f"Filter: {box.toolTip() or box.text()}")
            box.toggled.connect(self._apply_filter)
        self.risk.currentIndexChanged.connect(self._apply_filter)

        self.table = QTableView(self)
        self.table.setAccessibleName("Caseload table")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Col.NAME, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table instead of walking its cells
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        # fixed row heights: the view never measures 100k rows
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        # name to incidents fit the 1366 px layout's caseload pane (the rest scrolls in)
        for col, width in {Col.NAME: 130, Col.CASE: 124, Col.RISK: 56, Col.LAST_FIX: 66, Col.BATTERY: 60,
                           Col.INCIDENTS: 64, Col.DEVICE: 64}.items():
            header.resizeSection(col, width)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)

        self.count = QLabel(self)
        self.count.setAccessibleName("Caseload count")

        filters = QHBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        for w in (self.only_incidents, self.only_today, self.only_stale, self.only_device):
            filters.addWidget(w)
        filters.addStretch(1)
        filters.addWidget(self.risk)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count)

        self.model.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        """In the search box: Down goes to the results, Enter opens the first (or current) one,
        Escape clears the search (or, when empty, goes back to the table)."""
        if watched is self.search and event.type() == QEvent.Type.KeyPress and not event.modifiers() & ~(
            Qt.KeyboardModifier.KeypadModifier
        ):
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._go_to_results()
                return True
            if key == Qt.Key.Key_Escape:
                if self.search.text():
                    self.search.clear()
                else:
                    self.table.setFocus(Qt.FocusReason.ShortcutFocusReason)
                return True
        return super().eventFilter(watched, event)

    def _go_to_results(self) -> None:
        if self.proxy.rowCount() == 0:
            return
        current = self.table.currentIndex()
        if not current.isValid():
            current = self.proxy.index(0, 0)
            self.table.setCurrentIndex(current)
        self.table.scrollTo(current)
        self.table.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def current_filter(self) -> CaseloadFilter:
        return CaseloadFilter(
            text=self.search.text(),
            open_incidents=self.only_incidents.isChecked(),
            risk=self.risk.currentData() or "",
            appointment_today=self.only_today.isChecked(),
            stale_location=self.only_stale.isChecked(),
            device_problem=self.only_device.isChecked(),
        )

    def _apply_filter(self, *_args) -> None:
        self.proxy.set_filter(self.current_filter())

    def _update_count(self) -> None:
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        self.count.setText(f"{shown:,} of {total:,} participants" if shown != total else f"{total:,} participants")

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            row = self.proxy.data(current, RowRole)
            if row is not None:
                self.participantSelected.emit(row.participant_id)

    def selected_participant(self) -> str | None:
        current = self.table.currentIndex()
        if not current.isValid():
            return None
        row = self.proxy.data(current, RowRole)
        return row.participant_id if row else None

    def select_participant(self, participant_id: str) -> bool:
        pos = self.proxy.proxy_row_of(participant_id)
        if pos is None:
            return False
        ix = self.proxy.index(pos, 0)
        self.table.setCurrentIndex(ix)
        self.table.scrollTo(ix)
        return True
