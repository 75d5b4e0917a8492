"""Is the agency server reachable? online / degraded / offline, with the time of last contact.

Fed by every request (ServerClient reports each contact) and read by the GUI status bar and the
scheduler (which syncs when the state goes back to online).

  online    the last request succeeded and was not slow
  degraded  the server answered but badly (5xx, slow), or one request in a row failed to connect
  offline   OFFLINE_AFTER requests in a row could not reach the server (or nothing tried yet
            since start and the last attempt failed)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psygnal import Signal

from local_db.timeutil import utc_now
from workstation.sync.errors import ServerFailed, ServerUnreachable

State = Literal["online", "degraded", "offline"]
OFFLINE_AFTER = 2
SLOW_S = 5.0


@dataclass(frozen=True)
class ConnectivityStatus:
    state: State
    last_contact_at: datetime | None  # naive UTC
    last_error: str | None


class Connectivity:
    #: (old, new) when the state moves, on the thread whose request moved it
    changed = Signal(ConnectivityStatus, ConnectivityStatus)

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "offline"
        self._last_contact: datetime | None = None
        self._last_error: str | None = None
        self._failures = 0

    def status(self) -> ConnectivityStatus:
        with self._lock:
            return ConnectivityStatus(self._state, self._last_contact, self._last_error)

    def contact_succeeded(self, latency_s: float) -> None:
        self._move(lambda: ("degraded" if latency_s > SLOW_S else "online", True, None))

    def contact_failed(self, error: Exception) -> None:
        def decide() -> tuple[State, bool, str | None]:
            if isinstance(error, ServerFailed):
                return "degraded", True, str(error)  # it answered: that is contact, but not service
            self._failures += 1
            if isinstance(error, ServerUnreachable) and self._failures < OFFLINE_AFTER and self._state != "offline":
                return "degraded", False, str(error)
            return "offline", False, str(error)

        self._move(decide)

    def _move(self, decide: Callable[[], tuple[State, bool, str | None]]) -> None:
        with self._lock:
            old = ConnectivityStatus(self._state, self._last_contact, self._last_error)
            state, contacted, error = decide()
            if contacted:
                self._last_contact = self._clock()
                if state == "online":
                    self._failures = 0
            self._state, self._last_error = state, error
            new = ConnectivityStatus(self._state, self._last_contact, self._last_error)
        if new.state != old.state:
            self.changed.emit(old, new)
