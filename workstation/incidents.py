"""Raw alerts -> incidents, the unit an officer works on.

Alert overload is the complaint officers voice most (domain.md §5.1): one flat battery produces
"low battery", then "no communication", then "no GPS"; a participant pacing a zone edge produces
a dozen "zone exit" alerts in ten minutes. Here related alerts of one device are chained into
one incident when each follows the previous within a family-specific gap, and incidents are
ranked by severity, then the participant's risk level, then recency.

Pure Python on plain data: no Qt, no database. The caller passes AlertFact snapshots and a
participant-id -> risk map; the result is immutable, so it can cross threads freely.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from workstation.protocol import TAMPER_CLASS_ALERTS

SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
RISK_RANK = {"low": 0, "medium": 1, "high": 2}

#: Alert kind -> family. Alerts of one device chain only within a family: a tamper is never folded
#: into a battery story, because its resolution rules differ (a tamper needs a note).
FAMILY_OF_KIND = {
    "strap_tamper": "tamper",
    "device_removed": "tamper",
    "low_battery": "device_health",
    "battery_critical": "device_health",
    "charging": "device_health",
    "no_communication": "device_health",
    "no_gps": "device_health",
    "zone_exit": "location",
    "zone_entry": "location",
    "curfew_violation": "location",
    "missed_checkin": "checkin",
}

#: Largest gap between consecutive alerts of one chain. A dying battery takes hours to turn into
#: "no communication"; repeated zone exits belong together only within minutes.
FAMILY_GAP = {
    "tamper": timedelta(hours=2),
    "device_health": timedelta(hours=6),
    "location": timedelta(minutes=30),
    "checkin": timedelta(hours=1),
}

FAMILY_TITLE = {
    "tamper": "Device tamper",
    "device_health": "Device power / signal",
    "location": "Location rule violation",
    "checkin": "Missed check-in",
}

KIND_LABEL = {
    "strap_tamper": "Strap tamper",
    "device_removed": "Device removed",
    "low_battery": "Low battery",
    "battery_critical": "Battery critical",
    "charging": "Charging",
    "no_gps": "No GPS",
    "no_communication": "No communication",
    "zone_exit": "Zone exit",
    "zone_entry": "Zone entry",
    "curfew_violation": "Curfew violation",
    "missed_checkin": "Missed check-in",
}


@dataclass(frozen=True, slots=True)
class AlertFact:
    """One raw alert as the incident builder needs it (a snapshot, never an ORM row)."""

    id: str
    participant_id: str
    device_id: str | None
    kind: str
    severity: str
    opened_at: datetime
    state: str = "open"
    detail: str = ""
    pending: bool = False
    incident_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    #: the officer's acknowledge/resolve of this alert came back as a conflict: what happened, in words
    conflict: str = ""


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    participant_id: str
    device_id: str | None
    family: str
    severity: str
    risk_level: str
    state: str  # open | acknowledged | resolved
    opened_at: datetime
    last_at: datetime
    alerts: tuple[AlertFact, ...]
    pending: bool

    @property
    def title(self) -> str:
        return FAMILY_TITLE.get(self.family, self.family)

    @property
    def summary(self) -> str:
        """"Low battery → No communication → No GPS" (kinds in order of first appearance)."""
        kinds: list[str] = []
        for alert in self.alerts:
            label = KIND_LABEL.get(alert.kind, alert.kind)
            if label not in kinds:
                kinds.append(label)
        return " → ".join(kinds)

    @property
    def conflict(self) -> str:
        """Why the officer's action on this incident did not apply (empty: no conflict)."""
        return next((a.conflict for a in self.alerts if a.conflict), "")

    @property
    def requires_note_to_resolve(self) -> bool:
        return any(a.kind in TAMPER_CLASS_ALERTS for a in self.alerts)

    @property
    def urgent(self) -> bool:
        """An open critical or tamper-class incident: the officer is told at once (notification,
        banner, the window title's count), wherever the list is scrolled."""
        return self.state == "open" and (self.severity == "critical" or self.requires_note_to_resolve)

    @property
    def open_alert_ids(self) -> tuple[str, ...]:
        """Alerts an acknowledge of the incident applies to (those still open)."""
        return tuple(a.id for a in self.alerts if a.state == "open")

    @property
    def actionable_alert_ids(self) -> tuple[str, ...]:
        """Alerts an acknowledge/resolve of the incident applies to (those not yet resolved)."""
        return tuple(a.id for a in self.alerts if a.state != "resolved")


def _incident_state(alerts: Iterable[AlertFact]) -> str:
    states = {a.state for a in alerts}
    if "open" in states:
        return "open"
    if "acknowledged" in states:
        return "acknowledged"
    return "resolved"


def build_incidents(alerts: Iterable[AlertFact], risk_by_participant: Mapping[str, str]) -> list[Incident]:
    """Group alerts into incidents and return them ranked (most urgent first)."""
    chains: dict[tuple[str, str, str], list[list[AlertFact]]] = defaultdict(list)
    for alert in sorted(alerts, key=lambda a: (a.opened_at, a.id)):
        family = FAMILY_OF_KIND.get(alert.kind, alert.kind)
        key = (alert.participant_id, alert.device_id or "", family)
        runs = chains[key]
        gap = FAMILY_GAP.get(family, timedelta(hours=1))
        # A resolved chain is closed to live alerts: a new open alert after it starts a new incident even
        # within the gap. Resolved alerts still chain with each other, so history reads as the episodes it was.
        if (
            runs
            and alert.opened_at - runs[-1][-1].opened_at <= gap
            and (_incident_state(runs[-1]) != "resolved" or alert.state == "resolved")
        ):
            runs[-1].append(alert)
        else:
            runs.append([alert])
    incidents = []
    for (participant_id, device_id, family), runs in chains.items():
        for run in runs:
            risk = risk_by_participant.get(participant_id, "medium")
            incidents.append(
                Incident(
                    id=f"inc-{run[0].id}",
                    participant_id=participant_id,
                    device_id=device_id or None,
                    family=family,
                    severity=max((a.severity for a in run), key=lambda s: SEVERITY_RANK.get(s, 0)),
                    risk_level=risk,
                    state=_incident_state(run),
                    opened_at=run[0].opened_at,
                    last_at=run[-1].opened_at,
                    alerts=tuple(run),
                    pending=any(a.pending for a in run),
                )
            )
    incidents.sort(key=rank_key)
    return incidents


def rank_key(incident: Incident) -> tuple:
    """Sort key: open before acknowledged before resolved, then severity, risk, recency."""
    state_rank = {"open": 0, "acknowledged": 1, "resolved": 2}.get(incident.state, 3)
    return (
        state_rank,
        -SEVERITY_RANK.get(incident.severity, 0),
        -RISK_RANK.get(incident.risk_level, 1),
        -incident.last_at.timestamp(),
        incident.id,
    )


def resolution_problem(incident: Incident, note: str) -> str | None:
    """Why resolving this incident with this note is not allowed, or None when it is."""
    if incident.state == "resolved":
        return "This incident is already resolved."
    if incident.requires_note_to_resolve and not note.strip():
        return "A tamper incident cannot be resolved without a note saying what was found."
    return None


def alert_to_incident_ratio(incidents: Iterable[Incident]) -> tuple[int, int, float]:
    """(raw alerts, incidents, alerts per incident) for reporting how much noise grouping removes."""
    incidents = list(incidents)
    alerts = sum(len(i.alerts) for i in incidents)
    return alerts, len(incidents), (alerts / len(incidents) if incidents else 0.0)
