"""Tracks on demand: last night's track comes from the server into the encrypted store; offline the
officer sees what the store holds, and is told so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from local_db.models import Device, Position
from workstation import tracks
from workstation.protocol import GatewayFix
from workstation.sync.errors import RequestRefused


def _fix(serial: str, when: datetime, lat: float) -> GatewayFix:
    return GatewayFix(serial=serial, fix_time=when, lat=lat, lon=-87.63, accuracy_m=8.0)


def test_default_window_starts_yesterday_evening_in_the_zone():
    chicago = ZoneInfo("America/Chicago")
    # 03:00 UTC on 2 March is 21:00 on 1 March in Chicago: "yesterday" there is 28 February
    assert tracks.default_since(datetime(2026, 3, 2, 3, 0, tzinfo=UTC), chicago) == datetime(2026, 3, 1, 0, 0)
    assert tracks.default_since(datetime(2026, 3, 2, 12, 0), chicago) == datetime(2026, 3, 2, 0, 0)


def test_last_nights_track_is_fetched_kept_and_shown_offline(sync_server_factory, open_session):
    server = sync_server_factory(caseload=2)
    session = open_session(server)
    assert session.sync_now().ok
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    with session.store.read_session() as db:
        participant_id = db.scalar(select(Device.participant_id).where(Device.serial == serial))
    now = datetime.now(UTC)
    night = [now - timedelta(hours=h) for h in (14, 13, 12, 11)]
    result = server.ingest([_fix(serial, t, 41.88 + i * 0.001) for i, t in enumerate(night)]
                           + [_fix(serial, now - timedelta(days=9), 41.7)])  # beyond the 7-day retention
    assert result.accepted >= 4, result
    since = (now - timedelta(hours=20)).replace(tzinfo=None)

    got = session.track(participant_id, since)
    assert got.fetched and got.problem == ""
    fetched_times = [t for _lat, _lon, t in got.points]
    for t in night:
        assert t.replace(tzinfo=None) in fetched_times
    assert "from the server" in tracks.describe(got, "yesterday 18:00")

    # the server's nine-day-old fix was outside the retention: not kept
    wide = session.track(participant_id, (now - timedelta(days=10)).replace(tzinfo=None))
    assert wide.fetched and min(t for *_ll, t in wide.points) > (now - timedelta(days=7)).replace(tzinfo=None)
    with session.store.read_session() as db:
        assert db.scalar(select(func.count()).select_from(Position).where(Position.lat == 41.7)) == 0

    case = server.seeded["officers"]["officer1"]["case_numbers"][0]
    with pytest.raises(RequestRefused):  # a window beyond what the server keeps for this: a clear 4xx
        session.client.get_json(f"/v1/participants/{case}/track", params={"since": "2020-01-01T00:00:00Z"})

    server.stop()  # offline: what the store holds, and a sentence saying so
    offline = session.track(participant_id, since)
    assert not offline.fetched and offline.problem
    assert [t for *_ll, t in offline.points] == fetched_times
    line = tracks.describe(offline, "yesterday 18:00")
    assert line.startswith("Track not fetched (") and "showing what this laptop holds" in line
