"""The requests the Traccar Client and OsmAnd apps really send, read as Traccar's OsmAnd decoder reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sync_server.osmand import Contact, json_fields, parse_osmand

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC).replace(tzinfo=None)


def _fix(**fields):
    return parse_osmand({"id": "SN-1", "lat": "41.88", "lon": "-87.63", **fields}, NOW)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("1764763200", datetime(2025, 12, 3, 12, 0, tzinfo=UTC)),  # epoch seconds
        ("1764763200000", datetime(2025, 12, 3, 12, 0, tzinfo=UTC)),  # epoch milliseconds
        ("2025-12-03T12:00:00Z", datetime(2025, 12, 3, 12, 0, tzinfo=UTC)),
        ("2025-12-03T13:00:00+01:00", datetime(2025, 12, 3, 12, 0, tzinfo=UTC)),
        ("2025-12-03T13:00:00 01:00", datetime(2025, 12, 3, 12, 0, tzinfo=UTC)),  # "+" decoded as a space
        ("2025-12-03 12:00:00", datetime(2025, 12, 3, 12, 0, tzinfo=UTC)),  # yyyy-MM-dd HH:mm:ss
        ("", NOW.replace(tzinfo=UTC)),  # missing: now
    ],
)
def test_timestamps_in_every_form_traccar_reads(timestamp, expected):
    assert _fix(timestamp=timestamp).fix_time == expected


def test_from_two_to_the_31_a_number_is_milliseconds_as_traccar_decides():
    assert _fix(timestamp="2147483646").fix_time == datetime(2038, 1, 19, 3, 14, 6, tzinfo=UTC)
    assert _fix(timestamp="2147483647").fix_time == datetime(1970, 1, 25, 20, 31, 23, 647000, tzinfo=UTC)


def test_fields_as_traccar_reads_them():
    fix = _fix(speed="10", bearing="-1", altitude="181.5", accuracy="0", hdop="1.7", batt="-1")
    assert fix.speed_kmh == pytest.approx(18.52)  # knots
    assert fix.bearing is None and fix.battery_pct is None  # negative: unknown
    assert fix.altitude_m == 181.5 and fix.accuracy_m == 0.0 and fix.hdop == 1.7  # hdop is not metres
    assert fix.charging is False  # no charge field: not plugged in
    assert _fix(charge="true").charging is True and _fix(charge="false").charging is False
    assert _fix(heading="270").bearing == 270
    assert _fix(speed="-1").speed_kmh is None
    located = parse_osmand({"id": "SN-1", "location": "41.9,-87.6"}, NOW)
    assert (located.lat, located.lon) == (41.9, -87.6)
    assert _fix(valid="false").valid is False and _fix(valid="1").valid is True and _fix().valid is True
    assert _fix(mock="true").mock is True and _fix(alarm="sos").event == "sos"
    assert parse_osmand({"deviceid": "SN-2", "lat": "1", "lon": "2"}, NOW).serial == "SN-2"


def test_a_cell_or_wifi_only_ping_is_contact_without_a_position():
    contact = parse_osmand({"id": "SN-1", "cell": "310,410,1234,5678", "batt": "55"}, NOW)
    assert contact == Contact("SN-1", 55, False)
    with pytest.raises(ValueError, match="lat and lon"):
        parse_osmand({"id": "SN-1", "batt": "55"}, NOW)


def test_the_json_body_of_the_current_traccar_client():
    body = (b'{"location": {"timestamp": "2025-12-03T12:00:00.000Z", "coords": {"latitude": 41.88, "longitude": '
            b'-87.63, "accuracy": 6.5, "speed": 10, "heading": 90, "altitude": 180}, "is_moving": true, '
            b'"odometer": 0, "event": "motionchange", "battery": {"level": 0.42, "is_charging": true}, '
            b'"activity": {"type": "still"}, "extras": {}}, "device_id": "SN-1"}')
    fix = parse_osmand(json_fields(body), NOW)
    assert (fix.serial, fix.lat, fix.lon, fix.accuracy_m, fix.bearing, fix.altitude_m) == (
        "SN-1", 41.88, -87.63, 6.5, 90, 180)
    assert fix.speed_kmh == pytest.approx(36.0)  # 10 m/s
    assert (fix.battery_pct, fix.charging) == (42, True)
    assert fix.fix_time == datetime(2025, 12, 3, 12, 0, tzinfo=UTC)


def test_real_client_requests_end_to_end(sync_server):
    serial = sync_server.seeded["officers"]["officer1"]["serials"][0]
    key = sync_server.device_keys[serial]
    now = datetime.now(UTC)
    url = f"{sync_server.url}/osmand"
    # Traccar Client (Android, older): GET with the key kept from its server URL
    got = httpx.get(url, params={"id": serial, "timestamp": int(now.timestamp()) - 30, "lat": "41.8801",
                                 "lon": "-87.6301", "speed": "0.0", "bearing": "0.0", "altitude": "179.2",
                                 "accuracy": "12.0", "batt": "87.0", "key": key})
    assert got.status_code == 200, got.text
    # OsmAnd app: URL template with a millisecond timestamp, hdop and no accuracy
    osm = httpx.get(url, params={"id": serial, "lat": "41.8802", "lon": "-87.6302",
                                 "timestamp": int(now.timestamp() * 1000) - 20_000, "hdop": "2.5",
                                 "altitude": "180", "speed": "0.5", "key": key})
    assert osm.status_code == 200, osm.text
    # the current Traccar Client: JSON, with a charset in the content type
    body = {"location": {"timestamp": (now - timedelta(seconds=10)).isoformat().replace("+00:00", "Z"),
                         "coords": {"latitude": 41.8803, "longitude": -87.6303, "accuracy": 5, "speed": -1,
                                    "heading": -1, "altitude": 181},
                         "battery": {"level": 0.8, "is_charging": False}}, "device_id": serial}
    posted = httpx.post(url, params={"key": key}, content=httpx.Request("POST", url, json=body).content,
                        headers={"content-type": "application/json; charset=utf-8"})
    assert posted.status_code == 200, posted.text
    # a form body, where the URL's field wins
    form = httpx.post(url, params={"key": key, "lat": "41.8804"},
                      data={"id": serial, "lat": "10.0", "lon": "-87.6304"})
    assert form.status_code == 200, form.text
    rows = sync_server.query(
        "select lat, accuracy_m, hdop, altitude_m, bearing, speed_kmh, via from position order by fix_time")
    assert [r[0] for r in rows] == [41.8801, 41.8802, 41.8803, 41.8804]
    assert rows[1][1:4] == (10.0, 2.5, 180.0)  # OsmAnd's hdop kept as hdop; accuracy the default
    assert rows[2][4:6] == (None, None)  # -1 speed and heading: unknown
    assert {r[6] for r in rows} == {"osmand"}
    # a cell-only ping: contact, no position
    before = sync_server.query("select last_contact_at from device where serial = :s", s=serial)[0][0]
    cell = httpx.get(url, params={"id": serial, "cell": "310,410,1234,5678", "batt": "80", "key": key})
    assert cell.status_code == 200, cell.text
    assert sync_server.query("select count(*) from position") == [(4,)]
    assert sync_server.query("select last_contact_at from device where serial = :s", s=serial)[0][0] >= before
