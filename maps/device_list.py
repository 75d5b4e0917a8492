"""The accessible alternative to the map: the devices in the visible area as a keyboard-navigable table.

Screen-reader users and keyboard-only officers get the same information as the markers: who, state,
how old the fix is, accuracy and coordinates. Enter or double-click selects the participant (as a marker
click does) and pans the map to it.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from maps.view import MapView

STATE_TEXT = {"ok": "OK", "incident": "Incident open", "stale": "Stale position", "no_fix": "No GPS fix"}
COLUMNS = ("Participant", "State", "Last fix", "Accuracy", "Latitude", "Longitude")


def fix_age_text(fix_time: str | None, now: datetime | None = None) -> str:
    """'4 min ago' style text; every position shown says how old it is."""
    if not fix_time:
        return "no fix"
    try:
        when = datetime.fromisoformat(fix_time.replace("Z", "+00:00"))
    except ValueError:
        return "unknown"
    seconds = max(0.0, ((now or datetime.now(UTC)) - when).total_seconds())
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def sort_text(text: str) -> str:
    """Accent- and case-insensitive key, so "Ávalos" sorts with the A's and not after "Zuniga"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


class DeviceListModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[dict] = []

    def set_devices(self, devices: list[dict]) -> None:
        self.beginResetModel()
        self._rows = list(devices)
        self.endResetModel()

    def device_at(self, row: int) -> dict:
        return self._rows[row]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008 (Qt API)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 (Qt API)
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        d = self._rows[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if col == 0:
                return d["label"]
            if col == 1:
                return STATE_TEXT.get(d["state"], d["state"])
            if col == 2:
                return fix_age_text(d.get("fix_time"))
            if col == 3:
                return f"±{d['accuracy_m']:.0f} m" if d.get("accuracy_m") else "unknown"
            if col == 4:
                return f"{d['lat']:.5f}" if d.get("lat") is not None else ""
            if col == 5:
                return f"{d['lon']:.5f}" if d.get("lon") is not None else ""
        if role == Qt.ItemDataRole.UserRole:  # sort keys
            return (sort_text(d["label"]), d["state"], d.get("fix_time") or "", d.get("accuracy_m") or 0,
                    d.get("lat") or 0, d.get("lon") or 0)[col]
        return None


class DeviceListWidget(QWidget):
    """Table of the devices currently in the map's view, kept in step with pans, zooms and updates."""

    participantActivated = Signal(str)

    def __init__(self, map_view: MapView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._map = map_view
        self.model = DeviceListModel(self)
        proxy = QSortFilterProxyModel(self)
        proxy.setSourceModel(self.model)
        proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self._proxy = proxy
        self.table = QTableView(self)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table
        self.table.setModel(proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # Qt's default indicator is descending
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setAccessibleName("Devices in the map view")
        self.summary = QLabel(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        self.table.activated.connect(self._on_activated)
        map_view.viewChanged.connect(self._view_changed)
        # positions change every few hundred ms; the table follows once a second while it is visible
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.refresh)
        self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self._timer.start()
        self.refresh()
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self._timer.stop()
        super().hideEvent(event)

    def _view_changed(self, *_args) -> None:
        if self.isVisible():  # a hidden tab would follow every pan for nothing; showEvent refreshes it
            self.refresh()

    def refresh(self, *_args) -> None:
        devices = self._map.devices_in_view()
        self.model.set_devices(devices)
        self.summary.setText(f"{len(devices)} devices in view")

    def _on_activated(self, index: QModelIndex) -> None:
        device = self.model.device_at(self._proxy.mapToSource(index).row())
        self._map.select_participant(device["participant_id"])
        self.participantActivated.emit(device["participant_id"])
