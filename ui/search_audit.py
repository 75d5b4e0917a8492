"""AU-2 "every search": the caseload search box is audited once per settled query, not per keystroke.

The search filters the in-memory snapshot instantly (typing must stay fast); the audit row is written
on a worker once the text has been still for SETTLE_MS. If that row cannot be written, the search is
cleared and the officer told why: a search is access to participant data, and access without an audit
trail is refused (local_db.audit.AuditWriteFailed).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from ui.tasks import run_task
from workstation.access_audit import audit_search
from workstation.store import Store

SETTLE_MS = 1000


class SearchAuditor(QObject):
    """Feed it every text change; it audits the text that stays, once."""

    refused = Signal(str)  # why the search was refused (the audit trail could not be written)
    audited = Signal(str)  # the query that was audited (tests, and nothing else, listen)

    def __init__(self, store: Callable[[], Store], shown_rows: Callable[[], int], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store  # the session's store when the search settles (it changes across a lock)
        self._shown_rows = shown_rows
        self._text = ""
        self._last_audited = ""
        self._timer = QTimer(self)
        self._timer.setObjectName("search-audit")
        self._timer.setSingleShot(True)
        self._timer.setInterval(SETTLE_MS)
        self._timer.timeout.connect(self._settled)

    def text_changed(self, text: str) -> None:
        self._text = text.strip()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _settled(self) -> None:
        query = self._text
        if not query or query == self._last_audited:
            return
        self._last_audited = query
        store, rows_shown = self._store(), self._shown_rows()
        run_task(
            lambda: audit_search(store, query, via="gui", rows_shown=rows_shown),
            lambda _seq: self.audited.emit(query),
            lambda exc: self._failed(query, exc),
            owner=self,
        )

    def _failed(self, query: str, exc: BaseException) -> None:
        self._last_audited = ""
        self.refused.emit(f"Search refused: the audit trail cannot be written ({exc}).")
