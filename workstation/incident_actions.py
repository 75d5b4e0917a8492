"""Acknowledge or resolve an incident by its id: the headless twin of the window's Incident menu.

An incident's acknowledge is an acknowledge of each of its open alerts, its resolve a resolve of each
alert not yet resolved (one outbox action per alert, as the window queues them; the server decides
each on the alert's state, see sync_server.actions.alert_action_conflicts). The incident id is the
one the window shows (workstation.incidents) or the server's incident id its alerts carry (what
`workstation live --json` prints).

Blocking (store): call from a worker or the command line, never the GUI thread.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from local_db.models import Alert
from local_db.models import Incident as IncidentRow
from local_db.store import Store
from workstation import actions
from workstation.incidents import Incident, build_incidents, resolution_problem
from workstation.read.caseload import alert_fact

STATE_ORDER = ("open", "acknowledged", "resolved")


def find_incident(store: Store, incident_id: str) -> Incident:
    """The incident with this id, built from the local alerts; ActionInvalid when there is none."""
    with store.read_session() as session:
        alerts = session.scalars(select(Alert).where(Alert.participant_id.in_(
            select(Alert.participant_id).where((Alert.incident_id == incident_id) | (Alert.id == _first_alert(incident_id)))
        ))).all()
        facts = [alert_fact(a) for a in alerts]
    matches = [i for i in build_incidents(facts, {})
               if incident_id == i.id or any(a.incident_id == incident_id for a in i.alerts)]
    if not matches:
        raise actions.ActionInvalid(f"there is no incident {incident_id} in this caseload")
    if len(matches) == 1:
        return matches[0]
    # one server incident the local chaining split (alerts of different families): act on all of it
    joined = tuple(sorted((fact for i in matches for fact in i.alerts), key=lambda fact: (fact.opened_at, fact.id)))
    state = min((i.state for i in matches), key=STATE_ORDER.index)
    return replace(matches[0], alerts=joined, state=state, pending=any(i.pending for i in matches))


def _is_server_incident(store: Store, incident_id: str) -> bool:
    with store.read_session() as session:
        return session.get(IncidentRow, incident_id) is not None


def acknowledge_incident(store: Store, incident_id: str, note: str = "") -> list[str]:
    """Queue an acknowledge of the server incident (one action), or of each open alert of an
    incident the server does not hold (local history); returns the action ids."""
    if _is_server_incident(store, incident_id):
        return [actions.acknowledge_server_incident(store, incident_id, note)]
    incident = find_incident(store, incident_id)
    if not incident.open_alert_ids:
        raise actions.ActionInvalid(f"incident {incident_id} is already {incident.state}")
    return [actions.acknowledge_alert(store, alert_id, note) for alert_id in incident.open_alert_ids]


def resolve_incident(store: Store, incident_id: str, note: str, resolution: str = "resolved") -> list[str]:
    """Queue a resolve of the server incident (one action), or of each alert not yet resolved of an
    incident the server does not hold; returns the action ids."""
    if _is_server_incident(store, incident_id):
        return [actions.resolve_server_incident(store, incident_id, note, resolution)]
    incident = find_incident(store, incident_id)
    problem = resolution_problem(incident, note)
    if problem:
        raise actions.ActionInvalid(problem)
    return [actions.resolve_alert(store, alert_id, note, resolution) for alert_id in incident.actionable_alert_ids]


def _first_alert(incident_id: str) -> str:
    """An incident the client chained itself is named after its first alert ("inc-<alert id>")."""
    return incident_id.removeprefix("inc-")
