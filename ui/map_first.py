"""Map-first layout: a large map with the caseload beside it, switched on and off by keyboard.

At 1366x768 the default layout gives the map about 470x320 px, too small to read a dense caseload.
Map first (View -> Map-first layout, Ctrl+M) collapses the incidents pane and the record/route tabs
and gives the map what they had; the caseload stays beside it, so selecting a participant still
centres the map on them. The same key restores the panes exactly as they were.
"""

from __future__ import annotations

from PySide6.QtWidgets import QSplitter

#: the caseload's share of the width in map-first (the map takes the rest)
CASELOAD_SHARE = 0.32


class MapFirstLayout:
    def __init__(self, main: QSplitter, centre: QSplitter) -> None:
        self._main, self._centre = main, centre
        self._saved: tuple[list[int], list[int]] | None = None

    @property
    def active(self) -> bool:
        return self._saved is not None

    def toggle(self) -> bool:
        """Switch between map-first and the layout before it; returns whether map-first is on."""
        if self._saved is not None:
            main, centre = self._saved
            self._saved = None
            self._main.setSizes(main)
            self._centre.setSizes(centre)
            return False
        self._saved = (self._main.sizes(), self._centre.sizes())
        width, height = sum(self._saved[0]), sum(self._saved[1])
        caseload = int(width * CASELOAD_SHARE)
        self._main.setSizes([caseload, width - caseload, 0])
        self._centre.setSizes([height, 0])
        return True
