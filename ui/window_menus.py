"""The main window's menus (built from ui.keyboard.SHORTCUTS) and the dialogs they open: the
outbox, the sync journal, the keyboard help, password change and About."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from ui import map_actions
from ui.field_views import JournalDialog
from ui.keyboard import SHORTCUTS, KeyboardDialog
from ui.outbox_view import OutboxDialog
from ui.password_dialog import ChangePasswordDialog
from ui.tasks import run_task
from ui.window_feed import TAB_RECORD, TAB_ROUTE
from workstation.read.outbox import load_journal, load_outbox


class WindowMenus:
    """Mixed into MainWindow: the menu bar and the dialogs."""

    def _build_menus(self) -> None:
        handlers: dict[str, Callable[[], Any]] = {
            "focus_caseload": lambda: self.caseload.table.setFocus(Qt.FocusReason.ShortcutFocusReason),
            "search": self.caseload.focus_search,
            "focus_record": lambda: self._show_tab(TAB_RECORD),
            "focus_map": lambda: self.map_area.setFocus(Qt.FocusReason.ShortcutFocusReason),
            "focus_route": lambda: self._show_tab(TAB_ROUTE),
            "focus_incidents": lambda: self.incidents.table.setFocus(Qt.FocusReason.ShortcutFocusReason),
            "acknowledge": self.acknowledge_selected,
            "next_incident_view": self.incidents.bar.next_view,
            "incident_filters": lambda: self.incidents.bar.age.setFocus(Qt.FocusReason.ShortcutFocusReason),
            "resolve": self.resolve_selected,
            "note": lambda: self._record_action("note", self._selected),
            "contact": lambda: self._record_action("contact", self._selected),
            "checkin": lambda: self._record_action("checkin", self._selected),
            "schedule": lambda: self._record_action("schedule", self._selected),
            "track": lambda: self._record_action("track", self._selected),
            "track_window": lambda: self._record_action("track_window", self._selected),
            "evidence_packet": lambda: _reports().open_evidence_packet(self),
            "day_report": lambda: _reports().open_day_report(self),
            "sync": self.sync_now,
            "outbox": self.open_outbox,
            "journal": self.open_journal,
            "keyboard": self.show_keyboard,
            "quit": self.close,
            "focus_devices": lambda: map_actions.show_devices(self),
            "map_first": self.toggle_map_first,
            "download_area": lambda: map_actions.download_area(self),
            "import_tiles": lambda: map_actions.import_tiles(self),
            "offline_maps": lambda: map_actions.offline_maps(self),
        }
        menus = {
            "File": ("sync", "outbox", "journal", "day_report", "quit"),
            "View": ("focus_caseload", "search", "focus_record", "focus_map", "focus_route", "focus_incidents",
                     "map_first"),
            "Participant": ("note", "contact", "checkin", "schedule", "track", "track_window", "evidence_packet"),
            "Incident": ("acknowledge", "resolve", "next_incident_view", "incident_filters"),
            "Map": ("focus_devices", "download_area", "import_tiles", "offline_maps"),
            "Help": ("keyboard",),
        }
        self.actions_by_id: dict[str, QAction] = {}
        texts = {aid: what for aid, _keys, what in SHORTCUTS}
        keys = {aid: k for aid, k, _what in SHORTCUTS}
        for menu_name, ids in menus.items():
            menu = self.menuBar().addMenu("&" + menu_name)
            for aid in ids:
                action = QAction(texts[aid], self)
                action.setShortcut(QKeySequence(keys[aid]))
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
                action.triggered.connect(lambda _=False, h=handlers[aid]: h())
                menu.addAction(action)
                self.actions_by_id[aid] = action
            if menu_name == "File":
                change = QAction("Change password…", self)
                change.triggered.connect(self.change_password)
                menu.insertAction(self.actions_by_id["quit"], change)
                menu.insertSeparator(self.actions_by_id["quit"])
            if menu_name == "Help":
                about = QAction("About Field Workstation", self)
                about.triggered.connect(self.show_about)
                menu.addAction(about)


    # ------------------------------------------------------------------ outbox / journal / help
    def open_outbox(self) -> OutboxDialog:
        if self.outbox_dialog is None:
            dialog = OutboxDialog(self)
            dialog.retryRequested.connect(self.sync_now)
            dialog.keepMineRequested.connect(lambda aid: self._decide_conflict(aid, keep_mine=True))
            dialog.useServerRequested.connect(lambda aid: self._decide_conflict(aid, keep_mine=False))
            self.outbox_dialog = dialog
        self.outbox_dialog.show()
        self.outbox_dialog.raise_()
        self._refresh_outbox()
        return self.outbox_dialog

    def _refresh_outbox(self) -> None:
        if self._suspended:
            return
        # Reads run in parallel on the pool and may finish out of order: number them and never
        # let an older read overwrite what a newer one already showed (a stale "queued" read
        # landing after the push's "done" read would stay on screen until the next sync).
        self._outbox_reads += 1
        seq, store = self._outbox_reads, self.store
        services = self.services

        def read():
            # "sending" rows are in flight only while a push runs; otherwise they are unconfirmed
            # (the request may never have left: crash, cable pulled)
            in_flight = services.sending_now()
            return load_outbox(store), in_flight and services.sending_now()

        run_task(read, lambda result: self._outbox_loaded(*result, seq=seq), owner=self)

    def _outbox_loaded(self, items, in_flight: bool = False, seq: int | None = None) -> None:
        if seq is not None:
            if seq < self._outbox_shown:
                return
            self._outbox_shown = seq
        problems = sum(1 for i in items if i.state in ("conflict", "rejected"))
        pending = sum(1 for i in items if i.state in ("queued", "sending"))
        self.status.set_pending(pending, problems)
        if self.outbox_dialog is not None:
            self.outbox_dialog.set_items(items, self._names, in_flight)

    def _decide_conflict(self, action_id: str, keep_mine: bool) -> None:
        store = self.store
        run_task(lambda: self.services.decide_conflict(store, action_id, keep_mine),
                 lambda _r: (self.reload(), self._refresh_outbox(),
                             keep_mine and self.services.request_push(self._pushed_from_thread)),
                 self._action_failed, owner=self)

    def open_journal(self) -> None:
        store = self.store
        run_task(lambda: load_journal(store), lambda entries: JournalDialog(entries, self).open(), owner=self)

    def show_keyboard(self) -> KeyboardDialog:
        dialog = KeyboardDialog(self)
        dialog.open()
        return dialog

    def change_password(self) -> ChangePasswordDialog:
        session = self.services.session
        dialog = ChangePasswordDialog(self.store, session.home, self, server=session.client)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.statusBar().showMessage("Password changed.", 6000))
        dialog.lockedOut.connect(self.lock_requested)
        dialog.open()
        return dialog

    def show_about(self) -> None:
        from workstation.version import app_version

        QMessageBox.about(self, "About Field Workstation",
                          f"<b>Field Workstation</b> {app_version()}<br>Offline-first workstation for "
                          "electronic-monitoring field officers.")


def _reports() -> Any:
    """ui.report_dialog, imported when a report is first asked for: it brings reportlab and Qt's
    print support, which the window's start does not need (cold start, `python -m bench ui`)."""
    from ui import report_dialog

    return report_dialog
