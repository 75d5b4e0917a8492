"""The caseload table: model, filtering/sorting proxy and the panel around them.

CaseloadTableModel holds immutable CaseloadRow snapshots (local_db.queries), never ORM rows.
A whole new snapshot replaces the rows once (after a sync); live fixes replace single rows and
emit dataChanged for the changed cells only, so the table is never reset and the selection stays.

Why a Python proxy and not QSortFilterProxyModel: with 100,000 rows, QSortFilterProxyModel calls
back into Python for every comparison and every row. Measured on this machine: sorting 100k rows
on a SortRole took 35 s, re-filtering 1.3 s. CaseloadFilterProxy computes the visible order in
Python (one key per row, list.sort; a substring test per row over a precomputed lower-case
haystack), then announces it with layoutChanged while keeping persistent indexes, so the
selection survives a new search or sort. It still sorts on native values (SortRole).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractProxyModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from local_db.queries import CaseloadRow
from local_db.timeutil import utc_now
from ui import theme
from ui.data import STALE_AFTER, LiveFix
from workstation.route import format_age

SortRole = Qt.ItemDataRole.UserRole + 1
RowRole = Qt.ItemDataRole.UserRole + 2

LOW_BATTERY_PCT = 20
#: above this many changed rows, one dataChanged covers the span instead of one per row
BULK_CHANGE_ROWS = 200
RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
DEVICE_LABEL = {"ankle": "Ankle", "wrist": "Wrist", "phone_app": "App", None: "—"}
APPOINTMENT_LABEL = {
    "office_checkin": "Office",
    "home_visit": "Home visit",
    "court_hearing": "COURT",
    "app_checkin": "App check-in",
}


class Col(IntEnum):
    # order on screen: what an officer scans first (who, how urgent, how fresh) comes first
    NAME = 0
    CASE = 1
    RISK = 2
    LAST_FIX = 3
    BATTERY = 4
    INCIDENTS = 5
    DEVICE = 6
    NEXT_APPT = 7


HEADERS = {
    Col.NAME: "Name",
    Col.CASE: "Case number",
    Col.RISK: "Risk",
    Col.DEVICE: "Device",
    Col.BATTERY: "Battery",
    Col.LAST_FIX: "Last fix",
    Col.INCIDENTS: "Incidents",
    Col.NEXT_APPT: "Next appointment",
}

_ROLES = frozenset({
    Qt.ItemDataRole.DisplayRole, SortRole, RowRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole,
    Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.TextAlignmentRole,
})
_FAR_FUTURE = datetime.max
_FAR_PAST = datetime.min


def display_name(row: CaseloadRow) -> str:
    return f"{row.last_name}, {row.first_name}"


def is_stale(row: CaseloadRow, now: datetime) -> bool:
    return row.last_fix_time is None or now - row.last_fix_time > STALE_AFTER


def has_device_problem(row: CaseloadRow, now: datetime) -> bool:
    low = row.battery_pct is not None and row.battery_pct < LOW_BATTERY_PCT and not row.charging
    strap = row.strap not in (None, "ok", "not_applicable")
    return row.device_id is None or low or strap or is_stale(row, now)


def search_text(row: CaseloadRow) -> str:
    """What the instant search matches against, case-folded once per row."""
    return f"{row.first_name} {row.last_name} {row.case_number} {row.address} {row.phone}".casefold()


class CaseloadTableModel(QAbstractTableModel):
    """Source model: all rows, in snapshot order."""

    def __init__(self, parent=None, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(parent)
        self._rows: list[CaseloadRow] = []
        self._incidents: dict[str, int] = {}
        self._row_of_participant: dict[str, int] = {}
        self._row_of_device: dict[str, int] = {}
        self._haystack: list[str] = []
        self.clock = clock
        self._now = clock()
        self._bold = QFont()
        self._bold.setBold(True)

    # -- feeding ----------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[CaseloadRow]) -> None:
        """Replace everything with a new snapshot (one reset; used after a sync, not for live data)."""
        self.beginResetModel()
        self._rows = list(rows)
        self._reindex()
        self._now = self.clock()
        self.endResetModel()

    def _reindex(self) -> None:
        self._row_of_participant = {r.participant_id: i for i, r in enumerate(self._rows)}
        self._row_of_device = {r.device_id: i for i, r in enumerate(self._rows) if r.device_id}
        self._haystack = [search_text(r) for r in self._rows]

    def replace_changed(self, rows: Sequence[CaseloadRow], changed: Sequence[int]) -> None:
        """Take a snapshot with the same participants in the same order, where only the rows at
        `changed` differ (worked out off the GUI thread): no reset, one dataChanged per row, and
        only those rows re-indexed (re-indexing all 7,000 took ~12 ms of the GUI thread on every
        live-alert reload, measured in `python -m bench ui`)."""
        self._now = self.clock()
        old, self._rows = self._rows, list(rows)
        for i in changed:
            before, after = old[i], self._rows[i]
            if before.device_id != after.device_id:
                if self._row_of_device.get(before.device_id) == i:
                    del self._row_of_device[before.device_id]
                if after.device_id:
                    self._row_of_device[after.device_id] = i
            self._haystack[i] = search_text(after)
        self._emit_rows_changed(changed, 0, len(Col) - 1)

    def _emit_rows_changed(self, rows: Sequence[int], first_col: int, last_col: int) -> None:
        """One dataChanged per row for a few rows; one for the whole span when many changed
        (thousands of Python-emitted signals cost more than one repaint of the visible rows)."""
        if not rows:
            return
        if len(rows) > BULK_CHANGE_ROWS:
            self.dataChanged.emit(self.index(min(rows), first_col), self.index(max(rows), last_col))
            return
        for i in rows:
            self.dataChanged.emit(self.index(i, first_col), self.index(i, last_col))

    def merge_rows(self, rows: Sequence[CaseloadRow]) -> bool:
        """Take a new snapshot without a reset when it holds the same participants in the same
        order (the usual case after a sync or an action): only changed rows emit dataChanged, so
        the selection and scroll position stay. Returns False when a reset was needed."""
        rows = list(rows)
        same = len(rows) == len(self._rows) and all(
            a.participant_id == b.participant_id for a, b in zip(rows, self._rows, strict=True)
        )
        if not same:
            self.set_rows(rows)
            return False
        self._now = self.clock()
        old = self._rows
        self._rows = rows
        self._reindex()
        last = len(Col) - 1
        for i, (before, after) in enumerate(zip(old, rows, strict=True)):
            if before != after:
                self.dataChanged.emit(self.index(i, 0), self.index(i, last))
        return True

    def row_for_device(self, device_id: str) -> int | None:
        return self._row_of_device.get(device_id)

    def set_open_incidents(self, counts: dict[str, int]) -> None:
        """Open incidents per participant (computed from alerts by workstation.incidents)."""
        changed = {pid for pid in set(counts) | set(self._incidents) if counts.get(pid) != self._incidents.get(pid)}
        self._incidents = dict(counts)
        rows = [r for r in (self._row_of_participant.get(pid) for pid in changed) if r is not None]
        self._emit_rows_changed(rows, Col.INCIDENTS, Col.INCIDENTS)

    def apply_live(self, fixes: Iterable[LiveFix]) -> int:
        """Update rows in place from live fixes; returns how many rows changed."""
        changed_rows: list[int] = []
        for fix in fixes:
            row = self._row_of_device.get(fix.device_id)
            if row is None:
                continue
            old = self._rows[row]
            updates = {}
            if fix.fix_time is not None and (old.last_fix_time is None or fix.fix_time >= old.last_fix_time):
                updates.update(last_fix_time=fix.fix_time, last_lat=fix.lat, last_lon=fix.lon,
                               last_accuracy_m=fix.accuracy_m)
            if fix.battery_pct is not None:
                updates["battery_pct"] = fix.battery_pct
            if fix.charging is not None:
                updates["charging"] = fix.charging
            if fix.strap is not None:
                updates["strap"] = fix.strap
            if not updates:
                continue
            self._rows[row] = replace(old, **updates)
            changed_rows.append(row)
        self._emit_rows_changed(changed_rows, Col.LAST_FIX, Col.DEVICE)
        return len(changed_rows)

    def refresh_ages(self) -> None:
        """Ages are relative to now: re-read the clock and repaint the age column."""
        self._now = self.clock()
        if self._rows:
            self.dataChanged.emit(self.index(0, Col.LAST_FIX), self.index(len(self._rows) - 1, Col.LAST_FIX))

    # -- reading ----------------------------------------------------------------------------
    def rows(self) -> list[CaseloadRow]:
        return self._rows

    def row_for_participant(self, participant_id: str) -> int | None:
        return self._row_of_participant.get(participant_id)

    def haystack(self) -> list[str]:
        return self._haystack

    def open_incidents(self, participant_id: str) -> int:
        return self._incidents.get(participant_id, 0)

    def now(self) -> datetime:
        return self._now

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(Col)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Col(section)]
        return None

    def column_keys(self, column: int) -> list:
        """sort_value() of every row, computed in one comprehension per column (a method call per
        row costs 5x more at 100k rows)."""
        rows = self._rows
        col = Col(column)
        if col is Col.NAME:
            return [(r.last_name.casefold(), r.first_name.casefold()) for r in rows]
        if col is Col.LAST_FIX:
            return [r.last_fix_time or _FAR_PAST for r in rows]
        if col is Col.BATTERY:
            return [-1 if r.battery_pct is None else r.battery_pct for r in rows]
        if col is Col.CASE:
            return [r.case_number for r in rows]
        return [self.sort_value(r, column) for r in rows]

    def sort_value(self, row: CaseloadRow, column: int):
        """The native value a column sorts on (SortRole)."""
        col = Col(column)
        if col is Col.NAME:
            return (row.last_name.casefold(), row.first_name.casefold())
        if col is Col.CASE:
            return row.case_number
        if col is Col.RISK:
            return RISK_ORDER.get(row.risk_level, 1)
        if col is Col.DEVICE:
            return row.device_kind or ""
        if col is Col.BATTERY:
            return -1 if row.battery_pct is None else row.battery_pct
        if col is Col.LAST_FIX:
            # oldest fix (most stale) first when ascending; no fix at all is the stalest
            return row.last_fix_time or _FAR_PAST
        if col is Col.INCIDENTS:
            return self._incidents.get(row.participant_id, 0)
        return row.next_appointment_at or _FAR_FUTURE

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        return self.data_at(index.row(), index.column(), role)

    def data_at(self, source_row: int, col: int, role: int):
        if role not in _ROLES:
            return None
        row = self._rows[source_row]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == SortRole:
            return self.sort_value(row, col)
        if role == RowRole:
            return row
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(row, col)
        if role == Qt.ItemDataRole.FontRole:
            if col == Col.RISK and row.risk_level == "high":
                return self._bold
            if col == Col.INCIDENTS and self._incidents.get(row.participant_id):
                return self._bold
            if col == Col.NEXT_APPT and row.next_appointment_kind == "court_hearing":
                return self._bold
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (Col.BATTERY, Col.INCIDENTS, Col.LAST_FIX):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, row: CaseloadRow, col: int) -> str:
        if col == Col.NAME:
            return display_name(row)
        if col == Col.CASE:
            return row.case_number
        if col == Col.RISK:
            return row.risk_level.capitalize()
        if col == Col.DEVICE:
            label = DEVICE_LABEL.get(row.device_kind, row.device_kind or "—")
            if row.strap in ("tampered", "removed"):
                label += f" · strap {row.strap}"
            return label
        if col == Col.BATTERY:
            if row.battery_pct is None:
                return "—"
            return f"{row.battery_pct}%{' ⚡' if row.charging else ''}"
        if col == Col.LAST_FIX:
            if row.last_fix_time is None:
                return "no fix · stale"
            age = format_age(self._now - row.last_fix_time)
            return f"{age} · stale" if is_stale(row, self._now) else age
        if col == Col.INCIDENTS:
            n = self._incidents.get(row.participant_id, 0)
            return str(n) if n else ""
        if row.next_appointment_at is None:
            return ""
        when = row.next_appointment_at
        day = "Today" if when.date() == self._now.date() else when.strftime("%a %d %b")
        return f"{day} {when:%H:%M} · {APPOINTMENT_LABEL.get(row.next_appointment_kind, row.next_appointment_kind)}"

    def _foreground(self, row: CaseloadRow, col: int):
        if col == Col.RISK:
            return theme.colour(theme.RISK_COLOUR_KEY.get(row.risk_level, "muted"))
        if col == Col.LAST_FIX and is_stale(row, self._now):
            return theme.colour("danger")
        if col == Col.BATTERY and row.battery_pct is not None and row.battery_pct < LOW_BATTERY_PCT and not row.charging:
            return theme.colour("danger")
        if col == Col.DEVICE and row.strap in ("tampered", "removed"):
            return theme.colour("danger")
        if col == Col.INCIDENTS and self._incidents.get(row.participant_id):
            return theme.colour("danger")
        if col == Col.NEXT_APPT and row.next_appointment_kind == "court_hearing":
            return theme.colour("accent")
        return None

    def _tooltip(self, row: CaseloadRow, col: int) -> str | None:
        if col == Col.LAST_FIX and row.last_fix_time is not None:
            acc = f" ±{row.last_accuracy_m:.0f} m" if row.last_accuracy_m is not None else ""
            return f"Last fix {row.last_fix_time:%Y-%m-%d %H:%M:%S} UTC{acc}"
        if col == Col.NAME and row.legal_flags:
            return "Legal status: " + ", ".join(f.replace("_", " ") for f in row.legal_flags)
        return None


@dataclass(frozen=True)
class CaseloadFilter:
    text: str = ""
    open_incidents: bool = False
    risk: str = ""  # "", "high", "medium", "low"
    appointment_today: bool = False
    stale_location: bool = False
    device_problem: bool = False


class CaseloadFilterProxy(QAbstractProxyModel):
    """Filter + sort computed in Python; see the module docstring for why."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._order: list[int] = []
        self._position: dict[int, int] = {}
        self._filter = CaseloadFilter()
        self._sort_column = int(Col.NAME)
        self._sort_order = Qt.SortOrder.AscendingOrder

    def setSourceModel(self, model: QAbstractItemModel) -> None:
        old = self.sourceModel()
        if old is not None:
            old.modelReset.disconnect(self._source_reset)
            old.dataChanged.disconnect(self._source_data_changed)
        self.beginResetModel()
        super().setSourceModel(model)
        model.modelReset.connect(self._source_reset)
        model.dataChanged.connect(self._source_data_changed)
        self._recompute()
        self.endResetModel()

    def source(self) -> CaseloadTableModel:
        return self.sourceModel()  # type: ignore[return-value]

    # -- filtering / sorting ----------------------------------------------------------------
    def set_filter(self, flt: CaseloadFilter) -> None:
        if flt == self._filter:
            return
        self._filter = flt
        self._relayout()

    def current_filter(self) -> CaseloadFilter:
        return self._filter

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort_column = column
        self._sort_order = order
        self._relayout()

    def sort_column(self) -> tuple[int, Qt.SortOrder]:
        return self._sort_column, self._sort_order

    def _predicate(self) -> Callable[[int], bool] | None:
        src = self.source()
        rows = src.rows()
        hay = src.haystack()
        f = self._filter
        now = src.now()
        tests: list[Callable[[int], bool]] = []
        words = f.text.casefold().split()
        if words:
            if len(words) == 1:
                w = words[0]
                tests.append(lambda i: w in hay[i])
            else:
                tests.append(lambda i: all(w in hay[i] for w in words))
        if f.risk:
            tests.append(lambda i: rows[i].risk_level == f.risk)
        if f.open_incidents:
            tests.append(lambda i: src.open_incidents(rows[i].participant_id) > 0)
        if f.appointment_today:
            today = now.date()
            tests.append(lambda i: rows[i].next_appointment_at is not None and rows[i].next_appointment_at.date() == today)
        if f.stale_location:
            cutoff = now - STALE_AFTER
            tests.append(lambda i: rows[i].last_fix_time is None or rows[i].last_fix_time < cutoff)
        if f.device_problem:
            tests.append(lambda i: has_device_problem(rows[i], now))
        if not tests:
            return None
        if len(tests) == 1:
            return tests[0]
        return lambda i: all(t(i) for t in tests)

    def _recompute(self) -> None:
        src = self.source()
        if src is None:
            self._order, self._position = [], {}
            return
        rows = src.rows()
        predicate = self._predicate()
        visible = list(range(len(rows))) if predicate is None else [i for i in range(len(rows)) if predicate(i)]
        column = self._sort_column
        if column >= 0:
            keys = src.column_keys(column)
            visible.sort(key=keys.__getitem__, reverse=self._sort_order == Qt.SortOrder.DescendingOrder)
        self._order = visible
        self._position = {source_row: pos for pos, source_row in enumerate(visible)}

    def _relayout(self) -> None:
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        old_source = [QPersistentModelIndex(self.mapToSource(ix)) for ix in old]
        self._recompute()
        new = [self.mapFromSource(QModelIndex(s)) if s.isValid() else QModelIndex() for s in old_source]
        self.changePersistentIndexList(old, new)
        self.layoutChanged.emit()

    def _source_reset(self) -> None:
        self.beginResetModel()
        self._recompute()
        self.endResetModel()

    def _source_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        first, last = top_left.row(), bottom_right.row()
        if last - first > 64:
            # a whole column changed (ages): one signal for the visible range is enough
            if self._order:
                self.dataChanged.emit(
                    self.index(0, top_left.column()), self.index(len(self._order) - 1, bottom_right.column())
                )
            return
        for source_row in range(first, last + 1):
            pos = self._position.get(source_row)
            if pos is not None:
                self.dataChanged.emit(self.index(pos, top_left.column()), self.index(pos, bottom_right.column()))

    # -- QAbstractProxyModel ----------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() or self.sourceModel() is None else self.sourceModel().columnCount()

    def index(self, row: int, column: int, parent=QModelIndex()) -> QModelIndex:  # noqa: B008 - Qt signature
        if parent.isValid() or not (0 <= row < len(self._order)) or not (0 <= column < len(Col)):
            return QModelIndex()
        return self.createIndex(row, column)

    def parent(self, index=QModelIndex()) -> QModelIndex:  # noqa: B008 - Qt signature
        return QModelIndex()

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        # straight to the source row: QAbstractProxyModel.data() would call back into Python
        # for mapToSource and then index() for every painted cell and role
        if not index.isValid() or index.row() >= len(self._order):
            return None
        return self.source().data_at(self._order[index.row()], index.column(), role)

    def mapToSource(self, proxy_index: QModelIndex) -> QModelIndex:
        if not proxy_index.isValid() or proxy_index.row() >= len(self._order):
            return QModelIndex()
        return self.sourceModel().index(self._order[proxy_index.row()], proxy_index.column())

    def mapFromSource(self, source_index: QModelIndex) -> QModelIndex:
        if not source_index.isValid():
            return QModelIndex()
        pos = self._position.get(source_index.row())
        if pos is None:
            return QModelIndex()
        return self.index(pos, source_index.column())

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal:
            return self.sourceModel().headerData(section, orientation, role)
        return None

    def proxy_row_of(self, participant_id: str) -> int | None:
        source_row = self.source().row_for_participant(participant_id)
        return None if source_row is None else self._position.get(source_row)


