"""Device ingestion (OsmAnd, gateway batches) and the rules evaluated on it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text, update

from sync_server.caseload import record
from sync_server.db import utcnow
from sync_server.models import Appointment, Device, Zone
from sync_server.wire import device_data, device_json, dump
from tests.sync_server.conftest import pull_all
from workstation.protocol import DeviceData, GatewayFix, TrackResponse
from workstation.rules.schedule import local_time

ALWAYS = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "23:30"},
          {"days": [1, 2, 3, 4, 5, 6, 7], "start": "23:00", "end": "01:00"}]
HOME = (41.8800, -87.6400)
# ~0.0009 degrees of latitude is 100 m
OUT_600M = (41.8854, -87.6400)


def _device(server) -> tuple[str, str, str]:
    return server.query("select d.id, d.serial, d.participant_id from device d order by d.id limit 1")[0]


def _zones(server, participant_id: str, *zones: dict) -> None:
    """Replace the participant's zones (as the back office would, feed entries included)."""
    with server.db.write() as session:
        session.query(Zone).filter(Zone.participant_id == participant_id).delete()
        for i, z in enumerate(zones):
            row = Zone(id=f"zt{i}", version=1, participant_id=participant_id, **z)
            session.add(row)
            record(session, "zone", row)
        session.execute(update(Device).values(rule_state={}, last_fix_time=None, last_lat=None, last_lon=None))


def _fix(serial: str, at: datetime, lat: float, lon: float, **kw) -> GatewayFix:
    return GatewayFix(serial=serial, fix_time=at.replace(tzinfo=UTC), lat=lat, lon=lon, **kw)


def _alerts(server, device_id: str) -> list[tuple]:
    return server.query(
        "select kind, severity, incident_id from alert where device_id = :d and id like 'al-%' order by opened_at",
        d=device_id,
    )


def _home_zone(schedule=ALWAYS) -> dict:
    return dict(name="Home (curfew)", kind="inclusion", shape="circle", center_lat=HOME[0], center_lon=HOME[1],
                radius_m=100.0, schedule=schedule)


def test_curfew_exit_alerts_on_transitions_and_groups_an_incident(sync_server):
    device_id, serial, pid = _device(sync_server)
    _zones(sync_server, pid, _home_zone())
    t = utcnow() - timedelta(minutes=30)
    steps = [HOME, OUT_600M, OUT_600M, HOME, OUT_600M]
    for i, (lat, lon) in enumerate(steps):
        sync_server.ingest([_fix(serial, t + timedelta(minutes=3 * i), lat, lon, accuracy_m=10)])
    alerts = _alerts(sync_server, device_id)
    assert [a[0] for a in alerts] == ["curfew_violation", "curfew_violation"]
    assert alerts[0][1] == "high" and alerts[0][2] == alerts[1][2]  # one incident


def _window_around(at: datetime, zone_name: str) -> list[dict]:
    """A two-hour window around `at` as the wall clock of `zone_name` reads it."""
    local = local_time(at, zone_name)
    days = sorted({local.isoweekday(), (local - timedelta(hours=1)).isoweekday()})
    return [{"days": days, "start": f"{local - timedelta(hours=1):%H:%M}", "end": f"{local + timedelta(hours=1):%H:%M}"}]


def test_curfew_is_read_in_the_zones_time_zone_or_the_agency_default(sync_server_factory, client_for):
    server = sync_server_factory(agency_time_zone="America/Chicago")
    device_id, serial, pid = _device(server)
    t = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=20)
    chicago_now = _window_around(t, "America/Chicago")  # in Tokyo, 14-15 hours later, it is over
    _zones(server, pid, {**_home_zone(chicago_now), "time_zone": "Asia/Tokyo"})
    server.ingest([_fix(serial, t, *HOME), _fix(serial, t + timedelta(minutes=1), *OUT_600M)])
    assert _alerts(server, device_id) == []
    _zones(server, pid, {**_home_zone(chicago_now), "time_zone": "America/Chicago"})
    server.ingest([_fix(serial, t + timedelta(minutes=2), *HOME), _fix(serial, t + timedelta(minutes=3), *OUT_600M)])
    assert [a[0] for a in _alerts(server, device_id)] == ["curfew_violation"]
    _zones(server, pid, {**_home_zone(chicago_now), "time_zone": None})  # the agency default: Chicago
    server.ingest([_fix(serial, t + timedelta(minutes=4), *HOME), _fix(serial, t + timedelta(minutes=5), *OUT_600M)])
    assert [a[0] for a in _alerts(server, device_id)] == ["curfew_violation", "curfew_violation"]
    changes, _ = pull_all(client_for(server))
    zones = [c["data"] for c in changes if c["entity"] == "zone" and c["id"] == "zt0"]
    assert zones[-1].get("time_zone") is None and zones[-1]["schedule"] == chicago_now


