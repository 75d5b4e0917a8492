"""Provenance end to end: how each position reached the server, and its flags, reach the encrypted
store, the participant record and the map's track."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from local_db.models import Device, Position
from maps import layers
from sync_server.models import Device as ServerDevice
from ui.participant_view import render_record
from workstation.read.record import load_participant
from workstation.tracks import held


def test_via_and_flags_reach_the_store_the_record_and_the_map(sync_server_factory, open_session):
    server = sync_server_factory(caseload=2)
    session = open_session(server)
    assert session.sync_now().ok
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    with session.store.read_session() as db:
        participant_id = db.scalar(select(Device.participant_id).where(Device.serial == serial))
    with server.db.write() as db:  # the seeded last fix is minutes old: start the device afresh
        db.execute(update(ServerDevice).values(last_fix_time=None, last_lat=None, last_lon=None))
    now = datetime.now(UTC)
    key = server.device_keys[serial]
    ping = f"{server.url}/osmand"
    # through the device's own key: a genuine fix, then a mock location
    assert httpx.get(ping, params={"id": serial, "key": key, "lat": 41.8801, "lon": -87.6301, "bearing": 90,
                                   "altitude": 180, "timestamp": int((now - timedelta(minutes=3)).timestamp())
                                   }).status_code == 200
    assert httpx.get(ping, params={"id": serial, "key": key, "lat": 41.8802, "lon": -87.6302, "mock": "true",
                                   "timestamp": int((now - timedelta(minutes=2)).timestamp())}).status_code == 200
    # through the gateway: a fix buffered while out of coverage, sent after the newer ones
    late = {"serial": serial, "fix_time": (now - timedelta(minutes=30)).isoformat(), "lat": 41.8803, "lon": -87.6303}
    assert httpx.post(f"{server.url}/v1/ingest/fixes", json={"fixes": [late]},
                      headers={"X-Gateway-Key": server.gateway_key}).status_code == 200
    since = (now - timedelta(hours=1)).replace(tzinfo=None)

    got = session.track(participant_id, since)
    assert got.fetched
    by_lat = {lat: d for (lat, _lon, _t), d in zip(got.points, got.details, strict=True)}
    assert (by_lat[41.8801].via, by_lat[41.8801].flags) == ("osmand", ())
    assert (by_lat[41.8802].via, by_lat[41.8802].flags) == ("osmand", ("mock",))
    assert (by_lat[41.8803].via, by_lat[41.8803].flags) == ("gateway:embedded", ("late",))
    assert all(d.received_at is not None for d in got.details)
    with session.store.read_session() as db:
        bearing, altitude = db.execute(select(Position.bearing, Position.altitude_m)
                                       .where(Position.lat == 41.8801)).one()
    assert (bearing, altitude) == (90.0, 180.0)
    assert held(session.store, participant_id, since, now.replace(tzinfo=None) + timedelta(minutes=1))[1] == \
        got.details

    # the map's track: each fix says when and how it arrived, and what it is flagged
    points = layers.track_payload(got.map_positions())["points"]
    late_point = next(p for p in points if p["lat"] == 41.8803)
    assert late_point["via"] == "gateway:embedded" and late_point["flags"] == ["late"]
    assert late_point["received"].endswith("Z")

    # the participant record: positions by provenance, and the flagged ones named
    record = load_participant(session.store, participant_id)
    assert record.provenance.positions >= 3
    assert dict(record.provenance.flagged) == {"late": 1, "mock": 1}
    assert dict(record.provenance.via)["osmand"] >= 2
    html = render_record(record, datetime.now(UTC).replace(tzinfo=None))
    assert "Flagged, not trusted" in html and "mock location" in html and "gateway embedded" in html
