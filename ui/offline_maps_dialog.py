"""Map → Offline maps…: the workstation's offline map packages in priority order (the first one listed
is shown where packages overlap), with import (progress, cancel), remove and move up/down.

Every change touches disk (the registry file, a copy of hundreds of MB, opening SQLite files), so it
runs through run_task; the table is filled from the tile store's in-memory description. Import
progress is written by the worker into a plain counter and read by a GUI timer (no signal per tile).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from maps.package_commands import package_rows
from ui.tasks import run_task

if TYPE_CHECKING:
    from maps.tiles import TileStore

COLUMNS = ("#", "Name", "Kind", "Provided by", "Tiles", "Size", "Zooms", "Bounds (W, S, E, N)")
ORIGIN_TEXT = {"imported": "imported here", "preloaded": "agency (preloaded)", "bundled": "built in", "given": "other"}


class ImportProgress:
    """Written by the import worker, read by the GUI timer (two ints: no lock needed under the GIL)."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total


class OfflineMapsDialog(QDialog):
    #: the packages changed (the map page reloads to pick up new zooms and layers)
    packagesChanged = Signal()

    def __init__(self, store: TileStore, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Offline maps")
        self.setMinimumSize(820, 360)
        self._store = store
        self._busy = False
        self._cancel: threading.Event | None = None
        self._progress = ImportProgress()
        self._rows: list[dict] = []

        intro = QLabel(
            "Where packages overlap, the map shows the one higher in this list. New imports go to the top; "
            "packages preloaded by agency IT can be moved but not removed."
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAccessibleName("Offline map packages")
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.import_button = QPushButton("Import…")
        self.remove_button = QPushButton("Remove")
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        self.cancel_button = QPushButton("Cancel import")
        close = QPushButton("Close")
        self.import_button.clicked.connect(lambda: self.start_import())
        self.remove_button.clicked.connect(self._remove)
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button.clicked.connect(lambda: self._move(+1))
        self.cancel_button.clicked.connect(self._cancel_import)
        close.clicked.connect(self.accept)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        buttons = QHBoxLayout()
        for button in (self.import_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        busy = QHBoxLayout()
        busy.addWidget(self.progress, 1)
        busy.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addLayout(busy)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._show_progress)
        self.refresh()

    # ---- table ----------------------------------------------------------------------------

    def refresh(self, select_path: str | None = None) -> None:
        self._rows = package_rows(self._store.package_views())
        self.table.setRowCount(len(self._rows))
        for r, row in enumerate(self._rows):
            if row["error"]:
                cells = [str(row["position"]), row["file"], "—", ORIGIN_TEXT.get(row["origin"], row["origin"]),
                         "unusable", "", "", row["error"]]
            else:
                bounds = ", ".join(f"{v:.3f}" for v in row["bounds"]) if row["bounds"] else "not given"
                cells = [
                    str(row["position"]), row["name"], row["kind"], ORIGIN_TEXT.get(row["origin"], row["origin"]),
                    f"{row['tiles']:,}", _size(row["size_bytes"]), f"{row['min_zoom']}–{row['max_zoom']}", bounds,
                ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(row["path"])
                self.table.setItem(r, c, item)
            if select_path is not None and row["path"] == select_path:
                self.table.selectRow(r)
        self.table.resizeColumnsToContents()
        self._update_buttons()

    def _selected(self) -> dict | None:
        rows = self.table.selectionModel().selectedRows()
        return self._rows[rows[0].row()] if rows else None

    def _update_buttons(self) -> None:
        row = self._selected()
        movable = row is not None and row["origin"] in ("imported", "preloaded") and not self._busy
        last_movable = max((i for i, r in enumerate(self._rows) if r["origin"] in ("imported", "preloaded")), default=-1)
        self.import_button.setEnabled(not self._busy)
        self.remove_button.setEnabled(movable and bool(row and row["removable"]))
        self.up_button.setEnabled(movable and bool(row) and row["position"] > 1)
        self.down_button.setEnabled(movable and bool(row) and row["position"] - 1 < last_movable)

    # ---- changes --------------------------------------------------------------------------

    def start_import(self, path: str | None = None) -> None:
        if self._busy:
            return
        if path is None:
            path = choose_mbtiles_file(self)
            if not path:
                return
        source = Path(path)
        self._cancel = threading.Event()
        self._progress = ImportProgress()
        progress, cancel = self._progress, self._cancel
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self._poll.start()
        self._run(
            lambda: self._store.import_mbtiles(source, progress=progress, cancel=cancel),
            lambda info: f"Imported {info.name}: {info.tile_count:,} {'vector' if info.is_vector else 'raster'} "
                         f"tiles, zoom {info.min_zoom}–{info.max_zoom}. It is first in the list.",
            "The file was not imported; nothing changed. ",
            select=lambda info: str(info.path),
        )

    def _cancel_import(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def _remove(self) -> None:
        row = self._selected()
        if row is None or not row["removable"]:
            return
        path = Path(row["path"])
        self._run(lambda: self._store.remove_package(path), lambda _r: f"Removed {row['name'] or row['file']}.",
                  "Not removed: ")

    def _move(self, offset: int) -> None:
        row = self._selected()
        if row is None:
            return
        path = Path(row["path"])
        self._run(lambda: self._store.move_package(path, offset), lambda _r: "", "Not moved: ",
                  select=lambda _r: str(path))

    def _run(self, work, success_text, failure_prefix: str, select=None) -> None:
        self._busy = True
        self._update_buttons()

        def done(result) -> None:
            self._finish()
            self.status.setText(success_text(result))
            self.refresh(select(result) if select else None)
            self.packagesChanged.emit()

        def failed(exc: BaseException) -> None:
            self._finish()
            self.status.setText(failure_prefix + str(exc))
            self.refresh()

        run_task(work, done, failed, owner=self)

    def _finish(self) -> None:
        self._busy = False
        self._poll.stop()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)

    def _show_progress(self) -> None:
        total, done = self._progress.total, self._progress.done
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            self.progress.setFormat(f"Checking and copying tiles: {done:,} of {total:,}")

    def is_busy(self) -> bool:
        return self._busy

    def reject(self) -> None:  # Escape or the window's close button
        self._cancel_import()
        super().reject()


def choose_mbtiles_file(parent) -> str:
    """The officer's pick of an .mbtiles file ("" when cancelled)."""
    path, _ = QFileDialog.getOpenFileName(
        parent, "Import map tiles", str(Path.home()), "MBTiles files (*.mbtiles);;All files (*)"
    )
    return path


def _size(size_bytes: int | None) -> str:
    if not size_bytes:
        return ""
    return f"{size_bytes / 1e6:,.1f} MB" if size_bytes >= 1e5 else f"{size_bytes / 1e3:,.0f} KB"
