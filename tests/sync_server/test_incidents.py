"""Incident records on the real server: grouping, auto-resolution per kind, the never-auto list,
escalation to needs-action and due times (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from sync_server.db import utcnow
from sync_server.ingest import check_silence, ingest_fixes
from sync_server.models import Device, Zone
from tests.sync_server.conftest import pull_all
from workstation.protocol import GatewayFix
from workstation.rules.incidents import DEFAULT_RESPONSE_TIME, NEEDS_ACTION_AFTER, parse_response_times

HOME = (41.8800, -87.6400)
OUT_600M = (41.8854, -87.6400)


@pytest.fixture
def server(sync_server_factory, db_url):
    return sync_server_factory(db_url=db_url, caseload=4)


def _device(server) -> tuple[str, str, str]:
    return server.query("select d.id, d.serial, d.participant_id from device d order by d.id limit 1")[0]


def _fix(serial: str, at: datetime, lat: float = HOME[0], lon: float = HOME[1], **kw) -> GatewayFix:
    return GatewayFix(serial=serial, fix_time=at.replace(tzinfo=UTC), lat=lat, lon=lon, accuracy_m=10, **kw)


def _incidents(server, device_id: str) -> list[tuple]:
    rows = server.query(
        "select id, kinds, state, needs_action, resolved_by, resolution, alert_count from incident "
        "where device_id = :d and id like 'in-%' order by opened_at, alert_count", d=device_id)
    return [(r[0], json.loads(r[1]) if isinstance(r[1], str) else r[1], r[2], bool(r[3]), *r[4:]) for r in rows]


def _clean(server, participant_id: str, *zones: dict) -> None:
    with server.db.write() as session:
        session.query(Zone).filter(Zone.participant_id == participant_id).delete()
        for i, z in enumerate(zones):
            session.add(Zone(id=f"zi{i}", version=1, participant_id=participant_id, **z))
        session.execute(update(Device).values(rule_state={}, last_fix_time=None, last_lat=None, last_lon=None,
                                              battery_pct=80, charging=False, strap="ok"))


def _zone(kind: str, schedule=()) -> dict:
    return dict(name=f"{kind} zone", kind=kind, shape="circle", center_lat=HOME[0], center_lon=HOME[1], radius_m=100.0,
                schedule=list(schedule), time_zone="America/Chicago")


def _state(rows) -> list[tuple[str, str]]:
    return [(r[2], r[4]) for r in rows]


@pytest.mark.parametrize(("raise_fixes", "clear_fixes", "kinds", "reason"), [
    ([{"battery_pct": 30}, {"battery_pct": 15}], [{"battery_pct": 25}], ["low_battery"], "battery back above"),
    ([{"battery_pct": 30}, {"battery_pct": 15}], [{"battery_pct": 15, "charging": True}], ["low_battery"],
     "or charging"),
    ([{"battery_pct": 30}, {"battery_pct": 4}], [{"battery_pct": 40}], ["battery_critical"], "battery back"),
    ([{}, {"lat": OUT_600M[0], "lon": OUT_600M[1]}], [{}], ["zone_exit"], "back inside the inclusion zone"),
])
def test_self_clearing_kinds_auto_resolve_with_reason_and_time(server, raise_fixes, clear_fixes, kinds, reason):
    device_id, serial, pid = _device(server)
    _clean(server, pid, _zone("inclusion"))
    t = utcnow() - timedelta(minutes=8)
    for i, extra in enumerate(raise_fixes):
        server.ingest([_fix(serial, t + timedelta(minutes=i), **extra)])
    [(incident_id, got_kinds, state, needs_action, *_)] = _incidents(server, device_id)
    assert (got_kinds, state, needs_action) == (kinds, "open", False)  # may still clear: not needing action yet
    for i, extra in enumerate(clear_fixes):
        server.ingest([_fix(serial, t + timedelta(minutes=3 + i), **extra)])
    [(_, _, state, _, resolved_by, resolution, _)] = _incidents(server, device_id)
    assert (state, resolved_by) == ("auto_resolved", "system") and reason in resolution
    assert server.query("select state from alert where incident_id = :i", i=incident_id) == [("resolved",)]
    assert server.query("select count(*) from incident where id = :i and resolved_at is not null", i=incident_id) == [(1,)]


def test_silence_and_gps_loss_clear_when_contact_and_gps_return(server):
    device_id, serial, pid = _device(server)
    _clean(server, pid)
    t = utcnow() - timedelta(minutes=30)
    server.ingest([_fix(serial, t)])
    check_silence(server.db, now=utcnow() + timedelta(hours=1))  # silent for 90 minutes
    [(incident_id, kinds, state, *_)] = _incidents(server, device_id)
    assert (kinds, state) == (["no_communication"], "open")
    server.ingest([_fix(serial, utcnow() - timedelta(minutes=1), source="wifi")])  # contact, no GPS
    [(_, _, state, _, _, resolution, _)] = _incidents(server, device_id)
    assert state == "auto_resolved" and "contact restored" in resolution


@pytest.mark.parametrize(("zone", "fixes", "kind"), [
    (None, [{"event": "strap_tamper"}, {"event": "strap_restored"}], "strap_tamper"),
    (None, [{"event": "device_removed"}, {"event": "strap_restored"}], "device_removed"),
    ("exclusion", [{"lat": OUT_600M[0], "lon": OUT_600M[1]}, {}, {"lat": OUT_600M[0], "lon": OUT_600M[1]}],
     "zone_entry"),
    ("curfew", [{}, {"lat": OUT_600M[0], "lon": OUT_600M[1]}, {}], "curfew_violation"),
])
def test_never_auto_kinds_stay_open_and_need_action_at_once(server, zone, fixes, kind):
    device_id, serial, pid = _device(server)
    always = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "23:59"},
              {"days": [1, 2, 3, 4, 5, 6, 7], "start": "23:00", "end": "01:00"}]
    zones = {None: (), "exclusion": (_zone("exclusion"),), "curfew": (_zone("inclusion", always),)}[zone]
    _clean(server, pid, *zones)
    t = utcnow() - timedelta(minutes=20)
    if zone == "exclusion":  # start outside the exclusion zone
        server.ingest([_fix(serial, t - timedelta(minutes=1), lat=41.89, lon=-87.64)])
    for i, extra in enumerate(fixes):
        server.ingest([_fix(serial, t + timedelta(minutes=i), **extra)])
    rows = _incidents(server, device_id)
    assert [(r[1][0], r[2], r[3]) for r in rows] == [(kind, "open", True)]
    opened, due = server.query("select opened_at, due_at from incident where id = :i", i=rows[0][0])[0]
    severity = server.query("select severity from incident where id = :i", i=rows[0][0])[0][0]
    assert _naive(due) - _naive(opened) == DEFAULT_RESPONSE_TIME[severity]


def _naive(value) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def test_uncleared_incident_escalates_and_the_feed_carries_incidents(server, client_for):
    device_id, serial, pid = _device(server)
    _clean(server, pid)
    t = utcnow() - timedelta(minutes=5)
    server.ingest([_fix(serial, t, battery_pct=30), _fix(serial, t + timedelta(minutes=1), battery_pct=12),
                   _fix(serial, t + timedelta(minutes=2), battery_pct=3)])
    [(incident_id, kinds, state, needs_action, _, _, count)] = _incidents(server, device_id)
    assert (kinds, state, needs_action, count) == (["low_battery", "battery_critical"], "open", False, 2)
    later = t + NEEDS_ACTION_AFTER["battery_critical"] + timedelta(minutes=5)
    check_silence(server.db, now=later)
    [(needs_action, severity)] = server.query("select needs_action, severity from incident where id = :i", i=incident_id)
    assert (bool(needs_action), severity) == (True, "high")
    changes, _ = pull_all(client_for(server))
    [record] = [c["data"] for c in changes if c["entity"] == "incident" and c["id"] == incident_id]
    # the silence check also found the device silent since: it joins the same power/signal incident
    assert record["needs_action"] is True and record["due_at"] and record["kinds"] == [*kinds, "no_communication"]
    alerts = [c["data"] for c in changes if c["entity"] == "alert" and c["data"].get("incident_id") == incident_id]
    assert len(alerts) == 3


def test_a_cleared_condition_no_longer_makes_its_incident_need_an_officer(server):
    """A battery charged within minutes, then a GPS loss in the same power/signal incident: the incident
    needs an officer when the GPS loss has lasted its limit, not at the battery's deadline."""
    device_id, serial, pid = _device(server)
    _clean(server, pid)
    t = utcnow() - timedelta(minutes=15)
    server.ingest([_fix(serial, t, battery_pct=30), _fix(serial, t + timedelta(minutes=1), battery_pct=15)])
    server.ingest([_fix(serial, t + timedelta(minutes=m), battery_pct=15, source="wifi") for m in range(2, 13)])
    gps_lost_at = t + timedelta(minutes=13)
    check_silence(server.db, now=gps_lost_at)  # still talking, no GPS fix for 12 minutes
    [(incident_id, kinds, state, needs_action, *_)] = _incidents(server, device_id)
    assert (kinds, state, needs_action) == (["low_battery", "no_gps"], "open", False)
    server.ingest([_fix(serial, t + timedelta(minutes=14), battery_pct=16, charging=True, source="wifi")])
    assert _incidents(server, device_id)[0][2] == "open"  # the GPS loss goes on
    battery_deadline = t + timedelta(minutes=1) + NEEDS_ACTION_AFTER["low_battery"]
    gps_deadline = gps_lost_at + NEEDS_ACTION_AFTER["no_gps"]
    check_silence(server.db, now=battery_deadline + timedelta(minutes=5))
    [(needs_action,)] = server.query("select needs_action from incident where id = :i", i=incident_id)
    assert not needs_action
    check_silence(server.db, now=gps_deadline + timedelta(minutes=1))
    [(needs_action, since)] = server.query(
        "select needs_action, needs_action_since from incident where id = :i", i=incident_id)
    assert bool(needs_action) and _naive(since) == gps_deadline


