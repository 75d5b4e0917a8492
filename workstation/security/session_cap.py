"""Hard session cap (CJIS IA-5 j-10/IA-11): re-authenticate at least every 12 hours.

The cap counts from the last full authentication (login, or an unlock with the password), on
the same suspend-aware clock as the idle lock, so sleeping through the night does not extend a
session. When it is reached the GUI locks with reason "session_cap" and the password is needed
again; an online re-login is done by the sync engine on the next sync with the new credentials.
"""

from __future__ import annotations

from collections.abc import Callable

from workstation.security.idle_lock import SuspendAwareClock

MAX_SESSION_HOURS = 12.0


class SessionCap:
    def __init__(self, hours: float = MAX_SESSION_HOURS, clock: Callable[[], float] | None = None) -> None:
        if not 0 < hours <= MAX_SESSION_HOURS:
            raise ValueError(f"session cap must be between 0 and {MAX_SESSION_HOURS} hours (got {hours})")
        self._limit_s = hours * 3600.0
        self._clock = clock or SuspendAwareClock()
        self._started = self._clock()

    def authenticated(self) -> None:
        """The officer just proved the password: the 12 h count starts again."""
        self._started = self._clock()

    def remaining_seconds(self) -> float:
        return max(0.0, self._limit_s - (self._clock() - self._started))

    def expired(self) -> bool:
        return self.remaining_seconds() <= 0.0
