"""Group commit for single-fix ingestion (OsmAnd pings).

Each tracker request carries one fix; a transaction per fix would spend most of its time on setup and
commit. Requests hand their fix to this queue and wait; one worker thread takes everything waiting (up to
`max_batch`) and ingests it in one transaction, then answers every request with its own fix's outcome
(a refused fix never fails its neighbours: ingest_fixes judges each on its own). Should the group fail
as a whole all the same (a database error), each fix is retried alone, so only its own request fails.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from sync_server.db import Database
from sync_server.ingest import Bounds, ingest_fixes
from sync_server.live import LiveHub
from workstation.protocol import GatewayFix, IngestResult

log = logging.getLogger("sync_server.ingest")


class IngestQueue:
    def __init__(
        self, db: Database, hub: LiveHub | None, max_batch: int = 1000, bounds: Bounds | None = None,
        via: str = "osmand",
    ) -> None:
        self.db, self.hub, self.max_batch = db, hub, max_batch
        self.bounds, self.via = bounds or Bounds(), via
        self._queue: queue.Queue[tuple[GatewayFix, Future] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fix: GatewayFix) -> Future:
        """A future of the fix's FixOutcome (or of the exception that failed it)."""
        future: Future = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ingest-queue", daemon=True)
                self._thread.start()
        self._queue.put((fix, future))
        return future

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=15)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            while len(group) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._ingest(group)
                    return
                group.append(more)
            self._ingest(group)

    def _ingest(self, group: list[tuple[GatewayFix, Future]]) -> None:
        try:
            result = self._apply([fix for fix, _ in group])
        except Exception:  # noqa: BLE001 - isolate: each fix alone, so only a failing one fails its request
            if len(group) > 1:
                log.exception("group of %d pings failed; retrying each alone", len(group))
                for item in group:
                    self._ingest([item])
                return
            log.exception("ping failed")
            group[0][1].set_exception(RuntimeError("ingestion failed"))
            return
        for (_, future), outcome in zip(group, result.results, strict=True):
            future.set_result(outcome)

    def _apply(self, fixes: list[GatewayFix]) -> IngestResult:
        return ingest_fixes(self.db, fixes, self.hub, via=self.via, bounds=self.bounds)
