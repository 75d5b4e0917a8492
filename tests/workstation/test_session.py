"""The session facade: live feed, retention, automatic sync, connectivity, revocation, offline login."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from local_db.errors import WrongPassword
from local_db.models import Device, Position, SyncState
from local_db.timeutil import utc_now
from tests.workstation.conftest import make_config
from workstation.changes import Changes
from workstation.protocol import GatewayFix
from workstation.session import WorkstationSession
from workstation.sync.connectivity import Connectivity
from workstation.sync.errors import ServerFailed, ServerUnreachable


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def fix(serial: str, minutes_ago: float = 0.0, lat: float = 41.88) -> GatewayFix:
    return GatewayFix(serial=serial, fix_time=datetime.now(UTC) - timedelta(minutes=minutes_ago), lat=lat,
                      lon=-87.63, accuracy_m=8.0)  # fmt: skip


def device_of(session, serial: str) -> Device:
    with session.store.read_session() as db:
        device = db.scalars(select(Device).where(Device.serial == serial)).one()
        db.expunge(device)
        return device


def test_live_feed_writes_fixes_publishes_changes_and_resumes(sync_server_factory, open_session):
    server = sync_server_factory(caseload=3, heartbeat_s=0.3)
    session = open_session(server)
    assert session.sync_now().ok
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    seen: list[Changes] = []
    live = session.start_live(seen.append)
    live.flush_interval_s = 0.05
    wait_for(live.connected.is_set)
    server.ingest([fix(serial, lat=41.9001)])
    wait_for(lambda: any(c.devices for c in seen))
    device = device_of(session, serial)
    assert device.last_lat == pytest.approx(41.9001)
    assert seen[-1].devices == {device.id} and seen[-1].caseload_rows == {device.participant_id}
    # the listener gets the values written, as the store holds them: no need to read them back
    applied = seen[-1].fixes[-1]
    assert (applied.device_id, applied.fix_time, applied.lat) == (device.id, device.last_fix_time, device.last_lat)
    with session.store.read_session() as db:
        live_seq = db.get(SyncState, 1).live_seq
    assert live_seq > 0

    session.stop_live()
    server.ingest([fix(serial, lat=41.9002)])  # while disconnected
    seen.clear()
    session.start_live()
    wait_for(lambda: any(c.devices for c in seen))  # resumed after live_seq: the missed fix arrives
    assert device_of(session, serial).last_lat == pytest.approx(41.9002)
    session.stop_live()
    with session.store.read_session() as db:
        lats = sorted(db.scalars(select(Position.lat).where(Position.device_id == device.id)))
    assert pytest.approx(41.9001) in lats and pytest.approx(41.9002) in lats


def test_live_feed_stops_at_once_while_its_read_is_blocked(sync_server_factory, open_session):
    """The reader sits in a socket read between heartbeats (10 s here); stop() must wake it
    instead of waiting for the next heartbeat (it took ~8 s and froze the GUI on lock/logout)."""
    server = sync_server_factory(caseload=2, heartbeat_s=10.0)
    session = open_session(server)
    assert session.sync_now().ok
    live = session.start_live()
    wait_for(live.connected.is_set)
    time.sleep(0.3)  # the first heartbeat is out: the reader is blocked until the next one
    started = time.monotonic()
    session.stop_live()
    assert time.monotonic() - started < 1.0
    assert not live.running


def test_positions_older_than_the_retention_are_purged_at_start(sync_server_factory, open_session):
    server = sync_server_factory(caseload=2, heartbeat_s=0.3)
    session = open_session(server)
    assert session.sync_now().ok
    with session.store.read_session() as db:
        device = db.scalars(select(Device)).first()
        device_id, participant_id = device.id, device.participant_id

    def add(s):
        for pos_id, age_days in ((900001, 8), (900002, 6)):
            when = utc_now() - timedelta(days=age_days)
            s.add(Position(id=pos_id, device_id=device_id, participant_id=participant_id, fix_time=when,
                           received_at=when, lat=41.8, lon=-87.6, accuracy_m=5, source="gps", flags=[]))  # fmt: skip

    session.store.write(add)
    live = session.start_live()
    wait_for(live.connected.is_set)
    session.stop_live()
    with session.store.read_session() as db:
        assert set(db.scalars(select(Position.id).where(Position.id >= 900001))) == {900002}


def test_automatic_sync_runs_on_start_and_on_request(sync_server_factory, open_session):
    server = sync_server_factory(caseload=3)
    session = open_session(server)
    done = threading.Event()
    results = []

    def record(summary):
        results.append(summary)
        done.set()

    scheduler = session.start_auto_sync(interval_s=3600)
    scheduler.synced.connect(record)
    wait_for(lambda: scheduler.runs >= 1)
    assert scheduler.last_summary.ok and scheduler.last_summary.participants == 3
    session.request_sync()
    wait_for(lambda: scheduler.runs >= 2)
    session.stop_auto_sync()
    assert all(r.ok for r in results)


def test_connectivity_states():
    changes = []
    conn = Connectivity()
    conn.changed.connect(lambda old, new: changes.append((old.state, new.state)))
    assert conn.status().state == "offline" and conn.status().last_contact_at is None
    conn.contact_succeeded(0.1)
    assert conn.status().state == "online" and conn.status().last_contact_at is not None
    conn.contact_failed(ServerUnreachable("down"))
    assert conn.status().state == "degraded"
    conn.contact_failed(ServerUnreachable("down"))
    assert conn.status().state == "offline"
    conn.contact_succeeded(0.1)
    conn.contact_failed(ServerFailed("500", 500))
    assert conn.status().state == "degraded"
    assert changes == [("offline", "online"), ("online", "degraded"), ("degraded", "offline"),
                       ("offline", "online"), ("online", "degraded")]  # fmt: skip


def test_later_logins_work_offline_and_check_the_password(sync_server_factory, open_session, tmp_path):
    server = sync_server_factory(caseload=3)
    home = tmp_path / "laptop"
    first = open_session(server, home=home)
    assert first.sync_now().ok
    first.close()
    config = make_config(home, "http://127.0.0.1:9")  # nothing listens there: offline
    with WorkstationSession.open(config, "officer1", "pw") as offline:
        assert offline.offline_reason is not None
        with offline.store.read_session() as db:
            assert db.scalar(select(func.count()).select_from(Device)) == 3
    with pytest.raises(WrongPassword):
        WorkstationSession.open(config, "officer1", "not the password")


def test_revoked_workstation_is_crypto_wiped(sync_server_factory, open_session, tmp_path):
    server = sync_server_factory(caseload=2)
    home = tmp_path / "revoked"
    session = open_session(server, home=home)
    assert session.sync_now().ok
    reasons = []
    session.revoked.connect(reasons.append)
    server.admin_revoke(session.auth.workstation_id)
    summary = session.sync_now()
    assert summary.revoked
    assert reasons and not (home / "keys.json").exists() and not (home / "store.db").exists()
    assert (home / "WIPED.json").exists()


def test_backoff_is_truncated_exponential_with_full_jitter():
    import random

    from workstation.sync.backoff import Backoff

    backoff = Backoff(base_s=1.0, cap_s=10.0, rng=random.Random(5))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 10, 10, 10, 10]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not lockstep
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_scheduler_retries_a_retryable_failure_soon_and_waits_the_interval_after_success():
    from workstation.sync.backoff import Backoff
    from workstation.sync.engine import SyncSummary
    from workstation.sync.scheduler import SyncScheduler

    outcomes = [SyncSummary(ok=False, retryable=True, error="down"), SyncSummary(ok=False, retryable=True),
                SyncSummary(ok=True)]  # fmt: skip
    calls = []

    def fake_sync() -> SyncSummary:
        calls.append(time.monotonic())
        return outcomes[min(len(calls) - 1, 2)]

    scheduler = SyncScheduler(fake_sync, interval_s=3600, backoff=Backoff(base_s=0.05, cap_s=0.1))
    scheduler.start()
    try:
        wait_for(lambda: scheduler.runs >= 3, timeout=5)
        time.sleep(0.3)
        assert scheduler.runs == 3  # after the success it waits for the (long) interval
        assert scheduler.backoff.failures == 0
    finally:
        scheduler.stop()
