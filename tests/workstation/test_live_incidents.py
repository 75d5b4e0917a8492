"""Incident records through the live feed: the queue follows the server's escalation and clearing at
once, instead of at the next pull (every 15 minutes by default). Real server over loopback, real
encrypted store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from local_db.models import Incident
from sync_server.db import utcnow
from sync_server.ingest import check_silence
from tests.workstation.test_live_actions import _live_alert, _live_session
from tests.workstation.test_session import wait_for
from workstation import actions
from workstation.protocol import GatewayFix


def _fix(serial: str, battery: int, charging: bool = False) -> GatewayFix:
    return GatewayFix(serial=serial, fix_time=datetime.now(UTC), lat=41.88, lon=-87.63, battery_pct=battery,
                      charging=charging)


def _local(session, incident_id: str) -> tuple | None:
    with session.store.read_session() as db:
        row = db.get(Incident, incident_id)
        return None if row is None else (row.state, bool(row.needs_action), row.version, bool(row.pending))


def _battery_incident_live(sync_server_factory, open_session):
    """A live-fed workstation, and the incident of a battery at 3 % once the feed brought it:
    (server, session, changes seen, serial, incident id)."""
    server = sync_server_factory(caseload=3, heartbeat_s=0.3)
    session, seen = _live_session(server, open_session)
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    server.ingest([_fix(serial, 3)])
    alert_id = _live_alert(server, seen, "battery_critical")
    [(incident_id,)] = server.query("select incident_id from alert where id = :a", a=alert_id)
    wait_for(lambda: _local(session, incident_id) is not None)
    return server, session, seen, serial, incident_id


def test_the_queue_follows_escalation_and_clearing_live(sync_server_factory, open_session):
    server, session, seen, serial, incident_id = _battery_incident_live(sync_server_factory, open_session)
    wait_for(lambda: any(incident_id in c.incidents for c in seen))
    state, needs_action, version, _ = _local(session, incident_id)
    assert (state, needs_action) == ("open", False)  # battery critical needs an officer after 30 minutes

    # the server's watchdog, 45 minutes on: the incident needs an officer now; no pull runs
    check_silence(server.db, server.hub, now=utcnow() + timedelta(minutes=45))
    wait_for(lambda: (_local(session, incident_id) or ("", False))[1])
    state, needs_action, escalated_version, _ = _local(session, incident_id)
    assert state == "open" and escalated_version > version
    # the changes name the participant, so the caseload's needs-action count follows too
    assert any(incident_id in c.incidents and c.caseload_rows for c in seen)

    server.ingest([_fix(serial, 60, charging=True)])  # charged and talking again: it clears by itself
    wait_for(lambda: (_local(session, incident_id) or ("",))[0] == "auto_resolved")
    session.stop_live()


def test_a_live_incident_never_overwrites_the_officers_own_action_not_yet_sent(sync_server_factory, open_session):
    server, session, seen, _, incident_id = _battery_incident_live(sync_server_factory, open_session)
    actions.acknowledge_server_incident(session.store, incident_id)  # queued in the outbox, not pushed
    assert _local(session, incident_id)[3]  # pending
    seen.clear()
    check_silence(server.db, server.hub, now=utcnow() + timedelta(minutes=45))
    wait_for(lambda: any(incident_id in c.incidents for c in seen))  # the escalation arrived, was not applied
    state, _, _, pending = _local(session, incident_id)
    assert (state, pending) == ("acknowledged", True)  # what the officer did, until the server answers
    assert session.sync_now().actions_applied == 1
    state, needs_action, _, pending = _local(session, incident_id)
    assert (state, needs_action, pending) == ("acknowledged", True, False)
    session.stop_live()


def test_an_incident_acknowledged_on_another_workstation_follows_live(sync_server_factory, open_session):
    server, session, _, _, incident_id = _battery_incident_live(sync_server_factory, open_session)
    other = open_session(server)
    assert other.sync_now().ok
    actions.acknowledge_server_incident(other.store, incident_id, "Called: charging now.")
    assert other.sync_now().actions_applied == 1
    wait_for(lambda: (_local(session, incident_id) or ("",))[0] == "acknowledged")  # no pull on this one
    session.stop_live()
