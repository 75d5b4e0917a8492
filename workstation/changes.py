"""What an action, a sync or the live feed changed in the store, so a screen refreshes that and
nothing else (a note touches one participant's record and the outbox, not the caseload)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Changes:
    participants: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    alerts: frozenset[str] = frozenset()
    #: outbox action ids added or changed
    outbox: frozenset[str] = frozenset()

    def __or__(self, other: Changes) -> Changes:
        return Changes(self.participants | other.participants, self.devices | other.devices,
                       self.alerts | other.alerts, self.outbox | other.outbox)
