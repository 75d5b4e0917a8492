"""Progressive delay of password logins per source address (in memory, per server process).

The account lockout (sync_server.auth) stops guessing one officer's password; this stops one address
from guessing many, and from locking every officer out quickly: after FREE_FAILURES failed logins an
address must wait 1 s, then 2, 4, ... up to MAX_DELAY_S before its next attempt is even looked at
(429 with Retry-After, which holds no connection open). A success clears the address. The state is
per process on purpose: it is a brake, not a record, and the account lockout lives in the database.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

FREE_FAILURES = 3
MAX_DELAY_S = 60.0
#: an address with no failure for this long starts afresh (the account lockout's window)
FORGET_AFTER_S = 15 * 60.0
#: addresses tracked at most (oldest forgotten first), so a spray of addresses cannot grow memory
MAX_ADDRESSES = 100_000


class LoginThrottle:
    def __init__(self, free_failures: int = FREE_FAILURES, clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self._clock = clock
        self._lock = threading.Lock()
        # address -> (consecutive failures, monotonic time of the last one)
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def delay_after(self, failures: int) -> float:
        if failures < self.free_failures:
            return 0.0
        return min(2.0 ** (failures - self.free_failures), MAX_DELAY_S)

    def retry_after(self, address: str) -> int:
        """Whole seconds this address must still wait before a login attempt (0: go ahead)."""
        with self._lock:
            failures, last = self._recent(address)
        remaining = last + self.delay_after(failures) - self._clock()
        return math.ceil(remaining) if remaining > 0 else 0

    def failed(self, address: str) -> None:
        with self._lock:
            failures, _ = self._recent(address)
            self._failures.pop(address, None)
            self._failures[address] = (failures + 1, self._clock())
            while len(self._failures) > MAX_ADDRESSES:
                self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    def _recent(self, address: str) -> tuple[int, float]:
        failures, last = self._failures.get(address, (0, 0.0))
        if failures and self._clock() - last > FORGET_AFTER_S:
            return 0, 0.0
        return failures, last
