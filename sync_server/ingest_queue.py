"""Group commit for single-fix ingestion (OsmAnd pings).

Each tracker request carries one fix; a transaction per fix would spend most of its time on setup and
commit. Requests hand their fix to this queue and wait; one worker thread takes everything waiting (up to
`max_batch`) and ingests it in one transaction, then answers every request. If the group fails as a
whole (for example one unknown serial), each fix is retried alone so each request gets its own answer.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from sync_server.db import Database
from sync_server.ingest import IngestError, ingest_fixes
from sync_server.live import LiveHub
from workstation.protocol import GatewayFix

log = logging.getLogger("sync_server.ingest")


class IngestQueue:
    def __init__(self, db: Database, hub: LiveHub | None, max_batch: int = 1000) -> None:
        self.db, self.hub, self.max_batch = db, hub, max_batch
        self._queue: queue.Queue[tuple[GatewayFix, Future] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fix: GatewayFix) -> Future:
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
            ingest_fixes(self.db, [fix for fix, _ in group], self.hub)
        except IngestError as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            for fix, future in group:
                self._ingest_one(fix, future)
            return
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            log.exception("ingestion failed")
            for _, future in group:
                future.set_exception(exc)
            return
        for _, future in group:
            future.set_result(None)

    def _ingest_one(self, fix: GatewayFix, future: Future) -> None:
        try:
            ingest_fixes(self.db, [fix], self.hub)
        except Exception as exc:  # noqa: BLE001 - the request's own answer
            future.set_exception(exc)
        else:
            future.set_result(None)
