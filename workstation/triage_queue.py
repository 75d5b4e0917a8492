"""The triage queue's views and filters, on incident snapshots (plain data: no Qt, no store).

One rule for the window's incidents panel and `workstation incidents`: which incidents each view
lists (what needs the officer, what cleared by itself today, everything the snapshot holds) and
which of them pass the officer's filters by age, kind (incident family) and participant risk.

An incident's age is counted from when it opened (its first alert); "today" is the agency's
calendar day (workstation.local_time.agency_day), so the answer is the same whatever the laptop's
time zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from workstation.incidents import Incident
from workstation.local_time import agency_day
from workstation.rules.incidents import FAMILY_TITLE, RISK_RANK

#: view id -> its label in the window (the order of the tabs above the list)
VIEWS: Mapping[str, str] = {
    "needs_action": "Needs action",
    "auto_resolved_today": "Auto-resolved today",
    "all": "All alerts",
}
#: age filter id -> its label
AGES: Mapping[str, str] = {
    "any": "Any age",
    "hour": "Last hour",
    "today": "Today",
    "older": "Older than a day",
}
#: kind filter: incident family -> label (the families the incident definition knows)
KINDS: Mapping[str, str] = FAMILY_TITLE
#: risk filter: participant risk level -> label, highest first
RISKS: Mapping[str, str] = {r: r.capitalize() for r in sorted(RISK_RANK, key=RISK_RANK.__getitem__, reverse=True)}


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """The officer's filters; they combine (an incident must pass each). Empty sets: no filter."""

    age: str = "any"
    kinds: frozenset[str] = frozenset()
    risks: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.age not in AGES:
            raise ValueError(f"unknown age filter {self.age!r} (one of {', '.join(AGES)})")
        unknown = sorted(set(self.kinds) - set(KINDS)) + sorted(set(self.risks) - set(RISKS))
        if unknown:
            raise ValueError(f"unknown kind or risk filter: {', '.join(unknown)}")

    @property
    def active(self) -> bool:
        return self.age != "any" or bool(self.kinds) or bool(self.risks)


NO_FILTER = QueueFilter()


@dataclass(frozen=True, slots=True)
class QueueClock:
    """The moments the views and the age filter are judged against."""

    now: datetime
    day_start: datetime

    @classmethod
    def at(cls, now: datetime, agency_time_zone: str) -> QueueClock:
        return cls(now, agency_day(now, agency_time_zone)[0])


def _views_of(incident: Incident, clock: QueueClock) -> tuple[bool, bool]:
    """(in Needs action, in Auto-resolved today); every incident is in All alerts."""
    # a conflict waits for the officer's decision even on a closed incident
    needs = incident.needs_officer or bool(incident.conflict)
    cleared_today = (incident.auto_resolved and incident.resolved_at is not None
                     and incident.resolved_at >= clock.day_start)
    return needs, cleared_today


def in_view(incident: Incident, view: str, clock: QueueClock) -> bool:
    if view == "all":
        return True
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r} (one of {', '.join(VIEWS)})")
    needs, cleared_today = _views_of(incident, clock)
    return needs if view == "needs_action" else cleared_today


def passes(incident: Incident, queue_filter: QueueFilter, clock: QueueClock) -> bool:
    f = queue_filter
    if f.kinds and incident.family not in f.kinds:
        return False
    if f.risks and incident.risk_level not in f.risks:
        return False
    if f.age == "hour":
        return incident.opened_at >= clock.now - timedelta(hours=1)
    if f.age == "today":
        return incident.opened_at >= clock.day_start
    if f.age == "older":
        return incident.opened_at <= clock.now - timedelta(days=1)
    return True


def queue(
    incidents: Iterable[Incident], view: str, queue_filter: QueueFilter, clock: QueueClock
) -> list[Incident]:
    """The incidents a view lists under the filters, in queue order (the incoming order, already
    ranked by workstation.incidents.rank_key; the auto-resolved view: most recently cleared first)."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r} (one of {', '.join(VIEWS)})")
    filtering = queue_filter.active
    listed = [i for i in incidents
              if (view == "all" or in_view(i, view, clock)) and (not filtering or passes(i, queue_filter, clock))]
    if view == "auto_resolved_today":
        listed.sort(key=lambda i: (i.resolved_at or i.last_at, i.id), reverse=True)
    return listed


def view_counts(incidents: Sequence[Incident], queue_filter: QueueFilter, clock: QueueClock) -> dict[str, int]:
    """How many incidents each view lists under the filters (the counts on the view tabs)."""
    needing = cleared = listed = 0
    filtering = queue_filter.active
    for incident in incidents:
        if filtering and not passes(incident, queue_filter, clock):
            continue
        needs, cleared_today = _views_of(incident, clock)
        listed += 1
        needing += needs
        cleared += cleared_today
    return {"needs_action": needing, "auto_resolved_today": cleared, "all": listed}
