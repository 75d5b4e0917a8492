"""Event-loop stall probe: how late does a short repeating timer fire?

A timer armed every `interval_ms` on the GUI thread fires late by exactly as long as the GUI
thread was busy (a blocking call, a slow paint, a huge model reset). The worst lateness seen is
the longest the officer's window was frozen. Tests assert on it and `python -m bench ui` reports
it as gui_stall_max_ms.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer


class StallProbe(QObject):
    def __init__(self, interval_ms: int = 5, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self._timer = QTimer(self)
        self._timer.setObjectName("stall-probe")
        # PreciseTimer: a coarse timer may legitimately fire up to 5 % late, which is not a stall.
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self.max_stall_ms = 0.0
        self.ticks = 0
        self.stalls_over_50ms = 0

    def start(self) -> None:
        self.max_stall_ms = 0.0
        self.ticks = 0
        self.stalls_over_50ms = 0
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> float:
        self._timer.stop()
        return self.max_stall_ms

    def _tick(self) -> None:
        now = time.perf_counter()
        late_ms = (now - self._last) * 1000.0 - self.interval_ms
        self._last = now
        self.ticks += 1
        if late_ms > self.max_stall_ms:
            self.max_stall_ms = late_ms
        if late_ms > 50:
            self.stalls_over_50ms += 1
