"""The shape every small table model here shares: rows are a list of immutable snapshots (never live
ORM rows, so the GUI thread never touches the database), columns are fixed titles. Subclasses set
COLUMNS and implement data(); set_rows() swaps the whole list in one model reset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt


class SnapshotTableModel(QAbstractTableModel):
    COLUMNS: tuple[str, ...] = ()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._items: list[Any] = []

    def set_rows(self, items: Sequence[Any]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self._rows_replaced()
        self.endResetModel()

    def _rows_replaced(self) -> None:
        """Hook for state that goes with a new list (inside the reset, before views re-read)."""

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008, N802 - Qt signature
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008, N802 - Qt signature
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None
