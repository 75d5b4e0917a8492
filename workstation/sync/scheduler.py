"""When to sync: at start, every `interval_s`, when connectivity comes back, and on "sync now".

One background thread runs `sync()` (SyncEngine.sync or a wrapper); a failed sync that may heal
by itself (network, 5xx) is retried after a truncated exponential backoff with jitter instead of
the full interval; one that needs a person (password, revoked, bad page) waits for the next
interval or an explicit "sync now". Results go to listeners (the GUI status bar, the journal
view). Plain threading, no Qt: the GUI adapter forwards results as signals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from workstation.sync.backoff import Backoff
from workstation.sync.connectivity import ConnectivityStatus
from workstation.sync.engine import SyncSummary

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 15 * 60.0


class SyncScheduler:
    def __init__(
        self,
        sync: Callable[[], SyncSummary],
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        backoff: Backoff | None = None,
    ) -> None:
        self._sync = sync
        self.interval_s = interval_s
        self.backoff = backoff or Backoff(base_s=2.0, cap_s=interval_s)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[SyncSummary], None]] = []
        self.last_summary: SyncSummary | None = None
        self.runs = 0

    def add_listener(self, listener: Callable[[SyncSummary], None]) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        """Start the thread; the first sync runs at once (sync on start)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._wake.set()
        self._thread = threading.Thread(target=self._run, name="sync-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def sync_now(self) -> None:
        """Ask for a sync as soon as the current one (if any) is over."""
        self._wake.set()

    def on_connectivity(self, old: ConnectivityStatus, new: ConnectivityStatus) -> None:
        """Connectivity listener: coming back online triggers a sync."""
        if old.state == "offline" and new.state in ("online", "degraded"):
            self.sync_now()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            try:
                summary = self._sync()
            except Exception as exc:  # noqa: BLE001 - a broken store must not kill the scheduler silently
                log.exception("sync failed")
                summary = SyncSummary(ok=False, error=f"sync failed: {exc}")
            self.runs += 1
            self.last_summary = summary
            for listener in list(self._listeners):
                try:
                    listener(summary)
                except Exception:  # noqa: BLE001 - a broken listener must not stop syncing
                    log.exception("sync listener failed")
            if summary.revoked:
                return
            if summary.ok:
                self.backoff.reset()
                delay = self.interval_s
            elif summary.retryable:
                delay = self.backoff.next_delay()
            else:
                delay = self.interval_s
            # wait for the delay, or an earlier "sync now" / connectivity return / stop
            if self._wake.wait(delay):
                continue
            self._wake.set()
