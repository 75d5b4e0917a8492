"""The bar above the incidents list: the views one click away (Needs action | Auto-resolved today |
All alerts, each with its count) and the filters by age, kind and risk, which combine.

Which incidents a view lists and which pass the filters is workstation.triage_queue's rule (the
same as `workstation incidents --view/--age/--kind/--risk`); this bar only holds the officer's
choice and shows the counts it is given.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QTabBar, QVBoxLayout, QWidget

from workstation.triage_queue import AGES, KINDS, NO_FILTER, RISKS, VIEWS, QueueFilter


class ViewTabs(QTabBar):
    """Tabs whose label is two lines (the view, its count): Qt sizes a tab for one line of text."""

    def tabSizeHint(self, index: int) -> QSize:  # noqa: N802 - Qt API
        size = super().tabSizeHint(index)
        extra = self.tabText(index).count("\n") * self.fontMetrics().lineSpacing()
        return QSize(size.width(), size.height() + extra)


class QueueBar(QWidget):
    #: the view or a filter changed
    changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.views = ViewTabs(self)
        self.views.setAccessibleName("Incident views")
        self.views.setExpanding(False)
        self.views.setDrawBase(False)
        self.views.setUsesScrollButtons(True)
        for view, label in VIEWS.items():
            self.views.setTabData(self.views.addTab(label), view)
        self.views.setToolTip("Needs action: what an officer must handle; Auto-resolved today: what cleared by "
                              "itself; All alerts: everything of the last day (next view: Ctrl+Shift+A)")
        self.age = self._combo("Filter incidents by age", AGES)
        self.kind = self._combo("Filter incidents by kind", {"": "All kinds", **KINDS})
        self.risk = self._combo("Filter incidents by risk", {"": "Any risk", **RISKS})
        self.clear = QPushButton("Clear", self)
        self.clear.setAccessibleName("Clear incident filters")
        self.clear.setToolTip("Show every incident of the view again")
        self.clear.clicked.connect(self.clear_filters)
        self.filtered = QLabel(self)
        self.filtered.setAccessibleName("Incidents shown under the filters")
        self.views.currentChanged.connect(lambda _i: self.changed.emit())
        filters = QHBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        filters.setSpacing(4)
        for combo in (self.age, self.kind, self.risk):
            filters.addWidget(combo, 1)
            combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        filters.addWidget(self.clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.views)
        layout.addLayout(filters)
        layout.addWidget(self.filtered)
        self._update_clear()

    def _combo(self, name: str, items: Mapping[str, str]) -> QComboBox:
        combo = QComboBox(self)
        combo.setAccessibleName(name)
        combo.setToolTip(name)
        # narrow enough for the 1366 px layout's incidents pane; the list opens at full width
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(6)
        for key, label in items.items():
            combo.addItem(label, key)
        return combo

    # ------------------------------------------------------------------ the officer's choice
    def view(self) -> str:
        return str(self.views.tabData(self.views.currentIndex()))

    def set_view(self, view: str) -> None:
        self.views.setCurrentIndex(list(VIEWS).index(view))

    def next_view(self) -> None:
        self.views.setCurrentIndex((self.views.currentIndex() + 1) % self.views.count())

    def queue_filter(self) -> QueueFilter:
        kind, risk = self.kind.currentData(), self.risk.currentData()
        return QueueFilter(age=self.age.currentData(), kinds=frozenset({kind} if kind else ()),
                           risks=frozenset({risk} if risk else ()))

    def set_filter(self, age: str = "any", kind: str = "", risk: str = "") -> None:
        """Choose filters in one go (one `changed`, not three)."""
        self.blockSignals(True)
        try:
            for combo, key in ((self.age, age), (self.kind, kind), (self.risk, risk)):
                index = combo.findData(key)
                if index < 0:
                    raise ValueError(f"no filter {key!r} in {combo.accessibleName()}")
                combo.setCurrentIndex(index)
        finally:
            self.blockSignals(False)
        self.changed.emit()

    def clear_filters(self) -> None:
        self.set_filter()

    # ------------------------------------------------------------------ what the queue holds
    def show_counts(self, counts: Mapping[str, int], shown: int, unfiltered: int, acknowledged: int) -> None:
        """The views' counts (under the filters) on their tabs, and how many rows the current view
        shows out of how many without the filters."""
        for index, (view, label) in enumerate(VIEWS.items()):
            # two lines: the three views with their counts fit the 1366 px layout's incidents pane
            self.views.setTabText(index, f"{label}\n{counts.get(view, 0):,}")
        ack = f" · {acknowledged:,} acknowledged" if acknowledged else ""
        if self.queue_filter() != NO_FILTER:
            self.filtered.setText(f"Filtered: {shown:,} of {unfiltered:,} shown{ack}")
        else:
            self.filtered.setText(f"{shown:,} shown{ack}")
        self._update_clear()

    def _update_clear(self) -> None:
        self.clear.setEnabled(self.queue_filter().active)
