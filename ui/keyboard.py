"""Every keyboard shortcut in one table: the main window registers its actions from it and
Help -> Keyboard lists it, so the two can never disagree."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

#: (action id, keys, what it does)
SHORTCUTS: tuple[tuple[str, str, str], ...] = (
    ("focus_caseload", "Ctrl+0", "Go to the caseload table"),
    ("search", "Ctrl+F", "Search the caseload"),
    ("focus_record", "Ctrl+1", "Show the participant record"),
    ("focus_map", "Ctrl+2", "Show the map"),
    ("focus_route", "Ctrl+3", "Show today's visits route"),
    ("focus_incidents", "Ctrl+I", "Go to the incidents list"),
    ("acknowledge", "Ctrl+K", "Acknowledge the selected incidents (select several with Shift/Ctrl)"),
    ("resolve", "Ctrl+E", "Resolve the selected incident (one at a time)"),
    ("next_incident_view", "Ctrl+Shift+A", "Next incident view: Needs action, Auto-resolved today, All alerts"),
    ("incident_filters", "Ctrl+Shift+F", "Go to the incident filters (age, kind, risk)"),
    ("note", "Ctrl+N", "Add a note to the selected participant"),
    ("contact", "Ctrl+Shift+V", "Record a contact or home visit"),
    ("checkin", "Ctrl+Shift+I", "Record an office check-in"),
    ("schedule", "Ctrl+Shift+S", "Request a schedule change"),
    ("track", "Ctrl+T", "Show the participant's track since yesterday 18:00 on the map"),
    ("track_window", "Ctrl+Shift+T", "Show the participant's track for a chosen window"),
    ("evidence_packet", "Ctrl+Shift+E", "Evidence packet…"),
    ("sync", "Ctrl+R", "Sync now"),
    ("outbox", "Ctrl+O", "Open the outbox and conflicts"),
    ("journal", "Ctrl+J", "Open the sync journal"),
    ("day_report", "Ctrl+Shift+R", "Day report…"),
    ("focus_devices", "Ctrl+4", "Show the devices in the map's view as a list"),
    ("map_first", "Ctrl+M", "Map-first layout: a large map beside the caseload (again: back)"),
    ("download_area", "Ctrl+Shift+D", "Download the map area in view for offline use"),
    ("import_tiles", "Ctrl+Shift+M", "Import map tiles from an MBTiles file"),
    ("offline_maps", "Ctrl+Shift+O", "Offline maps: the map packages, their order, remove"),
    ("lock", "Ctrl+L", "Lock the workstation now (registered by the lock screen)"),
    ("keyboard", "F1", "This list of shortcuts"),
    ("quit", "Ctrl+Q", "Quit"),
)
#: Table navigation that Qt provides everywhere
STANDARD_KEYS = (
    ("Tab / Shift+Tab", "Move between panes and fields"),
    ("Arrows, Page Up/Down, Home/End", "Move in tables and lists"),
    ("Enter", "Open the selected participant / confirm a form"),
    ("Escape", "Close a dialog without saving"),
)


def keys_for(action_id: str) -> str:
    for aid, keys, _what in SHORTCUTS:
        if aid == action_id:
            return keys
    raise KeyError(action_id)


class KeyboardDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(520, 620)
        rows = [(keys, what) for _aid, keys, what in SHORTCUTS] + list(STANDARD_KEYS)
        table = QTableWidget(len(rows), 2, self)
        table.setTabKeyNavigation(False)  # Tab leaves the table
        table.setAccessibleName("Keyboard shortcuts")
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (keys, what) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(keys))
            table.setItem(r, 1, QTableWidgetItem(what))
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close")
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.table = table