class CaseloadPanel(QWidget):
    """Search box, filters, the table and a count line; emits participantSelected(id)."""

    participantSelected = Signal(str)

    def __init__(self, parent=None, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(parent)
        self.model = CaseloadTableModel(self, clock=clock)
        self.proxy = CaseloadFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search name, case number, address, phone  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search caseload")
        self.search.textChanged.connect(self._apply_filter)

        self.only_incidents = QCheckBox("Incidents", self)
        self.only_today = QCheckBox("Due today", self)
        self.only_stale = QCheckBox("Stale", self)
        self.only_device = QCheckBox("Device issue", self)
        self.only_incidents.setToolTip("Only participants with open incidents")
        self.only_today.setToolTip("Only participants with an appointment today")
        self.only_stale.setToolTip("Only participants whose last fix is older than 15 minutes (or none)")
        self.only_device.setToolTip("Only participants with low battery, strap problem, stale or missing device")
        self.risk = QComboBox(self)
        self.risk.addItem("Any risk", "")
        for level in ("high", "medium", "low"):
            self.risk.addItem(f"{level.capitalize()}", level)
        self.risk.setAccessibleName("Risk filter")
        for box in (self.only_incidents, self.only_today, self.only_stale, self.only_device):
            box.setAccessibleName(f"Filter: {box.toolTip() or box.text()}")
            box.toggled.connect(self._apply_filter)
        self.risk.currentIndexChanged.connect(self._apply_filter)

        self.table = QTableView(self)
        self.table.setAccessibleName("Caseload table")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Col.NAME, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        # fixed row heights: the view never measures 100k rows
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        # name to incidents fit the 1366 px layout's caseload pane (the rest scrolls in)
        for col, width in {Col.NAME: 130, Col.CASE: 124, Col.RISK: 56, Col.LAST_FIX: 66, Col.BATTERY: 60,
                           Col.INCIDENTS: 64, Col.DEVICE: 64}.items():
            header.resizeSection(col, width)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)

        self.count = QLabel(self)
        self.count.setAccessibleName("Caseload count")

        filters = QHBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        for w in (self.only_incidents, self.only_today, self.only_stale, self.only_device):
            filters.addWidget(w)
        filters.addStretch(1)
        filters.addWidget(self.risk)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count)

        QShortcut(QKeySequence.StandardKey.Find, self, activated=self.focus_search, context=Qt.ShortcutContext.WindowShortcut)
        self.model.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def current_filter(self) -> CaseloadFilter:
        return CaseloadFilter(
            text=self.search.text(),
            open_incidents=self.only_incidents.isChecked(),
            risk=self.risk.currentData() or "",
            appointment_today=self.only_today.isChecked(),
            stale_location=self.only_stale.isChecked(),
            device_problem=self.only_device.isChecked(),
        )

    def _apply_filter(self, *_args) -> None:
        self.proxy.set_filter(self.current_filter())

    def _update_count(self) -> None:
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        self.count.setText(f"{shown:,} of {total:,} participants" if shown != total else f"{total:,} participants")

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            row = self.proxy.data(current, RowRole)
            if row is not None:
                self.participantSelected.emit(row.participant_id)

    def selected_participant(self) -> str | None:
        current = self.table.currentIndex()
        if not current.isValid():
            return None
        row = self.proxy.data(current, RowRole)
        return row.participant_id if row else None

    def select_participant(self, participant_id: str) -> bool:
        pos = self.proxy.proxy_row_of(participant_id)
        if pos is None:
            return False
        ix = self.proxy.index(pos, 0)
        self.table.setCurrentIndex(ix)
        self.table.scrollTo(ix)
        return True
