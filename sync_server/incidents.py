"""Incident records on the server: alerts grouped as they are raised, closed when their condition
clears, escalated when an officer is needed, acted on by officers.

The rules are workstation.rules.incidents (the workstation ranks and acts with the same ones); this
module only keeps the `incident` rows and their change-feed entries in step with them. Every function
works inside the caller's write transaction and returns the feed entries it owes, so an incident
changes in the same commit as the alert or fix that changed it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync_server.caseload import upsert_entry
from sync_server.changes import ChangeEntry
from sync_server.models import Alert, Incident, Participant
from workstation.rules.incidents import (
    CLOSED_STATES,
    auto_resolvable,
    chains_into,
    clearing_reason,
    due_at,
    family_of,
    max_severity,
    needs_action_from,
)

OPEN_STATES = ("open", "acknowledged")
SYSTEM = "system"
CHUNK = 5000  # bound parameters per IN list


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    """What grouping needs of an alert being raised."""

    participant_id: str
    officer_id: str
    device_id: str | None
    kind: str
    opened_at: datetime


class IncidentGrouper:
    """Assigns each new alert of a batch to its incident, creating or extending rows."""

    def __init__(self, session: Session, participant_ids: Iterable[str], now: datetime,
                 response_times: Mapping[str, timedelta] | None = None) -> None:
        self.session, self.now, self.response_times = session, now, response_times
        self._open: dict[tuple[str, str, str], Incident] = {}
        self._touched: dict[str, tuple[Incident, str]] = {}
        self._new: list[Incident] = []
        ids = list(set(participant_ids))
        for start in range(0, len(ids), CHUNK):
            query = select(Incident).where(
                Incident.participant_id.in_(ids[start:start + CHUNK]), Incident.state.in_(OPEN_STATES)
            ).order_by(Incident.last_alert_at)
            for inc in session.scalars(query):
                self._open[(inc.participant_id, inc.device_id or "", inc.family)] = inc

    def assign(self, alert: RaisedAlert, severity: str) -> str:
        family = family_of(alert.kind)
        key = (alert.participant_id, alert.device_id or "", family)
        inc = self._open.get(key)
        if inc is not None and chains_into(family, inc.last_alert_at, alert.opened_at):
            kinds = list(inc.kinds or [])
            if alert.kind not in kinds and len(kinds) < 20:
                inc.kinds = [*kinds, alert.kind]
            inc.severity = max_severity((inc.severity, severity))
            inc.last_alert_at = max(inc.last_alert_at, alert.opened_at)
            inc.alert_count += 1
            inc.version += 1
        else:
            inc = Incident(
                id=f"in-{uuid.uuid4().hex[:20]}", version=1, participant_id=alert.participant_id,
                device_id=alert.device_id, family=family, kinds=[alert.kind], severity=severity, state="open",
                opened_at=alert.opened_at, last_alert_at=alert.opened_at, alert_count=1, needs_action=False,
                resolution="",
            )
            self._new.append(inc)
            self._open[key] = inc
        inc.updated_at = self.now
        inc.auto_resolvable = auto_resolvable(inc.kinds)
        escalate_at = needs_action_from(alert.kind, alert.opened_at)
        if inc.escalate_at is None or escalate_at < inc.escalate_at:
            inc.escalate_at = escalate_at
        if inc.needs_action:
            inc.due_at = due_at(inc.needs_action_since, inc.severity, self.response_times)
        elif inc.escalate_at <= self.now:
            _start_needing_action(inc, inc.escalate_at, self.response_times)
        self._touched[inc.id] = (inc, alert.officer_id)
        return inc.id

    def flush(self) -> list[ChangeEntry]:
        """Insert the new rows; the feed entries of every incident this batch touched."""
        self.session.add_all(self._new)
        self.session.flush()
        return [upsert_entry("incident", inc, officer_id) for inc, officer_id in self._touched.values()]


def _start_needing_action(inc: Incident, since: datetime, response_times: Mapping[str, timedelta] | None) -> None:
    inc.needs_action, inc.needs_action_since = True, since
    inc.due_at = due_at(since, inc.severity, response_times)


def auto_resolve(
    session: Session, active_by_device: Mapping[str, tuple[frozenset[str], str]], now: datetime
) -> list[ChangeEntry]:
    """Close the open self-clearing incidents of these devices whose every kind has cleared.

    `active_by_device`: device id -> (the kinds its state still shows, its officer id).
    """
    entries: list[ChangeEntry] = []
    closed: dict[str, str] = {}
    ids = list(active_by_device)
    for start in range(0, len(ids), CHUNK):
        query = select(Incident).where(
            Incident.device_id.in_(ids[start:start + CHUNK]), Incident.state.in_(OPEN_STATES),
            Incident.auto_resolvable.is_(True),
        )
        for inc in session.scalars(query):
            active, officer_id = active_by_device[inc.device_id]
            if active.intersection(inc.kinds or ()):
                continue
            inc.state, inc.resolved_by, inc.resolved_at = "auto_resolved", SYSTEM, now
            inc.resolution = ("cleared: " + clearing_reason(inc.kinds or ()))[:200]
            inc.updated_at, inc.version = now, inc.version + 1
            entries.append(upsert_entry("incident", inc, officer_id))
            closed[inc.id] = officer_id
    entries += [upsert_entry("alert", a, closed[a.incident_id]) for a in _close_alerts(session, closed, SYSTEM, now, "cleared")]
    return entries


def _close_alerts(session: Session, incident_ids: Iterable[str], by: str, now: datetime, detail: str | None) -> list[Alert]:
    closed: list[Alert] = []
    ids = list(incident_ids)
    for start in range(0, len(ids), CHUNK):
        query = select(Alert).where(Alert.incident_id.in_(ids[start:start + CHUNK]), Alert.state != "resolved")
        for alert in session.scalars(query):
            if alert.acknowledged_at is None:
                alert.acknowledged_by, alert.acknowledged_at = by, now
            alert.state, alert.resolved_by, alert.resolved_at = "resolved", by, now
            if detail:
                alert.detail = detail[:200]
            alert.version += 1
            closed.append(alert)
    return closed


def escalate(session: Session, now: datetime, response_times: Mapping[str, timedelta] | None = None) -> list[ChangeEntry]:
    """Incidents that did not clear in time now need an officer (run by the periodic watchdog)."""
    query = (
        select(Incident, Participant.officer_id)
        .join(Participant, Participant.id == Incident.participant_id)
        .where(Incident.needs_action.is_(False), Incident.state.in_(OPEN_STATES), Incident.escalate_at <= now)
    )
    entries = []
    for inc, officer_id in session.execute(query):
        _start_needing_action(inc, inc.escalate_at, response_times)
        inc.updated_at, inc.version = now, inc.version + 1
        entries.append(upsert_entry("incident", inc, officer_id))
    return entries


def officer_action(
    session: Session, inc: Incident, kind: str, username: str, resolution: str, now: datetime
) -> list[tuple[str, Incident | Alert]]:
    """Acknowledge or resolve an open incident and its alerts (the caller checked it is open and the
    tamper note rule); returns the (entity, row) pairs it changed. An acknowledge keeps it needing
    action: it stays in the queue, marked, until resolved."""
    if inc.acknowledged_at is None:
        inc.acknowledged_by, inc.acknowledged_at = username, now
    if kind == "resolve_incident":
        inc.state, inc.resolved_by, inc.resolved_at = "resolved", username, now
        inc.resolution = (resolution or "resolved")[:200]
    elif inc.state == "open":
        inc.state = "acknowledged"
    inc.updated_at, inc.version = now, inc.version + 1
    changed: list[tuple[str, Incident | Alert]] = [("incident", inc)]
    if kind == "resolve_incident":
        changed += [("alert", a) for a in _close_alerts(session, [inc.id], username, now, resolution)]
    else:
        for alert in session.scalars(select(Alert).where(Alert.incident_id == inc.id, Alert.state == "open")):
            alert.state, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", username, now
            alert.version += 1
            changed.append(("alert", alert))
    return changed


def is_closed(inc: Incident) -> bool:
    return inc.state in CLOSED_STATES