def test_zone_without_schedule_is_zone_exit_and_outside_schedule_nothing(sync_server):
    device_id, serial, pid = _device(sync_server)
    _zones(sync_server, pid, _home_zone(schedule=[]))
    t = utcnow() - timedelta(minutes=10)
    sync_server.ingest([_fix(serial, t, *HOME), _fix(serial, t + timedelta(minutes=2), *OUT_600M)])
    assert [a[0] for a in _alerts(sync_server, device_id)] == ["zone_exit"]


def test_drift_and_impossible_speed_are_flagged_not_alerted(sync_server):
    device_id, serial, pid = _device(sync_server)
    _zones(sync_server, pid, _home_zone())
    t = utcnow() - timedelta(minutes=10)
    edge = (HOME[0] + 0.0011, HOME[1])  # ~122 m from the centre: outside by 22 m, accuracy 60 m
    far = (HOME[0] + 0.1, HOME[1])  # 11 km away one minute later
    sync_server.ingest([
        _fix(serial, t, *HOME, accuracy_m=5),
        _fix(serial, t + timedelta(minutes=1), *edge, accuracy_m=60),
        _fix(serial, t + timedelta(minutes=2), *far, accuracy_m=10),
    ])
    flags = [r[0] for r in sync_server.query("select flags from position where device_id = :d order by fix_time",
                                             d=device_id)][-3:]
    assert flags == ["", "drift", "impossible_speed"]
    assert _alerts(sync_server, device_id) == []


def test_exclusion_polygon_entry_battery_and_strap_events(sync_server):
    device_id, serial, pid = _device(sync_server)
    square = [[41.8810, -87.6245], [41.8810, -87.6205], [41.8855, -87.6205], [41.8855, -87.6245]]
    _zones(sync_server, pid, dict(name="Millennium Park", kind="exclusion", shape="polygon", polygon=square,
                                  schedule=[]))
    t = utcnow() - timedelta(minutes=20)
    outside, inside = (41.8790, -87.6225), (41.8832, -87.6225)
    sync_server.ingest([
        _fix(serial, t, *outside, battery_pct=50),
        _fix(serial, t + timedelta(minutes=1), *inside, battery_pct=18),
        _fix(serial, t + timedelta(minutes=2), *inside, battery_pct=17),
        _fix(serial, t + timedelta(minutes=3), *outside, battery_pct=4, event="strap_tamper"),
    ])
    kinds = [a[0] for a in _alerts(sync_server, device_id)]
    assert sorted(kinds) == ["battery_critical", "low_battery", "strap_tamper", "zone_entry"]
    assert sync_server.query("select strap, battery_pct from device where id = :d", d=device_id) == [("tampered", 4)]
    sync_server.ingest([_fix(serial, t + timedelta(minutes=4), *outside, event="strap_restored")])
    assert sync_server.query("select strap from device where id = :d", d=device_id) == [("ok",)]


