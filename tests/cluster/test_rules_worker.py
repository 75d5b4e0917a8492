"""Rules-worker bookkeeping on PostgreSQL (no broker needed)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync_server.cluster.roles import prepare_database
from sync_server.cluster.rules import RulesWorker
from sync_server.db import utcnow
from sync_server.models import ClusterApplied

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
