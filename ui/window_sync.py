"""The main window's connection to the server: connectivity, re-authentication, revocation and
sync (manual, automatic and the push after an action)."""

from __future__ import annotations

import threading

from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox

from ui.tasks import run_task
from workstation.sync.engine import SyncSummary


class WindowSync:
    """Mixed into MainWindow: sync and the server session."""

    def _pushed_from_thread(self, summary: SyncSummary) -> None:  # scheduler thread
        self._gui.post(lambda: (self._connectivity_changed_gui(), self.apply_changes(summary.pushed)))

    def _auto_synced(self, summary: SyncSummary) -> None:  # scheduler thread
        self._gui.post(lambda: (self._show_audit_problem(summary), self._connectivity_changed_gui(),
                                self._show_sync_changes(summary)))

    def _show_sync_changes(self, summary: SyncSummary) -> None:
        """Refresh what the sync changed (itemised by the push and the pull), not everything.
        Without the live feed every sync moves the time staleness is judged at: a snapshot anyway.
        A sync that stopped half-way may have applied pages it could not itemise: a whole snapshot."""
        if not summary.ok:
            self.reload()
            return
        if summary.changed or self.services.live_state() != "on":
            self.reload(summary.changed)
            return
        self.status.set_last_sync(self.clock())  # the pull ran and had nothing new
        self._refresh_outbox()


    def _connectivity_from_thread(self, _old=None, _new=None) -> None:
        self._gui.post(self._connectivity_changed_gui)

    def _connectivity_changed_gui(self) -> None:
        state, detail = self.services.connectivity()
        self.status.set_connection(state, detail)

    # ------------------------------------------------------------------ server session
    def _auth_required(self, reason: str) -> None:
        """The server session ended (token refused) or was never opened (offline sign-in): say
        so in the status bar and offer "Sign in…"; never a blocking modal prompt from a
        background event. Work continues offline meanwhile; nothing queued is lost."""
        if self._closing:
            return
        self.status.set_connection("degraded", f"sign-in needed: {reason}")
        self.status.sign_in.show()

    def sign_in_again(self) -> None:
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Sign in again")
        dialog.setLabelText("The server asks you to sign in again.\nPassword:")
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        dialog.textValueSelected.connect(self._relogin)
        dialog.open()
        self._open_form = dialog

    def _relogin(self, password: str) -> None:
        if not password:
            return

        def done(_result) -> None:
            self.status.sign_in.hide()
            self.sync_now()

        run_task(lambda: self.services.relogin(password), done,
                 lambda exc: self.statusBar().showMessage(f"Sign-in failed: {exc}", 10_000), owner=self)

    def _revoked(self, reason: str) -> None:
        """The agency revoked this workstation: the session already wiped the local data."""
        self.shutdown()
        QMessageBox.critical(self, "Workstation revoked",
                             f"This workstation was revoked by the agency and its local data was erased.\n\n{reason}")
        self.close()

    # ------------------------------------------------------------------ sync
    def sync_now(self) -> None:
        if self._sync_cancel is not None:
            self.statusBar().showMessage("A sync is already running.", 3000)
            return
        cancel = threading.Event()
        self._sync_cancel = cancel
        self.status.show_progress(0, 0, "Syncing")

        def progress(phase: str, done: int, total: int) -> None:  # runs on the worker
            self._gui.post(lambda: self.status.show_progress(done, total, phase))

        run_task(lambda: self.services.sync(progress, cancel), self._sync_done, self._sync_failed, owner=self)

    def cancel_sync(self) -> None:
        if self._sync_cancel is not None:
            self._sync_cancel.set()
            self.statusBar().showMessage("Cancelling sync…", 3000)

    def _sync_done(self, summary: SyncSummary) -> None:
        self._sync_cancel = None
        if getattr(self, "_start_auto_after_sync", False) and not (self._closing or self._suspended):
            self._start_auto_after_sync = False
            self.services.start_auto_sync(self._auto_synced)
        self.status.hide_progress()
        if summary.error:
            self.statusBar().showMessage(f"Sync failed: {summary.error}", 10_000)
        else:
            self.statusBar().showMessage(
                f"Synced: {summary.changes_applied:,} changes in, {summary.actions_sent} actions out", 6000)
        self._show_audit_problem(summary)
        self._connectivity_changed_gui()
        self._show_sync_changes(summary)
        self.syncFinished.emit(summary)

    def _show_audit_problem(self, summary: SyncSummary) -> None:
        if summary.audit_chain_break and not self._closing:
            self.status.set_audit_problem(summary.audit_chain_break)

    def _sync_failed(self, exc: BaseException) -> None:
        self._sync_cancel = None
        if getattr(self, "_start_auto_after_sync", False) and not (self._closing or self._suspended):
            self._start_auto_after_sync = False
            self.services.start_auto_sync(self._auto_synced)
        self.status.hide_progress()
        self.statusBar().showMessage(f"Sync failed: {exc}", 10_000)
        self._connectivity_changed_gui()
        self.syncFinished.emit(exc)
