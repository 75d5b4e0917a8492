""""Download this area for offline use": the visible area and a zoom range, estimate first, then a
progress bar and Cancel. The download itself is TileStore.download() on a worker thread; progress comes
back through a queued Qt signal, so the dialog never blocks on the network.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from maps.tiles import DownloadPlan, DownloadResult, TileStore, TileStoreError


class _Signals(QObject):
    progress = Signal(int, int)
    finished = Signal(object)  # DownloadResult or an error message


class DownloadAreaDialog(QDialog):
    def __init__(self, store: TileStore, bounds: tuple[float, float, float, float], zoom: int, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Download this area for offline use")
        self._store = store
        self._bounds = bounds
        self._plan: DownloadPlan | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.result_value: DownloadResult | None = None

        self.min_zoom = QSpinBox(self)
        self.max_zoom = QSpinBox(self)
        for box in (self.min_zoom, self.max_zoom):
            box.setRange(0, 19)
        self.min_zoom.setValue(max(0, zoom))
        self.max_zoom.setValue(min(19, zoom + 3))
        self.estimate = QLabel(self)
        self.estimate.setWordWrap(True)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        self.start_button = QPushButton("Download", self)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)

        form = QFormLayout()
        south, west, north, east = bounds
        form.addRow("Area", QLabel(f"{south:.4f}, {west:.4f} – {north:.4f}, {east:.4f}", self))
        form.addRow("From zoom", self.min_zoom)
        form.addRow("To zoom", self.max_zoom)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.estimate)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)

        self._signals = _Signals(self)
        self._signals.progress.connect(self._on_progress)
        self._signals.finished.connect(self._on_finished)
        self.min_zoom.valueChanged.connect(self._update_estimate)
        self.max_zoom.valueChanged.connect(self._update_estimate)
        self.start_button.clicked.connect(self.start)
        self.buttons.rejected.connect(self._on_cancel)
        self._update_estimate()

    @Slot()
    def _update_estimate(self) -> None:
        try:
            self._plan = self._store.plan_download(self._bounds, self.min_zoom.value(), self.max_zoom.value())
        except TileStoreError as exc:
            self._plan = None
            self.estimate.setText(str(exc))
            self.start_button.setEnabled(False)
            return
        self.estimate.setText(
            f"{self._plan.tile_count:,} tiles, about {self._plan.estimated_bytes / 1e6:,.1f} MB"
        )
        self.start_button.setEnabled(True)

    @Slot()
    def start(self) -> None:
        if self._plan is None or self._thread is not None:
            return
        self.start_button.setEnabled(False)
        self.min_zoom.setEnabled(False)
        self.max_zoom.setEnabled(False)
        self.progress.setRange(0, self._plan.tile_count)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        plan, signals, cancel, store = self._plan, self._signals, self._cancel, self._store

        step = max(1, plan.tile_count // 200)  # ~200 progress updates, not one signal per tile

        def report(done: int, total: int) -> None:
            if done % step == 0 or done == total:
                signals.progress.emit(done, total)

        def work() -> None:
            try:
                outcome: object = store.download(plan, progress=report, cancel=cancel)
            except (TileStoreError, OSError) as exc:
                outcome = str(exc)
            signals.finished.emit(outcome)

        self._thread = threading.Thread(target=work, name="tile-download", daemon=True)
        self._thread.start()

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setValue(done)

    @Slot(object)
    def _on_finished(self, outcome: object) -> None:
        self._thread = None
        if isinstance(outcome, DownloadResult):
            self.result_value = outcome
            word = "Cancelled" if outcome.cancelled else "Done"
            self.estimate.setText(
                f"{word}: {outcome.fetched} downloaded, {outcome.already_stored} already stored, "
                f"{outcome.failed} failed (server unreachable or not a tile)."
            )
        else:
            self.estimate.setText(f"Download failed: {outcome}")
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)

    @Slot()
    def _on_cancel(self) -> None:
        if self._thread is not None:
            self._cancel.set()  # the worker stops after the current tile and reports back
            return
        self.reject()
