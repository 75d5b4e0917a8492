"""Outbox and conflicts inbox: every queued action with its state and error; retry; for a
conflict, the officer's version beside the server's with "Keep mine" / "Use server's".

Lifecycle words shown to the officer: queued -> "pending", sending -> "sending…" while a push
is in flight, "not confirmed" otherwise, done -> "applied", conflict, rejected (with the
server's reason). "sending" only means the workstation tried: the request may never have left
(crash, cable pulled) or its answer was lost, so it is never shown as "sent"; it is resent as is
(same id, the server ignores a duplicate). Problems never block the rest of the outbox (the sync
engine sends the other actions); they wait here for a decision.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, Qt, Signal
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
from ui.snapshot_model import SnapshotTableModel
from workstation.read.outbox import OutboxItem

STATE_WORDS = {"queued": "pending", "sending": "not confirmed", "done": "applied", "conflict": "conflict",
               "rejected": "rejected", "discarded": "server's kept"}
IN_FLIGHT_WORD = "sending…"
#: the longer explanation (detail pane, tooltips, the participant record's pending markers)
STATE_EXPLAINED = {
    "queued": "waiting to be sent",
    "sending": "sent at least once, no answer from the server yet; it is sent again at the next sync",
    "conflict": "changed on the server meanwhile; choose Keep mine or Use server's in the outbox",
}
KIND_WORDS = {"add_note": "Note", "record_contact": "Contact / visit", "acknowledge_alert": "Acknowledge alert",
              "resolve_alert": "Resolve alert", "acknowledge_incident": "Acknowledge incident",
              "resolve_incident": "Resolve incident", "record_checkin": "Check-in",
              "request_schedule_change": "Schedule change request"}
ItemRole = Qt.ItemDataRole.UserRole + 20
COLUMNS = ("#", "Created", "Action", "Participant", "State", "Attempts", "Error")


def pending_phrase(state: str | None) -> str:
    """How far a pending local change got, for the markers next to it (record, incidents)."""
    return {
        "sending": "sending, not confirmed by the server yet",
        "conflict": "conflict, decide in the outbox",
    }.get(state or "queued", "not sent yet")


def state_word(state: str, in_flight: bool = False) -> str:
    """The officer's word for an outbox state; `in_flight`: a push is running right now."""
    if state == "sending" and in_flight:
        return IN_FLIGHT_WORD
    return STATE_WORDS.get(state, state)


class OutboxModel(SnapshotTableModel):
    COLUMNS = COLUMNS

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._names: dict[str, str] = {}
        self.in_flight = False

    def set_items(self, items: Sequence[OutboxItem], names: dict[str, str], in_flight: bool = False) -> None:
        self._names = names
        self.in_flight = in_flight
        self.set_rows(items)

    def items(self) -> list[OutboxItem]:
        return self._items

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
                state_word(item.state, self.in_flight),
                str(item.attempts),
                item.last_error or "",
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole and col == 4:
            return STATE_EXPLAINED.get(item.state)
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
        self.table.setTabKeyNavigation(False)  # Tab leaves the table
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

    def set_items(self, items: Sequence[OutboxItem], names: dict[str, str], in_flight: bool = False) -> None:
        current = self.current_item()
        self.model.set_items(items, names, in_flight)
        counts: dict[str, int] = {}
        for item in items:
            word = state_word(item.state, in_flight)
            counts[word] = counts.get(word, 0) + 1
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
            f"<p><b>{KIND_WORDS.get(item.kind, item.kind)}</b> · {state_word(item.state, self.model.in_flight)}"
            f"{' — ' + _esc(reason) if reason else ''}</p>"
            + (f"<p>{_esc(STATE_EXPLAINED[item.state].capitalize())}.</p>" if item.state in STATE_EXPLAINED else "")
            + "<table width='100%'><tr><th align='left'>Mine</th><th align='left'>Server's</th></tr>"
            f"<tr><td valign='top'><pre>{_esc(mine)}</pre></td><td valign='top'><pre>{_esc(theirs)}</pre></td></tr></table>"
        )


def _esc(text: str) -> str:
    import html

    return html.escape(text)
