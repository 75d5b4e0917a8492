"""Outbox and conflicts inbox: every queued action with its state and error; retry; for a
conflict, the officer's version beside the server's with "Keep mine" / "Use server's".

Lifecycle words shown to the officer: queued -> "pending", sending -> "sent", done ->
"applied", conflict, rejected (with the server's reason). Problems never block the rest of
the outbox (the sync engine sends the other actions); they wait here for a decision.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.data import OutboxItem

STATE_WORDS = {"queued": "pending", "sending": "sent", "done": "applied", "conflict": "conflict",
               "rejected": "rejected"}
KIND_WORDS = {"add_note": "Note", "record_contact": "Contact / visit", "acknowledge_alert": "Acknowledge alert",
              "resolve_alert": "Resolve alert", "record_checkin": "Check-in",
              "request_schedule_change": "Schedule change request"}
ItemRole = Qt.ItemDataRole.UserRole + 20
COLUMNS = ("#", "Created", "Action", "Participant", "State", "Attempts", "Error")


def state_word(state: str) -> str:
    return STATE_WORDS.get(state, state)


class OutboxModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._items: list[OutboxItem] = []
        self._names: dict[str, str] = {}

    def set_items(self, items: Sequence[OutboxItem], names: dict[str, str]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self._names = names
        self.endResetModel()

    def items(self) -> list[OutboxItem]:
        return self._items

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        item = self._items[index.row()]
        col = index.column()
        if role == ItemRole:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                str(item.seq),
                f"{item.created_at:%d %b %H:%M}",
                KIND_WORDS.get(item.kind, item.kind),
                self._names.get(item.participant_id or "", item.participant_id or item.target),
                state_word(item.state),
                str(item.attempts),
                item.last_error or "",
            )[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == 4:
            key = {"queued": "pending", "sending": "pending", "done": "ok"}.get(item.state, "danger")
            return theme.colour(key)
        return None


class OutboxDialog(QDialog):
    retryRequested = Signal()
    keepMineRequested = Signal(str)  # action id
    useServerRequested = Signal(str)  # action id
    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Outbox and conflicts")
        self.resize(900, 520)
        self.model = OutboxModel(self)
        self.summary = QLabel(self)
        self.table = QTableView(self)
        self.table.setAccessibleName("Outbox actions")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._show_detail)
        self.detail = QTextBrowser(self)
        self.detail.setAccessibleName("Action detail: mine beside the server's")
        self.retry = QPushButton("Retry now", self)
        self.retry.setAccessibleName("Retry sending")
        self.keep_mine = QPushButton("Keep mine", self)
        self.keep_mine.setAccessibleName("Keep mine (re-queue on the server's version)")
        self.use_server = QPushButton("Use server's", self)
        self.use_server.setAccessibleName("Use the server's version")
        self.close_button = QPushButton("Close", self)
        self.close_button.setAccessibleName("Close outbox")
        self.retry.clicked.connect(self.retryRequested)
        self.keep_mine.clicked.connect(lambda: self._emit_for_current(self.keepMineRequested))
        self.use_server.clicked.connect(lambda: self._emit_for_current(self.useServerRequested))
        self.close_button.clicked.connect(self.close)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        buttons = QHBoxLayout()
        for b in (self.retry, self.keep_mine, self.use_server):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)
        self._update_buttons(None)

    def set_items(self, items: Sequence[OutboxItem], names: dict[str, str]) -> None:
        current = self.current_item()
        self.model.set_items(items, names)
        counts: dict[str, int] = {}
        for item in items:
            counts[state_word(item.state)] = counts.get(state_word(item.state), 0) + 1
        self.summary.setText(" · ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "The outbox is empty.")
        if current is not None:
            for row, item in enumerate(items):
                if item.id == current.id:
                    self.table.setCurrentIndex(self.model.index(row, 0))
                    break
        self._show_detail(self.table.currentIndex(), QModelIndex())

    def current_item(self) -> OutboxItem | None:
        ix = self.table.currentIndex()
        return self.model.data(ix, ItemRole) if ix.isValid() else None

    def select_first(self, state: str) -> bool:
        for row, item in enumerate(self.model.items()):
            if item.state == state:
                self.table.setCurrentIndex(self.model.index(row, 0))
                return True
        return False

    def _emit_for_current(self, signal) -> None:
        item = self.current_item()
        if item is not None:
            signal.emit(item.id)

    def _update_buttons(self, item: OutboxItem | None) -> None:
        conflict = item is not None and item.state == "conflict"
        self.keep_mine.setEnabled(conflict)
        self.use_server.setEnabled(conflict)

    def _show_detail(self, current: QModelIndex, _prev: QModelIndex) -> None:
        item = self.model.data(current, ItemRole) if current.isValid() else None
        self._update_buttons(item)
        if item is None:
            self.detail.setHtml("<p>Select an action to see what was sent and what the server said.</p>")
            return
        mine = json.dumps(item.payload, indent=2, ensure_ascii=False, default=str)
        server = item.server_result or {}
        reason = server.get("reason") or item.last_error or ""
        theirs = json.dumps(server.get("current") or server.get("result") or {}, indent=2, ensure_ascii=False, default=str)
        self.detail.setHtml(
            f"<p><b>{KIND_WORDS.get(item.kind, item.kind)}</b> · {state_word(item.state)}"
            f"{' — ' + reason if reason else ''}</p>"
            "<table width='100%'><tr><th align='left'>Mine</th><th align='left'>Server's</th></tr>"
            f"<tr><td valign='top'><pre>{_esc(mine)}</pre></td><td valign='top'><pre>{_esc(theirs)}</pre></td></tr></table>"
        )


def _esc(text: str) -> str:
    import html

    return html.escape(text)
