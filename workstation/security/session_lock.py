"""Lock and unlock of a signed-in session: what is dropped, and how it comes back (SC-10, AC-12).

On lock: an audit row `lock` is written while the store is still open, the server tokens are
forgotten (tokens live only in memory) and the store is closed, which ends every SQLCipher
connection and with them the only in-memory copies of the data key that we hold (Python cannot
promise to zero freed memory; closing the connections is what releases the key inside
SQLCipher). On unlock: the password goes through the failed-unlock policy
(workstation.security.unlock), the store is re-opened, `unlock` is audited, and the caller's
`on_unlocked` hook logs in to the server again (best effort: offline is fine).

workstation.session.WorkstationSession composes this (its `store` is this lock's); the GUI's lock
screen (ui/lock_screen.py) drives the session's lock() and unlock() on a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from local_db import audit as audit_log
from local_db.store import Store
from workstation.security import lockout
from workstation.security.unlock import unlock_store


class SessionLocked(RuntimeError):
    """The session is locked: no store, no tokens."""


class SessionLock:
    def __init__(
        self,
        home: Path,
        officer: str,
        workstation_id: str,
        store: Store,
        *,
        forget_tokens: Callable[[], None] = lambda: None,
        on_unlocked: Callable[[Store, str], None] = lambda store, password: None,
        on_locked: Callable[[], None] = lambda: None,
    ) -> None:
        self.home = Path(home)
        self.officer = officer
        self.workstation_id = workstation_id
        self._store: Store | None = store
        self._forget_tokens = forget_tokens
        self._on_unlocked = on_unlocked
        self._on_locked = on_locked
        self._mutex = threading.Lock()

    @property
    def officer_name(self) -> str:
        return self.officer

    @property
    def locked(self) -> bool:
        return self._store is None

    @property
    def store(self) -> Store:
        store = self._store
        if store is None:
            raise SessionLocked("the workstation is locked")
        return store

    def lock(self, reason: str) -> None:
        with self._mutex:
            store, self._store = self._store, None
        if store is None:
            return
        try:
            audit_log.audit(store, "lock", "workstation", "ok", reason)
        except audit_log.AuditWriteFailed:
            pass  # locking must never fail; the failure is reported by the next audit row
        finally:
            self._forget_tokens()
            self._on_locked()
            store.close()

    def unlock(self, password: str) -> None:
        store = unlock_store(self.home, password, self.officer, self.workstation_id, event="unlock")
        with self._mutex:
            self._store = store
        self._on_unlocked(store, password)

    def release_with_code(self, code: str) -> bool:
        return lockout.release_with_code(self.home, code)