def test_the_agencys_response_times_apply_to_incidents_raised_by_fixes(server):
    """Set with sync-server --response-times: the due time of a tamper raised by a fix follows them, as
    that of a silence raised by the watchdog does."""
    server.db.response_times = parse_response_times("critical=10m,high=30m")
    device_id, serial, pid = _device(server)
    _clean(server, pid)
    server.ingest([_fix(serial, utcnow() - timedelta(minutes=2), event="strap_tamper")])
    [(opened, due)] = server.query(
        "select opened_at, due_at from incident where device_id = :d and id like 'in-%'", d=device_id)
    assert _naive(due) - _naive(opened) == timedelta(minutes=10)


def test_with_a_curfew_grace_a_late_return_within_it_raises_nothing(server):
    """--curfew-grace 15: out 5 minutes after the curfew began is not yet a violation; still out after
    20 minutes is one, dated by that fix."""
    from zoneinfo import ZoneInfo

    server.db.curfew_grace = timedelta(minutes=15)
    device_id, serial, pid = _device(server)
    begins = (utcnow() - timedelta(minutes=30)).replace(second=0, microsecond=0)
    local = begins.replace(tzinfo=UTC).astimezone(ZoneInfo("America/Chicago"))
    ends = local + timedelta(hours=2)
    curfew = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": f"{local:%H:%M}", "end": f"{ends:%H:%M}"}]
    _clean(server, pid, _zone("inclusion", curfew))
    server.ingest([_fix(serial, begins - timedelta(minutes=5))])  # home before it begins
    server.ingest([_fix(serial, begins + timedelta(minutes=5), lat=OUT_600M[0], lon=OUT_600M[1])])
    assert _incidents(server, device_id) == []
    server.ingest([_fix(serial, begins + timedelta(minutes=20), lat=OUT_600M[0], lon=OUT_600M[1])])
    [(incident_id, kinds, state, needs_action, *_)] = _incidents(server, device_id)
    assert (kinds, state, needs_action) == (["curfew_violation"], "open", True)
    [(opened,)] = server.query("select opened_at from incident where id = :i", i=incident_id)
    assert _naive(opened) == begins + timedelta(minutes=20)


