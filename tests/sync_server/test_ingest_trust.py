"""Plausibility before state: what a fix may change depends on when it says it was taken, whether the
device calls it valid and whether it was already stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from sync_server.db import utcnow
from tests.sync_server.test_ingest import HOME, OUT_600M, _alerts, _device, _fix, _home_zone, _zones
from workstation.rules.incidents import TAMPER_CLASS_ALERTS

ALWAYS = []  # an exclusion zone without a schedule applies at any hour
PARK = (41.8832, -87.6225)  # inside the exclusion square below
OUTSIDE = (41.8790, -87.6225)
SQUARE = [[41.8810, -87.6245], [41.8810, -87.6205], [41.8855, -87.6205], [41.8855, -87.6245]]


def _exclusion() -> dict:
    return dict(name="Protected party", kind="exclusion", shape="polygon", polygon=SQUARE, schedule=ALWAYS)


def _device_row(server, device_id: str) -> tuple:
    return server.query(
        "select last_fix_time, last_lat, last_contact_at, last_gps_at, battery_pct, rule_state from device "
        "where id = :d", d=device_id,
    )[0]


def _ping(server, serial: str, **params) -> httpx.Response:
    return httpx.get(f"{server.url}/osmand", params={"id": serial, "key": server.device_keys[serial], **params})


def test_a_fix_from_the_future_or_the_distant_past_is_refused_and_changes_nothing(sync_server):
    device_id, serial, _ = _device(sync_server)
    before = (_device_row(sync_server, device_id), sync_server.query("select count(*) from position"))
    now = datetime.now(UTC)
    ahead = _ping(sync_server, serial, lat=41.88, lon=-87.63, timestamp=int((now + timedelta(seconds=90)).timestamp()))
    assert ahead.status_code == 422 and ahead.json()["error"] == "fix_in_future"
    assert "60 s" in ahead.json()["detail"]
    old = _ping(sync_server, serial, lat=41.88, lon=-87.63, timestamp="2000-01-01T00:00:00Z")
    assert old.status_code == 422 and old.json()["error"] == "fix_too_old"
    assert (_device_row(sync_server, device_id), sync_server.query("select count(*) from position")) == before
    # within the bounds: a clock 30 s fast is normal
    assert _ping(sync_server, serial, lat=41.88, lon=-87.63,
                 timestamp=int((now + timedelta(seconds=30)).timestamp())).status_code == 200


def test_the_bounds_are_configurable(sync_server_factory):
    server = sync_server_factory(caseload=2, max_future_s=5, max_past_s=3600)
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    now = datetime.now(UTC)
    assert _ping(server, serial, lat=41.88, lon=-87.63,
                 timestamp=int((now + timedelta(seconds=30)).timestamp())).json()["error"] == "fix_in_future"
    assert _ping(server, serial, lat=41.88, lon=-87.63,
                 timestamp=int((now - timedelta(hours=2)).timestamp())).json()["error"] == "fix_too_old"


def test_a_buffered_fix_is_judged_at_its_own_time_and_never_moves_the_current_position(sync_server):
    device_id, serial, pid = _device(sync_server)
    _zones(sync_server, pid, _exclusion())
    now = utcnow()
    two_hours_ago = now - timedelta(hours=2)
    sync_server.ingest([_fix(serial, two_hours_ago - timedelta(minutes=5), *OUTSIDE)])
    sync_server.ingest([_fix(serial, now - timedelta(minutes=1), *OUTSIDE, battery_pct=80)])
    current = _device_row(sync_server, device_id)
    # stored while out of coverage, sent after the newer fix: inside the exclusion zone two hours ago
    sync_server.ingest([_fix(serial, two_hours_ago, *PARK)])
    alerts = sync_server.query(
        "select kind, opened_at, detail from alert where device_id = :d and id like 'al-%'", d=device_id)
    assert [a[0] for a in alerts] == ["zone_entry"]
    kind, opened_at, detail = alerts[0]
    assert str(opened_at).startswith(two_hours_ago.isoformat(" ", "seconds"))  # at the fix's own time
    assert "late: fix at" in detail and "received" in detail
    after = _device_row(sync_server, device_id)
    assert after[:2] == current[:2]  # current position unchanged
    flags = sync_server.query("select flags from position where device_id = :d order by fix_time", d=device_id)
    assert [f[0] for f in flags] == ["", "late", ""]


def test_a_buffered_fix_raises_nothing_when_it_was_already_violating_before(sync_server):
    device_id, serial, pid = _device(sync_server)
    _zones(sync_server, pid, _exclusion())
    now = utcnow()
    sync_server.ingest([_fix(serial, now - timedelta(minutes=30), *PARK)])  # entry: one alert
    sync_server.ingest([_fix(serial, now - timedelta(minutes=1), *OUTSIDE)])
    sync_server.ingest([_fix(serial, now - timedelta(minutes=20), *PARK)])  # late, still inside: no new alert
    assert [a[0] for a in _alerts(sync_server, device_id)] == ["zone_entry"]


def test_last_contact_is_the_receipt_time_not_the_fix_time(sync_server):
    device_id, serial, _ = _device(sync_server)
    received = utcnow()
    sync_server.ingest([_fix(serial, received - timedelta(days=3), *HOME)])
    last_contact = sync_server.query("select last_contact_at from device where id = :d", d=device_id)[0][0]
    assert abs((datetime.fromisoformat(str(last_contact)) - received).total_seconds()) < 60


def test_invalid_fixes_are_kept_flagged_and_give_no_gps_credit(sync_server):
    device_id, serial, pid = _device(sync_server)
    _zones(sync_server, pid, _home_zone())
    now = utcnow()
    sync_server.ingest([_fix(serial, now - timedelta(minutes=10), *HOME)])
    with sync_server.db.write() as session:
        session.execute(text("update device set rule_state = '{\"no_gps\": true}' where id = :d"), {"d": device_id})
    before = _device_row(sync_server, device_id)
    assert _ping(sync_server, serial, lat=OUT_600M[0], lon=OUT_600M[1], valid="false").status_code == 200
    after = _device_row(sync_server, device_id)
    assert after[:2] == before[:2] and after[3] == before[3]  # position and last GPS unchanged
    assert "no_gps" in after[5]  # still no GPS
    assert after[2] > before[2]  # but it is contact
    assert _alerts(sync_server, device_id) == []  # no curfew alert from an invalid fix
    assert sync_server.query("select flags from position where device_id = :d order by fix_time desc limit 1",
                             d=device_id) == [("invalid",)]


def test_a_mock_location_raises_a_tamper_class_alert_once_per_episode(sync_server):
    device_id, serial, _ = _device(sync_server)
    for _ in range(3):
        assert _ping(sync_server, serial, lat=41.88, lon=-87.63, mock="true").status_code == 200
    alerts = sync_server.query("select kind, severity from alert where device_id = :d and id like 'al-%'",
                               d=device_id)
    assert alerts == [("mock_location", "critical")]
    assert "mock_location" in TAMPER_CLASS_ALERTS  # resolving it needs a note
    assert sync_server.query("select flags from position where device_id = :d", d=device_id) == [("mock",)] * 3


def test_sos_raises_an_alert(sync_server):
    device_id, serial, _ = _device(sync_server)
    assert _ping(sync_server, serial, lat=41.88, lon=-87.63, alarm="sos").status_code == 200
    assert [a[0] for a in _alerts(sync_server, device_id)] == ["sos"]


def test_the_same_ping_twice_is_stored_once_and_answered_200(sync_server):
    device_id, serial, _ = _device(sync_server)
    stamp = int(datetime.now(UTC).timestamp()) - 30
    fields = dict(lat=41.881, lon=-87.631, timestamp=stamp, batt=50)
    first = _ping(sync_server, serial, **fields)
    again = _ping(sync_server, serial, **fields)
    assert first.status_code == again.status_code == 200
    assert sync_server.query("select count(*) from position where device_id = :d", d=device_id) == [(1,)]
    # in one gateway batch, and against what is stored
    at = datetime.fromtimestamp(stamp, UTC).isoformat()
    fix = {"serial": serial, "fix_time": at, "lat": 41.881, "lon": -87.631}
    other = {**fix, "lat": 41.882}
    answer = httpx.post(f"{sync_server.url}/v1/ingest/fixes", json={"fixes": [fix, other, other]},
                        headers={"X-Gateway-Key": sync_server.gateway_key}).json()
    assert [r["status"] for r in answer["results"]] == ["duplicate", "accepted", "duplicate"]
    assert sync_server.query("select count(*) from position where device_id = :d", d=device_id) == [(2,)]
