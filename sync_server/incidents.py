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
from sync_server.models import Alert, Device, Incident, Participant
from workstation.rules.incidents import (
    CLOSED_STATES,
    OUTAGE_FAMILY,
    OUTAGE_KIND,
    OUTAGE_WINDOW,
    assign_outages,
    auto_resolvable,
    chains_into,
    clearing_reason,
    due_at,
    escalation_time,
    family_of,
    max_severity,
    needs_action_from,
    outage_groups,
    outage_label,
    severity_of,
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


def fold_outages(session: Session, now: datetime,
                 response_times: Mapping[str, timedelta] | None = None) -> list[ChangeEntry]:
    """Fold the recent silences of one vendor gateway or one area into an outage incident per officer
    (the rule: workstation.rules.incidents.is_outage). A silence alone in its incident (no battery story
    before it, not yet acknowledged) moves into the outage; its own incident is deleted from the feed.
    Runs in check_silence's transaction, after the silences were raised."""
    recent = session.execute(
        select(Alert, Incident, Device.gateway, Device.last_lat, Device.last_lon, Participant.officer_id)
        .join(Incident, Incident.id == Alert.incident_id)
        .join(Device, Device.id == Alert.device_id)
        .join(Participant, Participant.id == Alert.participant_id)
        .where(Alert.kind == OUTAGE_KIND, Alert.state == "open", Alert.opened_at >= now - OUTAGE_WINDOW,
               Incident.state == "open")
        .order_by(Alert.opened_at, Alert.id)
    ).all()
    in_outages: dict[str, int] = {}  # group -> its silences of the window already in an outage
    lone = []
    for alert, inc, gateway, lat, lon, officer_id in recent:
        if inc.family == OUTAGE_FAMILY:
            in_outages[inc.outage_group or ""] = in_outages.get(inc.outage_group or "", 0) + 1
        elif list(inc.kinds or ()) == [OUTAGE_KIND] and inc.alert_count == 1 and inc.acknowledged_at is None:
            lone.append((alert, inc, outage_groups(gateway, lat, lon), officer_id))
    if not lone:
        return []
    # whoever's caseload the devices are in: an outage is counted across the agency
    chosen = assign_outages({alert.id: groups for alert, _, groups, _ in lone}, in_outages)
    outages: dict[tuple[str, str], Incident] = {}
    for inc, officer_id in session.execute(
        select(Incident, Participant.officer_id).join(Participant, Participant.id == Incident.participant_id)
        .where(Incident.family == OUTAGE_FAMILY, Incident.state.in_(OPEN_STATES))
    ):
        outages[(officer_id, inc.outage_group or "")] = inc
    entries: list[ChangeEntry] = []
    touched: dict[str, tuple[Incident, str]] = {}
    for alert, inc, groups, officer_id in lone:
        group = chosen.get(alert.id) or next((
            g for g in groups if (officer_id, g) in outages
            and chains_into(OUTAGE_FAMILY, outages[(officer_id, g)].last_alert_at, alert.opened_at)), None)
        if group is None:
            continue
        outage = outages.get((officer_id, group))
        if outage is None or not chains_into(OUTAGE_FAMILY, outage.last_alert_at, alert.opened_at):
            outage = Incident(
                id=f"in-{uuid.uuid4().hex[:20]}", version=0, participant_id=alert.participant_id, device_id=None,
                family=OUTAGE_FAMILY, kinds=[OUTAGE_KIND], severity=severity_of(OUTAGE_KIND), state="open",
                opened_at=alert.opened_at, updated_at=now, last_alert_at=alert.opened_at, alert_count=0, auto_resolvable=True,
                needs_action=False, resolution="", outage_group=group, escalate_at=None,
            )
            session.add(outage)
            outages[(officer_id, group)] = outage
        outage.alert_count += 1
        outage.opened_at = min(outage.opened_at, alert.opened_at)
        outage.last_alert_at = max(outage.last_alert_at, alert.opened_at)
        escalate_at = needs_action_from(alert.kind, alert.opened_at)
        if outage.escalate_at is None or escalate_at < outage.escalate_at:
            outage.escalate_at = escalate_at
        if not outage.needs_action and outage.escalate_at <= now:
            _start_needing_action(outage, outage.escalate_at, response_times)
        alert.incident_id = outage.id
        alert.detail = f"part of an outage: {outage_label(group)}"[:200]
        alert.version += 1
        entries.append(upsert_entry("alert", alert, officer_id))
        entries.append(ChangeEntry(officer_id, inc.participant_id, "incident", inc.id, "delete", inc.version + 1, None))
        session.delete(inc)
        touched[outage.id] = (outage, officer_id)
    session.flush()
    for outage, officer_id in touched.values():
        outage.updated_at, outage.version = now, outage.version + 1
        entries.append(upsert_entry("incident", outage, officer_id))
    return entries


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
    still_open: dict[str, tuple[Incident, frozenset[str]]] = {}
    ids = list(active_by_device)
    for start in range(0, len(ids), CHUNK):
        query = select(Incident).where(
            Incident.device_id.in_(ids[start:start + CHUNK]), Incident.state.in_(OPEN_STATES),
            Incident.auto_resolvable.is_(True),
        )
        for inc in session.scalars(query):
            active, officer_id = active_by_device[inc.device_id]
            if active.intersection(inc.kinds or ()):
                if not inc.needs_action:
                    still_open[inc.id] = (inc, active)
                continue
            inc.state, inc.resolved_by, inc.resolved_at = "auto_resolved", SYSTEM, now
            inc.resolution = ("cleared: " + clearing_reason(inc.kinds or ()))[:200]
            inc.updated_at, inc.version = now, inc.version + 1
            entries.append(upsert_entry("incident", inc, officer_id))
            closed[inc.id] = officer_id
    entries += [upsert_entry("alert", a, closed[a.incident_id]) for a in _close_alerts(session, closed, SYSTEM, now, "cleared")]
    _reschedule_escalation(session, still_open)
    return entries + _members_back(session, active_by_device, now)


def _reschedule_escalation(session: Session, incidents: Mapping[str, tuple[Incident, frozenset[str]]]) -> None:
    """Part of an incident cleared but the rest goes on: only what goes on may still make it need an
    officer (workstation.rules.incidents.escalation_time). `escalate_at` is the server's own schedule,
    not synced, so nothing goes into the feed."""
    alerts: dict[str, list[tuple[str, datetime]]] = {}
    ids = list(incidents)
    for start in range(0, len(ids), CHUNK):
        for incident_id, kind, opened_at in session.execute(
            select(Alert.incident_id, Alert.kind, Alert.opened_at).where(Alert.incident_id.in_(ids[start:start + CHUNK]))
        ):
            alerts.setdefault(incident_id, []).append((kind, opened_at))
    for incident_id, (inc, active) in incidents.items():
        escalate_at = escalation_time(alerts.get(incident_id, ()), active)
        if escalate_at is not None:
            inc.escalate_at = escalate_at


def _members_back(
    session: Session, active_by_device: Mapping[str, tuple[frozenset[str], str]], now: datetime
) -> list[ChangeEntry]:
    """An outage clears device by device: a device whose contact returned has its silence closed, and
    the outage closes once every device in it is back."""
    entries: list[ChangeEntry] = []
    outages: dict[str, tuple[Incident, str]] = {}
    ids = list(active_by_device)
    for start in range(0, len(ids), CHUNK):
        query = (
            select(Alert, Incident).join(Incident, Incident.id == Alert.incident_id)
            .where(Alert.device_id.in_(ids[start:start + CHUNK]), Alert.state != "resolved",
                   Incident.family == OUTAGE_FAMILY, Incident.state.in_(OPEN_STATES))
        )
        for alert, inc in session.execute(query):
            active, officer_id = active_by_device[alert.device_id or ""]
            if alert.kind in active:
                continue
            if alert.acknowledged_at is None:
                alert.acknowledged_by, alert.acknowledged_at = SYSTEM, now
            alert.state, alert.resolved_by, alert.resolved_at = "resolved", SYSTEM, now
            alert.detail = ("cleared: " + clearing_reason([alert.kind]))[:200]
            alert.version += 1
            entries.append(upsert_entry("alert", alert, officer_id))
            outages[inc.id] = (inc, officer_id)
    if not outages:
        return entries
    session.flush()
    still_silent = set(session.scalars(
        select(Alert.incident_id).where(Alert.incident_id.in_(list(outages)), Alert.state != "resolved")
    ))
    for inc, officer_id in outages.values():
        if inc.id not in still_silent:
            inc.state, inc.resolved_by, inc.resolved_at = "auto_resolved", SYSTEM, now
            inc.resolution = f"cleared: contact restored on all {inc.alert_count} devices"[:200]
        inc.updated_at, inc.version = now, inc.version + 1
        entries.append(upsert_entry("incident", inc, officer_id))
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
