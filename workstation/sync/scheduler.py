"""When to sync and when to push: at start, every `interval_s`, when connectivity comes back, on
"sync now", and a push of the outbox alone soon after each officer action (`request_push`).

One background thread runs `sync()` (SyncEngine.sync or a wrapper) and `push()` (the outbox
only). A failed automatic sync that may heal by itself (network, 5xx) is retried after a truncated
exponential backoff with jitter instead of the full interval; one that needs a person (password,
revoked, bad page) waits for the next interval or an explicit "sync now". A push asked for while
a run is under way runs right after it, so nothing queued waits for the next interval; a sync
asked for at the same time covers the push (a sync pushes first). Until `start()` (automatic
sync) the thread runs only what is asked for. Sync results go to listeners (the GUI status bar,
the journal view). Plain threading, no Qt: the GUI adapter forwards results as signals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from psygnal import EmitLoopError, Signal

from workstation.sync.backoff import Backoff
from workstation.sync.connectivity import ConnectivityStatus
from workstation.sync.engine import SyncSummary

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 15 * 60.0

RunKind = Literal["sync", "push"]


class SyncScheduler:
    #: (summary) on the scheduler's thread after each sync (not after pushes)
    synced = Signal(SyncSummary)

    def __init__(
        self,
        sync: Callable[[], SyncSummary],
        *,
        push: Callable[[], SyncSummary] | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        backoff: Backoff | None = None,
    ) -> None:
        self._sync = sync
        self._push = push or sync
        self.interval_s = interval_s
        self.backoff = backoff or Backoff(base_s=2.0, cap_s=interval_s)
        #: automatic sync is on: every interval and on connectivity return
        self.periodic = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._wanted: set[RunKind] = set()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last_summary: SyncSummary | None = None
        self.runs = 0
        self.pushes = 0

    def start(self) -> None:
        """Automatic sync from now on; the first sync runs at once (sync on start)."""
        self.periodic = True
        self._ask("sync")

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def sync_now(self) -> None:
        """Ask for a sync as soon as the current run (if any) is over."""
        self._ask("sync")

    def request_push(self) -> None:
        """Send the outbox soon (after an officer's action): a push, not a whole sync."""
        self._ask("push")

    def on_connectivity(self, old: ConnectivityStatus, new: ConnectivityStatus) -> None:
        """Connectivity listener: coming back online triggers a sync (without automatic sync,
        the push of what waits in the outbox)."""
        if old.state == "offline" and new.state in ("online", "degraded"):
            self._ask("sync" if self.periodic else "push")

    def _ask(self, kind: RunKind) -> None:
        with self._guard:
            if self._stop.is_set():
                return
            self._wanted.add(kind)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sync-scheduler", daemon=True)
                self._thread.start()
        self._wake.set()

    def _take(self) -> RunKind | None:
        with self._guard:
            if "sync" in self._wanted:
                self._wanted.clear()  # a sync pushes first
                return "sync"
            if self._wanted:
                self._wanted.clear()
                return "push"
            return None

    def _run(self) -> None:
        next_sync: float | None = None  # monotonic time of the next automatic (or retried) sync
        while not self._stop.is_set():
            timeout = None if next_sync is None else max(0.0, next_sync - time.monotonic())
            self._wake.wait(timeout)
            if self._stop.is_set():
                return
            self._wake.clear()
            if next_sync is not None and time.monotonic() >= next_sync:
                next_sync = None
                with self._guard:
                    self._wanted.add("sync")
            while (kind := self._take()) is not None:
                summary = self._run_one(kind)
                if summary.revoked or self._stop.is_set():
                    return
                if kind == "sync":
                    next_sync = self._next_sync_after(summary)

    def _next_sync_after(self, summary: SyncSummary) -> float | None:
        if summary.ok:
            self.backoff.reset()
        if not self.periodic:
            return None
        delay = self.backoff.next_delay() if (not summary.ok and summary.retryable) else self.interval_s
        return time.monotonic() + delay

    def _run_one(self, kind: RunKind) -> SyncSummary:
        try:
            summary = self._sync() if kind == "sync" else self._push()
        except Exception as exc:  # noqa: BLE001 - a broken store must not kill the scheduler silently
            log.exception("%s failed", kind)
            summary = SyncSummary(ok=False, error=f"{kind} failed: {exc}")
        if kind == "push":
            self.pushes += 1
            return summary
        self.runs += 1
        self.last_summary = summary
        try:
            self.synced.emit(summary)
        except EmitLoopError:  # a broken listener must not stop syncing
            log.exception("sync listener failed")
        return summary
