"""Rules-worker bookkeeping and slot fencing on PostgreSQL (no broker needed)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync_server.cluster.broker import FixBatch
from sync_server.cluster.roles import prepare_database
from sync_server.cluster.rules import RulesWorker, _Message
from sync_server.cluster.slots import Fenced
from sync_server.db import utcnow
from sync_server.models import ClusterApplied
from tests.cluster.helpers import devices, query, rounds, wait_for
from workstation.protocol import GatewayFix

pytestmark = pytest.mark.postgres


def test_pruning_forgets_old_message_ids_but_keeps_each_partitions_resume_point(postgres_url):
    db = prepare_database(postgres_url)
    try:
        old, recent = utcnow() - timedelta(days=2), utcnow()
        with db.write() as session:
            session.add_all([
                ClusterApplied(msg_id="a", partition=0, stream_seq=1, applied_at=old),
                ClusterApplied(msg_id="b", partition=0, stream_seq=2, applied_at=old),
                ClusterApplied(msg_id="c", partition=1, stream_seq=3, applied_at=old),
                ClusterApplied(msg_id="d", partition=0, stream_seq=4, applied_at=recent),
                ClusterApplied(msg_id="e", partition=1, stream_seq=5, applied_at=old),
            ])
        worker = RulesWorker(db, "nats://unused", partitions=2)
        worker._prune()
        assert worker._load_offsets() == {0: 4, 1: 5}
        with db.read() as session:
            assert sorted(session.scalars(ClusterApplied.__table__.select().with_only_columns(
                ClusterApplied.msg_id))) == ["d", "e"]
    finally:
        db.dispose()


def _message(seq: int, fixes: list[dict]) -> _Message:
    batch = FixBatch(received_at=utcnow(), fixes=[GatewayFix.model_validate(f) for f in fixes], via="gateway:tests")
    return _Message(f"m{seq}", partition=0, stream_seq=seq, batch=batch)


def _end_session_holding_slot(db_url: str, slot: int) -> None:
    """What a network cut does to the holder's lock session, while its process lives on."""
    pids = query(db_url, "select l.pid from pg_locks l join pg_database d on d.oid = l.database "
                         "where l.locktype = 'advisory' and l.granted and l.objid = :slot "
                         "and d.datname = current_database()", slot=slot)
    assert len(pids) == 1
    query(db_url, "select pg_terminate_backend(:pid)", pid=pids[0][0])


def test_a_worker_that_lost_its_slot_commits_nothing_after_the_takeover(seeded_postgres):
    db = prepare_database(seeded_postgres)
    serials = [s for s, _ in devices(seeded_postgres)]
    first, second, third = rounds(serials, 3)
    for fix in second + third:  # battery low from the second round on: one low-battery alert per device
        fix["battery_pct"] = 15
    low_battery = "select count(*) from alert where kind = 'low_battery'"
    alerts_before = query(seeded_postgres, low_battery)[0][0]
    zombie = RulesWorker(db, "nats://unused", partitions=1)
    standby = RulesWorker(db, "nats://unused", partitions=1)
    try:
        assert zombie.lease.claim(0) == 0
        assert standby.lease.claim(0) is None  # held: it stands by
        assert zombie._apply([_message(1, first)]) is not None
        _end_session_holding_slot(seeded_postgres, 0)
        wait_for(lambda: standby.lease.claim(0) == 0, what="the takeover")
        assert standby.lease.epoch == zombie.lease.epoch + 1
        assert standby._apply([_message(2, second)]) is not None
        # The zombie, its devices in memory as of round 1, gets round 3 (delivered to it before the
        # cut): applied, it would raise a second low-battery alert per device.
        with pytest.raises(Fenced):
            zombie._apply([_message(3, third)])
        assert zombie.devices == {}
        assert query(seeded_postgres, "select count(*) from position")[0][0] == 2 * len(serials)
        assert standby._apply([_message(3, third)]) is not None
    finally:
        zombie.lease.release()
        standby.lease.release()
        db.dispose()

    assert query(seeded_postgres, "select count(*), count(distinct (device_id, fix_time)) from position")[0] == (
        3 * len(serials), 3 * len(serials))
    assert query(seeded_postgres, low_battery)[0][0] - alerts_before == len(serials)
    assert query(seeded_postgres, "select msg_id from cluster_applied order by stream_seq") == [("m1",), ("m2",), ("m3",)]
    assert query(seeded_postgres, "select slot, epoch from cluster_slot") == [(0, 2)]