def test_families_never_mix_and_a_closed_incident_takes_no_new_alert(server):
    device_id, serial, pid = _device(server)
    _clean(server, pid)
    t = utcnow() - timedelta(minutes=20)
    server.ingest([_fix(serial, t, battery_pct=30), _fix(serial, t + timedelta(minutes=1), battery_pct=15,
                                                         event="strap_tamper")])
    rows = _incidents(server, device_id)
    assert sorted(r[1][0] for r in rows) == ["low_battery", "strap_tamper"]
    server.ingest([_fix(serial, t + timedelta(minutes=2), battery_pct=50)])  # battery incident clears
    server.ingest([_fix(serial, t + timedelta(minutes=3), battery_pct=10)])  # a new low battery: new incident
    kinds_states = [(r[1][0], r[2]) for r in _incidents(server, device_id)]
    assert kinds_states.count(("low_battery", "auto_resolved")) == 1 and ("low_battery", "open") in kinds_states


# ---------------------------------------------------------------- outages (many devices silent at once)

@pytest.fixture
def fleet(sync_server_factory, db_url):
    """Eight devices, no zones, each in its own area (0.05 degrees apart), all on gateway "embedded"."""
    server = sync_server_factory(db_url=db_url, caseload=8)
    with server.db.write() as session:
        session.query(Zone).delete()
        session.execute(update(Device).values(rule_state={}, last_fix_time=None, last_lat=None, last_lon=None,
                                              battery_pct=80, charging=False, strap="ok", last_contact_at=None,
                                              last_gps_at=None))
    return server, server.query("select id, serial, participant_id from device order by id")


