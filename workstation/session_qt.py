"""Qt signals for a WorkstationSession (QtCore only): the GUI connects to these.

The session's listeners run on worker threads (scheduler, live feed, the sync worker below);
Qt delivers each signal to receivers living in the GUI thread through a queued connection, so
slots run on the GUI thread and the GUI thread never waits on disk or network. Payloads are plain
Python data (dicts, lists, strings), never ORM rows.

    bridge = SessionSignals(session)
    bridge.syncFinished.connect(status_bar.show_summary)
    bridge.sync_now()            # runs on a worker thread; progress via syncProgress
    bridge.start_live()          # liveChanged(device_ids, alert_ids)
    bridge.close()               # stop workers before session.close()
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from workstation.session import WorkstationSession
from workstation.sync.connectivity import ConnectivityStatus
from workstation.sync.engine import SyncProgress, SyncSummary
from workstation.sync.live import LiveChanges


class SessionSignals(QObject):
    syncStarted = Signal()
    #: phase ("push" | "pull"), done, total, bytes
    syncProgress = Signal(str, int, int, int)
    #: SyncSummary.as_json()
    syncFinished = Signal(dict)
    #: device ids, alert ids (sorted lists)
    liveChanged = Signal(list, list)
    #: state ("online" | "degraded" | "offline"), last contact (ISO-8601 UTC or "")
    connectivityChanged = Signal(str, str)
    #: the server session ended: ask the officer for the password, then session.relogin()
    authRequired = Signal(str)
    #: the workstation was revoked and wiped: show the reason and close the window
    revoked = Signal(str)

    def __init__(self, session: WorkstationSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self._running = threading.Event()  # cleared before syncFinished, so a slot may start the next
        session.connectivity.add_listener(self._on_connectivity)
        session.on_auth_required(self.authRequired.emit)
        session.on_revoked(self.revoked.emit)

    # ------------------------------------------------------------------ commands (never block)

    def sync_now(self) -> bool:
        """Start a sync on a worker thread; False if one is already running."""
        if self._running.is_set():
            return False
        if self._worker is not None:
            self._worker.join()  # it has emitted syncFinished and is returning
        self._running.set()
        self._cancel.clear()
        self._worker = threading.Thread(target=self._run_sync, name="sync-now", daemon=True)
        self._worker.start()
        return True

    def cancel_sync(self) -> None:
        self._cancel.set()

    def start_auto_sync(self, interval_s: float) -> None:
        scheduler = self.session.start_auto_sync(interval_s)
        scheduler.add_listener(lambda summary: self.syncFinished.emit(summary.as_json()))

    def start_live(self) -> None:
        self.session.start_live(self._on_live)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker (cancelling its sync), automatic sync and the live feed. The signals
        stay connected: sync_now() may be called again."""
        self._cancel.set()
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None
        self.session.stop_auto_sync()
        self.session.stop_live()

    def connectivity(self) -> tuple[str, str]:
        """The current (state, last contact) — connectivityChanged only reports changes."""
        return _connectivity_args(self.session.connectivity.status())

    # ------------------------------------------------------------------ worker side

    def _run_sync(self) -> None:
        self.syncStarted.emit()
        try:
            summary = self.session.sync_now(self._on_progress, self._cancel)
        except Exception as exc:  # noqa: BLE001 - reported to the GUI, not lost in a thread
            summary = SyncSummary(ok=False, error=f"sync failed: {exc}")
        self._running.clear()
        self.syncFinished.emit(summary.as_json())

    def _on_progress(self, progress: SyncProgress) -> None:
        self.syncProgress.emit(progress.phase, progress.done, progress.total, progress.bytes)

    def _on_live(self, changes: LiveChanges) -> None:
        self.liveChanged.emit(sorted(changes.device_ids), sorted(changes.alert_ids))

    def _on_connectivity(self, _old: ConnectivityStatus, new: ConnectivityStatus) -> None:
        self.connectivityChanged.emit(*_connectivity_args(new))


def _connectivity_args(status: ConnectivityStatus) -> tuple[str, str]:
    last = status.last_contact_at.isoformat() + "Z" if status.last_contact_at else ""
    return status.state, last
