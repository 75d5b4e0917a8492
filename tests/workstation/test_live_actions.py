"""Actions on alerts that arrived through the live feed: they reach the server, they do not conflict.

The officer's day: a tamper alert pops up live, the officer acknowledges it at once and the push
that follows (the GUI pushes without pulling first) must apply it, although the local row never
went through a pull. Before live events carried the server's version, every such action came back
as a conflict and the server kept the alert unacknowledged.
"""

from __future__ import annotations

from datetime import UTC, datetime

from local_db.models import Alert, OutboxAction
from tests.workstation.test_session import wait_for
from workstation import actions
from workstation.changes import Changes
from workstation.protocol import GatewayFix
from workstation.sync.apply import sync_state


def _live_session(server, open_session):
    session = open_session(server)
    assert session.sync_now().ok
    seen: list[Changes] = []
    live = session.start_live(seen.append)
    live.flush_interval_s = 0.05
    wait_for(live.connected.is_set)
    return session, seen


def _raise(server, serial: str, event: str | None = None, lat: float = 41.88) -> None:
    server.ingest([GatewayFix(serial=serial, fix_time=datetime.now(UTC), lat=lat, lon=-87.63, event=event)])


def _live_alert(server, seen: list[Changes], kind: str) -> str:
    """The id of the alert of `kind` once it arrived live (a tamper fix may raise a zone alert too)."""
    wait_for(lambda: server.query("select id from alert where kind = :k", k=kind) != [])
    (alert_id,) = server.query("select id from alert where kind = :k", k=kind)[0]
    wait_for(lambda: any(alert_id in c.alerts for c in seen))
    # the feed hands over the alert it applied, not just its id
    assert any(a.id == alert_id and a.kind == kind for c in seen for a in c.alert_values)
    return alert_id


def _local_alert(session, alert_id: str) -> Alert:
    with session.store.read_session() as db:
        alert = db.get(Alert, alert_id)
        db.expunge(alert)
        return alert


def _state(session, action_id: str) -> str:
    with session.store.read_session() as db:
        return db.get(OutboxAction, action_id).state


def test_a_live_alert_acknowledged_at_once_is_applied_by_the_push(sync_server_factory, open_session):
    server = sync_server_factory(caseload=3, heartbeat_s=0.3)
    session, seen = _live_session(server, open_session)
    serial = server.seeded["officers"]["officer1"]["serials"][0]

    _raise(server, serial, event="strap_tamper")
    alert_id = _live_alert(server, seen, "strap_tamper")
    (server_version,) = server.query("select version from alert where id = :a", a=alert_id)[0]
    assert _local_alert(session, alert_id).version == server_version  # the live row carries it

    ack = actions.acknowledge_alert(session.store, alert_id)
    _raise(server, serial, lat=41.8801)  # new live data meanwhile, and a pull never ran
    summary = session.engine.push_only()
    assert (summary.ok, summary.actions_applied, summary.actions_conflict) == (True, 1, 0), summary
    assert _state(session, ack) == "done"
    assert server.query("select state, acknowledged_by from alert where id = :a", a=alert_id) == [
        ("acknowledged", "officer1")
    ]
    local = _local_alert(session, alert_id)
    assert (local.state, local.pending) == ("acknowledged", False)
    session.stop_live()


def test_resolving_an_incident_applies_when_a_new_alert_joined_it(sync_server_factory, open_session):
    """The incident grew (a device_removed after the strap tamper) between the officer's look and the
    push: the resolve of the alerts the officer saw applies; the new alert stays open."""
    server = sync_server_factory(caseload=3, heartbeat_s=0.3)
    session, seen = _live_session(server, open_session)
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    _raise(server, serial, event="strap_tamper")
    first = _live_alert(server, seen, "strap_tamper")

    resolve = actions.resolve_alert(session.store, first, note="Strap checked on a visit, intact.")
    seen.clear()
    _raise(server, serial, event="device_removed")
    (second,) = server.query("select id from alert where kind = 'device_removed'")[0]
    wait_for(lambda: any(second in c.alerts for c in seen))
    assert server.query("select count(distinct incident_id) from alert where id in (:a, :b)", a=first, b=second) == [
        (1,)
    ]
    summary = session.sync_now()
    assert (summary.ok, summary.actions_conflict) == (True, 0), summary
    assert _state(session, resolve) == "done"
    assert server.query("select state from alert where id = :a", a=first) == [("resolved",)]
    assert server.query("select state from alert where id = :a", a=second) == [("open",)]
    session.stop_live()


def test_a_replayed_live_alert_never_takes_back_what_a_pull_brought(sync_server_factory, open_session):
    server = sync_server_factory(caseload=3, heartbeat_s=0.3)
    session, seen = _live_session(server, open_session)
    other = open_session(server)
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    before_alert = server.hub.last_seq
    _raise(server, serial, event="strap_tamper")
    alert_id = _live_alert(server, seen, "strap_tamper")
    session.stop_live()
    assert other.sync_now().ok
    actions.acknowledge_alert(other.store, alert_id)
    assert other.sync_now().actions_applied == 1
    assert session.sync_now().ok  # the acknowledged row, version 2

    def resume_before_the_alert(db):  # the feed replays the alert's event
        sync_state(db).live_seq = before_alert

    session.store.write(resume_before_the_alert)
    seen.clear()
    session.start_live()
    _raise(server, serial, lat=41.8802)  # something after the replay, to know it has been read
    wait_for(lambda: any(c.devices for c in seen))
    wait_for(lambda: any(alert_id in c.alerts for c in seen))
    local = _local_alert(session, alert_id)
    assert (local.state, local.version) == ("acknowledged", 2)
    session.stop_live()