def _spread(i: int) -> dict:
    return {"lat": 41.70 + 0.05 * i, "lon": -87.90 + 0.05 * i}


def _report(server, devices, at: datetime, same_area: bool = False, **kw) -> None:
    """The devices report at `at` (their fixes received then: contact is counted from receipt)."""
    ingest_fixes(server.db, [_fix(serial, at, **({"lat": 41.8801 + 0.0001 * i, "lon": -87.6401} if same_area else _spread(i)), **kw)
                  for i, (_, serial, _) in enumerate(devices)], now=at, via="gateway:embedded")


def _silences(server) -> list[tuple]:
    """(device id, alert state, incident family, incident state) of every no_communication alert."""
    return server.query(
        "select a.device_id, a.state, i.family, i.state from alert a join incident i on i.id = a.incident_id "
        "where a.kind = 'no_communication' order by a.device_id")


def test_a_vendor_outage_is_one_incident_that_clears_device_by_device(fleet, client_for):
    server, devices = fleet
    acme = devices[:6]
    server.add_gateway("acme", [serial for _, serial, _ in acme])  # the other two stay on "embedded"
    t = utcnow() - timedelta(minutes=20)
    _report(server, devices, t)
    before = server.hub.last_seq
    check_silence(server.db, server.hub, now=t + timedelta(minutes=30))  # all eight silent for 30 minutes
    silences = _silences(server)
    assert [(d, f) for d, _, f, _ in silences] == [(d, "outage") for d, _, _ in acme] + [
        (d, "device_health") for d, _, _ in devices[6:]]  # two of "embedded": below the threshold, on their own
    [(outage_id, count, group, device_id)] = server.query(
        "select id, alert_count, outage_group, device_id from incident where family = 'outage'")
    assert (count, group, device_id) == (6, "gateway:acme", None)
    assert server.query("select count(*) from incident where id like 'in-%'")[0][0] == 3  # outage + two lone
    # the live stream announces those three, not the six lone silences folded into the outage meanwhile
    [(officer_id,)] = server.query("select distinct officer_id from participant")
    announced = {json.loads(body)["incident"]["id"] for _, body in server.hub.since(officer_id, before)
                 if json.loads(body)["type"] == "incident"}
    assert announced == {r[0] for r in server.query("select id from incident where id like 'in-%'")}
    changes, cursor = pull_all(client_for(server))
    [record] = [c["data"] for c in changes if c["entity"] == "incident" and c["id"] == outage_id]
    assert (record["family"], record["kinds"], record["alert_count"]) == ("outage", ["no_communication"], 6)
    members = {c["data"]["device_id"] for c in changes if c["entity"] == "alert"
               and c["data"]["incident_id"] == outage_id}
    assert members == {d for d, _, _ in acme}  # the outage names its devices through its alerts

    _report(server, acme[:2], t + timedelta(minutes=31))  # two devices back
    states = {d: (s, inc) for d, s, _, inc in _silences(server)}
    assert [states[d] for d, _, _ in acme] == [("resolved", "open")] * 2 + [("open", "open")] * 4
    _report(server, acme[2:], t + timedelta(minutes=32))  # the rest back: the outage closes by itself
    [(state, resolved_by, resolution)] = server.query(
        "select state, resolved_by, resolution from incident where id = :i", i=outage_id)
    assert (state, resolved_by) == ("auto_resolved", "system") and "all 6 devices" in resolution