def test_osmand_get_and_post_are_accepted_and_reach_the_feed(sync_server, client_for):
    device_id, serial, pid = _device(sync_server)
    _zones(sync_server, pid)  # no seeded last fix: a ping a minute old is not late
    client = client_for(sync_server)
    _, cursor = pull_all(client)
    now = int(time.time())
    key = sync_server.device_keys[serial]
    got = httpx.get(f"{sync_server.url}/osmand", params={
        "id": serial, "lat": "41.88", "lon": "-87.63", "timestamp": str(now - 60), "speed": "10", "batt": "77",
        "accuracy": "8", "bearing": "90", "altitude": "180", "key": key})
    assert got.status_code == 200
    iso = datetime.now(UTC).replace(microsecond=0).isoformat()
    posted = httpx.post(f"{sync_server.url}/osmand",
                        data={"id": serial, "lat": "41.881", "lon": "-87.631", "timestamp": iso, "key": key})
    assert posted.status_code == 200
    rows = sync_server.query("select lat, speed_kmh from position where device_id = :d order by fix_time", d=device_id)
    assert rows == [(41.88, pytest.approx(18.52)), (41.881, None)]
    delta, _ = pull_all(client, cursor)
    device = [c for c in delta if c["entity"] == "device"][-1]["data"]
    assert device["last_fix"]["lat"] == 41.881 and device["battery_pct"] == 77
    case = sync_server.query("select case_number from participant p join device d on d.participant_id = p.id "
                             "where d.id = :d", d=device_id)[0][0]
    track = TrackResponse.model_validate_json(client.get(f"/v1/participants/{case}/track", params={"hours": 2}).content)
    assert [p.lat for p in track.positions] == [41.88, 41.881]


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"lat": "41.88", "lon": "-87.63"}, 401, "unauthorized"),  # no serial: no device to authenticate
        ({"id": "X", "lat": "abc", "lon": "-87.63"}, 400, "invalid_osmand"),
        ({"id": "X", "lat": "91", "lon": "-87.63"}, 400, "invalid_osmand"),
        ({"id": "X", "lat": "nan", "lon": "-87.63"}, 400, "invalid_osmand"),
        ({"id": "X", "lat": "41.8", "lon": "-87.6", "timestamp": "next tuesday"}, 400, "invalid_osmand"),
        ({"id": "X", "lat": "41.88", "lon": "-87.63", "timestamp": str(int(time.time()) + 86_400)}, 422,
         "fix_in_future"),
        ({"id": "X", "lat": "41.88", "lon": "-87.63", "timestamp": str(int(time.time()) - 8 * 86_400)}, 422,
         "fix_too_old"),
    ],
)
def test_osmand_bad_input_writes_nothing(sync_server, params, status, error):
    _, serial, _ = _device(sync_server)
    params = {k: (serial if v == "X" else v) for k, v in params.items()}
    params["key"] = sync_server.device_keys[serial]
    response = httpx.get(f"{sync_server.url}/osmand", params=params)
    assert response.status_code == status and response.json()["error"] == error, response.text
    assert sync_server.query("select count(*) from position") == [(0,)]


def test_gateway_batch_needs_its_key_and_answers_per_fix(sync_server_factory, db_url):
    server = sync_server_factory(caseload=5, db_url=db_url)
    serials = [r[0] for r in server.query("select serial from device order by id")]
    # The last midday in the agency's time zone (18:00 UTC is 12:00 CST, 13:00 CDT): no seeded curfew
    # (20:00-07:00 at the widest) is in force then, so the alert count does not depend on when the suite runs.
    midday = datetime.now(UTC).replace(hour=18, minute=0, second=0, microsecond=0)
    if midday > datetime.now(UTC):
        midday -= timedelta(days=1)
    now = midday.isoformat()
    good = [{"serial": s, "fix_time": now, "lat": 41.88, "lon": -87.63, "battery_pct": 80} for s in serials]
    url = f"{server.url}/v1/ingest/fixes"
    assert httpx.post(url, json={"fixes": good}).status_code == 401
    assert httpx.post(url, json={"fixes": good}, headers={"X-Gateway-Key": "nope"}).status_code == 401
    assert server.query("select count(*) from position") == [(0,)]
    key = {"X-Gateway-Key": server.gateway_key}
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    mixed = [
        good[0], {"serial": "NOPE-1", "fix_time": now, "lat": 41.88, "lon": -87.63}, good[1],
        {**good[2], "fix_time": future}, *good[3:],
    ]
    answer = httpx.post(url, json={"fixes": mixed}, headers=key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["status"] for r in body["results"]] == [
        "accepted", "rejected", "accepted", "rejected", "accepted", "accepted"]
    assert [r.get("error") for r in body["results"] if r["status"] == "rejected"] == [
        "device_not_assigned", "fix_in_future"]
    assert (body["accepted"], body["rejected"], body["alerts_raised"]) == (4, 2, 0)
    stored = server.query("select d.serial, p.via from position p join device d on d.id = p.device_id order by d.serial")
    assert stored == sorted((s, "gateway:embedded") for s in (serials[0], serials[1], serials[3], serials[4]))


