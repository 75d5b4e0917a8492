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
from datetime import datetime
from typing import Any

from workstation.rules.incidents import (
    CLOSED_STATES,
    FAMILY_TITLE,
    KIND_LABEL,
    NOTE_REQUIRED_MESSAGE,
    OUTAGE_FAMILY,
    OUTAGE_KIND,
    RISK_RANK,
    SEVERITY_RANK,
    chains_into,
    due_at,
    escalation_time,
    family_of,
    max_severity,
    needs_action_from,
    requires_note,
)


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
class ServerIncidentFact:
    """The server's incident record as the queue needs it (a snapshot of local_db's Incident row)."""

    id: str
    state: str  # open | acknowledged | resolved | auto_resolved
    severity: str
    needs_action: bool
    due_at: datetime | None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution: str = ""
    pending: bool = False
    #: the server's family ("outage" groups many participants' silences; see rules.incidents)
    family: str = ""


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    participant_id: str
    device_id: str | None
    family: str
    severity: str
    risk_level: str
    state: str  # open | acknowledged | resolved (closed by an officer or by itself: see auto_resolved)
    opened_at: datetime
    last_at: datetime
    alerts: tuple[AlertFact, ...]
    pending: bool
    #: an officer is needed (at once for kinds that never clear, after a delay for those that may)
    needs_action: bool = True
    #: the response deadline (None: not needing action yet)
    due_at: datetime | None = None
    #: closed because its condition cleared, not by an officer
    auto_resolved: bool = False
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution: str = ""
    acknowledged_by: str | None = None
    #: the server holds this incident (actions go to it as one)
    on_server: bool = False

    @property
    def needs_officer(self) -> bool:
        """In the officer's queue: needing action and not closed (acknowledged ones stay until resolved)."""
        return self.state != "resolved" and self.needs_action

    def overdue(self, now: datetime) -> bool:
        return self.state != "resolved" and self.due_at is not None and self.due_at < now

    @property
    def title(self) -> str:
        return FAMILY_TITLE.get(self.family, self.family)

    @property
    def participant_ids(self) -> tuple[str, ...]:
        """Everyone this incident is about, in order of their first alert: one participant, or the
        participants of an outage."""
        return tuple(dict.fromkeys(a.participant_id for a in self.alerts))

    @property
    def waiting_participant_ids(self) -> tuple[str, ...]:
        """The participants whose alerts in this incident are not resolved yet (an outage clears device
        by device)."""
        return tuple(dict.fromkeys(a.participant_id for a in self.alerts if a.state != "resolved"))

    @property
    def summary(self) -> str:
        """"Low battery → No communication → No GPS" (kinds in order of first appearance); an outage:
        "No communication: 6 devices, 4 still silent"."""
        if self.family == OUTAGE_FAMILY:
            devices = {a.device_id for a in self.alerts}
            silent = {a.device_id for a in self.alerts if a.state != "resolved"}
            label = KIND_LABEL.get(OUTAGE_KIND, OUTAGE_KIND)
            return f"{label}: {len(devices)} devices, {len(silent)} still silent"
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
        return requires_note(a.kind for a in self.alerts)

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


def build_incidents(
    alerts: Iterable[AlertFact],
    risk_by_participant: Mapping[str, str],
    server: Mapping[str, ServerIncidentFact] | None = None,
    now: datetime | None = None,
) -> list[Incident]:
    """Group alerts into incidents and return them ranked (most urgent first, see rank_key).

    Alerts the server already grouped (their `incident_id`) stay in the server's incident, whose
    record (`server`) gives the state, needs-action and due time; the others (history without one)
    chain by the same rule the server uses, and the shared rules say whether they need an officer
    as of `now` (None: they do).
    """
    server = server or {}
    by_server_id: dict[str, list[AlertFact]] = defaultdict(list)
    chains: dict[tuple[str, str, str], list[list[AlertFact]]] = defaultdict(list)
    for alert in sorted(alerts, key=lambda a: (a.opened_at, a.id)):
        if alert.incident_id:
            by_server_id[alert.incident_id].append(alert)
            continue
        family = family_of(alert.kind)
        key = (alert.participant_id, alert.device_id or "", family)
        runs = chains[key]
        # A resolved chain is closed to live alerts: a new open alert after it starts a new incident even
        # within the gap. Resolved alerts still chain with each other, so history reads as the episodes it was.
        if (
            runs
            and chains_into(family, runs[-1][-1].opened_at, alert.opened_at)
            and (_incident_state(runs[-1]) != "resolved" or alert.state == "resolved")
        ):
            runs[-1].append(alert)
        else:
            runs.append([alert])
    groups = [(f"inc-{run[0].id}", run) for runs in chains.values() for run in runs]
    groups += [(incident_id, run) for incident_id, run in by_server_id.items()]
    incidents = []
    for incident_id, run in groups:
        first = run[0]
        record = server.get(incident_id)
        family = record.family if record is not None and record.family else family_of(first.kind)
        severity = max_severity(a.severity for a in run)
        extra: dict[str, Any] = {}
        if record is not None:
            extra = dict(
                severity=max_severity((severity, record.severity)),
                state="resolved" if record.state in CLOSED_STATES else record.state,
                auto_resolved=record.state == "auto_resolved", needs_action=record.needs_action,
                due_at=record.due_at, resolved_by=record.resolved_by, resolved_at=record.resolved_at,
                resolution=record.resolution, acknowledged_by=record.acknowledged_by, on_server=True,
                pending=record.pending or any(a.pending for a in run),
            )
        else:
            # as the server decides (rules.incidents.escalation_time): only what is not resolved still counts
            going_on = [a for a in run if a.state != "resolved"]
            since = escalation_time([(a.kind, a.opened_at) for a in going_on], {a.kind for a in going_on})
            if since is None:
                since = min(needs_action_from(a.kind, a.opened_at) for a in run)
            needing = now is None or since <= now
            extra = dict(needs_action=needing, due_at=due_at(since, severity) if needing else None)
        incidents.append(
            Incident(**{
                "id": incident_id,
                "participant_id": first.participant_id,
                "device_id": None if family == OUTAGE_FAMILY else first.device_id or None,
                "family": family,
                "severity": severity,
                "risk_level": risk_by_participant.get(first.participant_id, "medium"),
                "state": _incident_state(run),
                "opened_at": first.opened_at,
                "last_at": run[-1].opened_at,
                "alerts": tuple(run),
                "pending": any(a.pending for a in run),
                **extra,
            })
        )
    incidents.sort(key=rank_key)
    return incidents


def rank_key(incident: Incident) -> tuple[Any, ...]:
    """Sort key of the triage queue: what needs an officer first, by response deadline (overdue
    first), then severity, risk and recency. Acknowledged incidents keep their place until resolved
    (an acknowledged critical tamper never sinks below old low-battery items); closed ones go last."""
    closed = incident.state == "resolved"
    return (
        closed,
        not incident.needs_action,
        incident.due_at is None,
        incident.due_at or incident.last_at,
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
        return NOTE_REQUIRED_MESSAGE
    return None


def alert_to_incident_ratio(incidents: Iterable[Incident]) -> tuple[int, int, float]:
    """(raw alerts, incidents, alerts per incident) for reporting how much noise grouping removes."""
    incidents = list(incidents)
    alerts = sum(len(i.alerts) for i in incidents)
    return alerts, len(incidents), (alerts / len(incidents) if incidents else 0.0)
