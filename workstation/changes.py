"""What an action, a sync or the live feed changed in the store, so a screen refreshes that and
nothing else (a note touches one participant's record and the outbox, not the caseload).

Ids say which rows changed. The live feed also carries the values it applied (`fixes`,
`alert_values`): a screen updates a caseload cell or a map marker from them without reading the
store again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from workstation.incidents import AlertFact


@dataclass(frozen=True, slots=True)
class LiveFix:
    """A position or device-status update for one device, as the store holds it after the update
    (naive UTC times). Fields that did not change are None."""

    device_id: str
    fix_time: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    battery_pct: int | None = None
    charging: bool | None = None
    strap: str | None = None


@dataclass(frozen=True)
class Changes:
    #: participants whose record changed (anything shown about them)
    participants: frozenset[str] = frozenset()
    #: of those, the ones whose caseload row may have changed too (their own fields, device,
    #: appointments, alerts): a note changes the record, not the row
    caseload_rows: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    alerts: frozenset[str] = frozenset()
    #: server incident records added or changed
    incidents: frozenset[str] = frozenset()
    #: outbox action ids added or changed
    outbox: frozenset[str] = frozenset()
    #: the live feed's applied device values, in the order they were applied
    fixes: tuple[LiveFix, ...] = ()
    #: the live feed's applied alerts
    alert_values: tuple[AlertFact, ...] = ()

    def __or__(self, other: Changes) -> Changes:
        return Changes(self.participants | other.participants, self.caseload_rows | other.caseload_rows,
                       self.devices | other.devices,
                       self.alerts | other.alerts, self.incidents | other.incidents, self.outbox | other.outbox,
                       self.fixes + other.fixes, self.alert_values + other.alert_values)  # fmt: skip

    @staticmethod
    def union(many: Sequence[Changes]) -> Changes:
        """All of `many` in one pass (`|` page by page copies the growing sets every time)."""
        return Changes(
            frozenset().union(*(c.participants for c in many)), frozenset().union(*(c.caseload_rows for c in many)),
            frozenset().union(*(c.devices for c in many)), frozenset().union(*(c.alerts for c in many)),
            frozenset().union(*(c.incidents for c in many)), frozenset().union(*(c.outbox for c in many)),
            tuple(f for c in many for f in c.fixes), tuple(a for c in many for a in c.alert_values),
        )

    def __bool__(self) -> bool:
        return bool(self.participants or self.caseload_rows or self.devices or self.alerts or self.incidents
                    or self.outbox)