@pytest.mark.parametrize(("silent", "outage"), [(4, False), (5, True)])
def test_an_area_outage_needs_five_devices_of_one_area(fleet, silent, outage):
    server, devices = fleet
    with server.db.write() as session:  # phone apps: no gateway, so only their area groups them
        session.execute(update(Device).values(gateway=None))
    t = utcnow() - timedelta(minutes=20)
    _report(server, devices[:silent], t, same_area=True)
    _report(server, devices[silent:], t)
    _report(server, devices[silent:], t + timedelta(minutes=19))  # the others keep reporting
    check_silence(server.db, now=t + timedelta(minutes=20))
    families = [f for _, _, f, _ in _silences(server)]
    assert families == (["outage"] if outage else ["device_health"]) * silent
    assert server.query("select count(*) from incident where family = 'outage'")[0][0] == int(outage)


def test_a_battery_story_keeps_its_silence_and_silences_minutes_apart_join_the_outage(fleet):
    server, devices = fleet
    t = utcnow() - timedelta(minutes=40)
    _report(server, devices[:1], t, battery_pct=15)  # a low battery first: its silence belongs to that story
    _report(server, devices[1:6], t)
    check_silence(server.db, now=t + timedelta(minutes=30))
    _report(server, devices[6:], t + timedelta(minutes=29))  # these two fall silent ten minutes later
    check_silence(server.db, now=t + timedelta(minutes=40))
    by_device = {d: f for d, _, f, _ in _silences(server)}
    assert by_device[devices[0][0]] == "device_health"
    assert [by_device[d] for d, _, _ in devices[1:]] == ["outage"] * 7
    [(count, needs_action)] = server.query("select alert_count, needs_action from incident where family = 'outage'")
    assert (count, bool(needs_action)) == (7, False)  # one item, not yet needing an officer
    check_silence(server.db, now=t + timedelta(minutes=61))  # still silent 31 minutes after the first
    assert server.query("select count(*) from incident where family = 'outage' and needs_action")[0][0] == 1
