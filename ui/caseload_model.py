"""The caseload table model: immutable CaseloadRow snapshots (local_db.queries), never ORM rows.

A whole new snapshot replaces the rows once (after a sync); live fixes replace single rows and
emit dataChanged for the changed cells only, so the table is never reset and the selection stays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from enum import IntEnum

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QFont

from ui import theme
from workstation.changes import LiveFix
from workstation.clock import utc_now
from workstation.local_time import is_same_local_day, local_day, local_text
from workstation.read.caseload import CaseloadRow
from workstation.read.rules import (
    display_name,
    is_stale,
    low_battery,
    stale_reference,
    strap_label,
    strap_problem,
)
from workstation.read.search import search_text
from workstation.route import format_age
from workstation.rules.incidents import RISK_RANK
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE

SortRole = Qt.ItemDataRole.UserRole + 1
RowRole = Qt.ItemDataRole.UserRole + 2

#: above this many changed rows, one dataChanged covers the span instead of one per row
BULK_CHANGE_ROWS = 200
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
        self._data_as_of: datetime | None = None  # set while the live feed is away (rules.stale_reference)
        self._time_zones: dict[str, str] = {}  # participant id -> IANA zone their times are shown in
        self._bold = QFont()
        self._bold.setBold(True)

    # -- feeding ----------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[CaseloadRow], search_texts: Sequence[str] | None = None) -> None:
        """Replace everything with a new snapshot (one reset; used after a sync, not for live data).
        `search_texts`: each row's search_text, worked out on the worker that read the rows (for
        7,000 rows that is ~15 ms the GUI thread does not spend)."""
        self.beginResetModel()
        self._rows = list(rows)
        self._reindex(search_texts)
        self._now = self.clock()
        self.endResetModel()

    def _reindex(self, search_texts: Sequence[str] | None = None) -> None:
        self._row_of_participant = {r.participant_id: i for i, r in enumerate(self._rows)}
        self._row_of_device = {r.device_id: i for i, r in enumerate(self._rows) if r.device_id}
        if search_texts is not None and len(search_texts) == len(self._rows):
            self._haystack = list(search_texts)
        else:
            self._haystack = [search_text(r) for r in self._rows]

    def replace_changed(self, rows: Sequence[CaseloadRow], changed: Sequence[int],
                        search_texts: Sequence[str] | None = None) -> None:
        """Take a snapshot with the same participants in the same order, where only the rows at
        `changed` differ (worked out off the GUI thread): no reset, one dataChanged per row, and
        only those rows re-indexed (re-indexing all 7,000 took ~12 ms of the GUI thread on every
        live-alert reload, measured in `python -m bench ui`). `search_texts`: the changed rows'
        search texts in the order of `changed`, worked out on the worker too."""
        self._now = self.clock()
        old, self._rows = self._rows, list(rows)
        texts = search_texts if search_texts is not None and len(search_texts) == len(changed) else None
        for n, i in enumerate(changed):
            before, after = old[i], self._rows[i]
            if before.device_id != after.device_id:
                if self._row_of_device.get(before.device_id) == i:
                    del self._row_of_device[before.device_id]
                if after.device_id:
                    self._row_of_device[after.device_id] = i
            self._haystack[i] = texts[n] if texts is not None else search_text(after)
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

    def set_time_zones(self, zones: dict[str, str]) -> None:
        if zones != self._time_zones:
            self._time_zones = dict(zones)
            if self._rows:
                self.dataChanged.emit(self.index(0, Col.NEXT_APPT), self.index(len(self._rows) - 1, Col.NEXT_APPT))

    def time_zone(self, participant_id: str) -> str:
        return self._time_zones.get(participant_id, DEFAULT_AGENCY_TIME_ZONE)

    def stale_at(self) -> datetime:
        """When staleness is judged: now, or while offline the time the data is as of."""
        return stale_reference(self._now, self._data_as_of)

    def set_data_as_of(self, when: datetime | None) -> None:
        if when != self._data_as_of:
            self._data_as_of = when
            if self._rows:
                self.dataChanged.emit(self.index(0, Col.LAST_FIX), self.index(len(self._rows) - 1, Col.LAST_FIX))

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
            return RISK_RANK.get(row.risk_level, 1)
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
            if strap_problem(row):
                label += f" · strap {strap_label(row.strap)}"
            return label
        if col == Col.BATTERY:
            if row.battery_pct is None:
                return "—"
            return f"{row.battery_pct}%{' ⚡' if row.charging else ''}"
        if col == Col.LAST_FIX:
            if row.last_fix_time is None:
                return "no fix · stale"
            age = format_age(self._now - row.last_fix_time)
            return f"{age} · stale" if is_stale(row, self.stale_at()) else age
        if col == Col.INCIDENTS:
            n = self._incidents.get(row.participant_id, 0)
            return str(n) if n else ""
        if row.next_appointment_at is None:
            return ""
        when, zone = row.next_appointment_at, self.time_zone(row.participant_id)
        day = "Today" if is_same_local_day(when, self._now, zone) else f"{local_day(when, zone):%a %d %b}"
        what = APPOINTMENT_LABEL.get(row.next_appointment_kind, row.next_appointment_kind)
        return f"{day} {local_text(when, zone)} · {what}"

    def _foreground(self, row: CaseloadRow, col: int):
        if col == Col.RISK:
            return theme.colour(theme.RISK_COLOUR_KEY.get(row.risk_level, "muted"))
        if col == Col.LAST_FIX and is_stale(row, self.stale_at()):
            return theme.colour("danger")
        if col == Col.BATTERY and low_battery(row):
            return theme.colour("danger")
        if col == Col.DEVICE and strap_problem(row):
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