def test_a_gateway_reports_only_for_its_own_devices(sync_server):
    serials = [r[0] for r in sync_server.query("select serial from device order by id")]
    other_key = sync_server.add_gateway("other-vendor", serials[:1])  # takes the first device over
    at = datetime.now(UTC).isoformat()
    fixes = {"fixes": [{"serial": s, "fix_time": at, "lat": 41.88, "lon": -87.63} for s in serials[:2]]}
    url = f"{sync_server.url}/v1/ingest/fixes"
    mine = httpx.post(url, json=fixes, headers={"X-Gateway-Key": other_key}).json()
    assert [r["status"] for r in mine["results"]] == ["accepted", "rejected"]
    theirs = httpx.post(url, json=fixes, headers={"X-Gateway-Key": sync_server.gateway_key}).json()
    assert [r["status"] for r in theirs["results"]] == ["rejected", "accepted"]
    assert theirs["results"][0]["error"] == mine["results"][1]["error"] == "device_not_assigned"
    vias = sync_server.query("select via from position order by id")
    assert vias == [("gateway:other-vendor",), ("gateway:embedded",)]


def test_silence_and_missed_checkins(sync_server):
    device_id, _serial, pid = _device(sync_server)
    old = utcnow() - timedelta(hours=2)
    with sync_server.db.write() as session:
        session.execute(update(Device).values(last_contact_at=utcnow(), last_gps_at=utcnow(), rule_state={}))
        session.execute(update(Device).where(Device.id == device_id).values(last_contact_at=old))
        session.execute(update(Appointment).values(status="completed"))
        appt = Appointment(id="a-missed", participant_id=pid, kind="office_checkin", starts_at=old,
                           place="Loop Field Office", status="scheduled")
        session.add(appt)
        record(session, "appointment", appt)
    assert sync_server.check_silence() == 2
    assert sync_server.check_silence() == 0  # raised once, not every round
    kinds = sorted(r[0] for r in sync_server.query("select kind from alert where id like 'al-%'"))
    assert kinds == ["missed_checkin", "no_communication"]
    assert sync_server.query("select status from appointment where id = 'a-missed'") == [("missed",)]


@settings(max_examples=60, deadline=None)
@given(
    battery=st.none() | st.integers(0, 100),
    charging=st.booleans(),
    strap=st.sampled_from(["ok", "tampered", "removed", "not_applicable"]),
    contact=st.none() | st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    interval=st.integers(1, 86_400),
    fix=st.none() | st.tuples(
        st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
        st.floats(-90, 90), st.floats(-180, 180), st.floats(0, 100_000), st.none() | st.floats(0, 2_000),
        st.sampled_from(["gps", "wifi", "cell"]),
    ),
    serial=st.text(min_size=1, max_size=30),
)
def test_fast_device_json_matches_the_protocol_model(battery, charging, strap, contact, interval, fix, serial):
    """The ingestion path writes device JSON by hand; it must mean exactly what DeviceData says."""
    fix_time, lat, lon, accuracy, speed, source = fix or (None, None, None, None, None, None)
    row = SimpleNamespace(
        id="d1", participant_id="p1", kind="ankle", serial=serial, battery_pct=battery, charging=charging,
        strap=strap, last_contact_at=contact, expected_interval_s=interval, last_fix_time=fix_time, last_lat=lat,
        last_lon=lon, last_accuracy_m=accuracy, last_speed_kmh=speed, last_source=source,
    )
    assert DeviceData.model_validate_json(device_json(row)) == DeviceData.model_validate_json(dump(device_data(row)))


def test_zone_edits_take_effect_on_the_next_fix(sync_server):
    """The rules engine caches zones; an edit by anyone (here plain SQL) must not leave it stale."""
    device_id, serial, pid = _device(sync_server)
    _zones(sync_server, pid, _home_zone())
    t = utcnow() - timedelta(minutes=10)
    sync_server.ingest([_fix(serial, t, *OUT_600M)])  # outside the 100 m home zone: curfew violation
    assert [a[0] for a in _alerts(sync_server, device_id)] == ["curfew_violation"]
    with sync_server.db.write() as session:
        session.execute(text("UPDATE zone SET radius_m = 5000, version = version + 1 WHERE participant_id = :p"),
                        {"p": pid})
        session.execute(update(Device).values(rule_state={}))
    sync_server.ingest([_fix(serial, t + timedelta(minutes=1), *OUT_600M)])  # now well inside
    assert [a[0] for a in _alerts(sync_server, device_id)] == ["curfew_violation"]
    with sync_server.db.write() as session:
        session.execute(text("UPDATE zone SET radius_m = 50 WHERE participant_id = :p"), {"p": pid})
    sync_server.ingest([_fix(serial, t + timedelta(minutes=2), *OUT_600M)])
    assert [a[0] for a in _alerts(sync_server, device_id)] == ["curfew_violation", "curfew_violation"]
