"""The scaled-out server on real engines: nats-server (JetStream) and PostgreSQL, every role its own
process (sync_server.cluster.launcher.LocalCluster), failures made with SIGKILL."""

from __future__ import annotations

import pytest

from sync_server.cluster.rules import CRASH_AFTER_COMMIT_ENV
from tests.cluster.helpers import (
    LiveReader,
    devices,
    gateway_key,
    login,
    post_batch,
    query,
    rounds,
    wait_for,
)

pytestmark = pytest.mark.postgres


def _positions(db_url: str) -> int:
    return query(db_url, "select count(*) from position")[0][0]


def test_fixes_are_applied_exactly_once_through_a_rules_worker_kill(cluster_factory, seeded_postgres):
    cluster = cluster_factory(receivers=1, rules_workers=1, api_workers=1)
    db = seeded_postgres
    serials = [s for s, _ in devices(db)]
    key = gateway_key(db)
    seeded_alerts = query(db, "select count(*) from alert")[0][0]
    seeded_alert_feed = query(db, "select count(*) from change_log where entity = 'alert'")[0][0]
    live = LiveReader(cluster.apis[0].url, login(cluster.apis[0].url), after=0)
    # The worker kills itself (SIGKILL) right after its second commit: positions, alerts and feed rows
    # are in PostgreSQL, but it published no live event and acknowledged nothing.
    worker = cluster.rules[0]
    worker.stop()
    worker.start(env={CRASH_AFTER_COMMIT_ENV: "2"})
    batches = rounds(serials, 6, low_battery_round=2)
    for i, batch in enumerate(batches[:3]):
        assert post_batch(cluster.receivers[0].url, key, batch).status_code == 200
        wait_for(lambda: not worker.alive or _positions(db) >= len(batch) * (i + 1), what="a commit")  # noqa: B023
    wait_for(lambda: not worker.alive, what="the injected crash")
    assert worker.process.returncode == -9
    committed = _positions(db)
    assert committed > 0
    # fixes keep arriving while no rules worker runs: the broker holds them
    for batch in batches[3:]:
        assert post_batch(cluster.receivers[0].url, key, batch).status_code == 200
    worker.start()
    sent = sum(map(len, batches))
    wait_for(lambda: _positions(db) >= sent, what="every fix stored")
    officer1 = {s for s, officer in devices(db) if officer == "off1"}
    expected_live = sum(1 for batch in batches for fix in batch if fix["serial"] in officer1)
    wait_for(lambda: len(live.fixes) >= expected_live and len(live.events) >= expected_live + len(officer1),
             what="officer1's fixes and alerts on the live stream")
    live.close()

    assert _positions(db) == sent
    assert query(db, "select count(*) from (select distinct device_id, fix_time from position) t")[0][0] == sent
    # one low-battery alert per device, whichever round it came in, with its feed row
    assert query(db, "select count(*) from alert")[0][0] - seeded_alerts == len(serials)
    assert query(db, "select count(distinct device_id) from alert where kind = 'low_battery' and opened_at > "
                     "now() - interval '1 hour'")[0][0] == len(serials)
    assert query(db, "select count(*) from change_log where entity = 'alert'")[0][0] - seeded_alert_feed == len(serials)
    # every fix of officer1's devices on the live stream once, its alerts too, none of officer2's
    assert len(live.fixes) == len({e["fix"]["id"] for e in live.fixes}) == expected_live
    assert len([e for e in live.events if e["type"] == "alert"]) == len(officer1)
    seqs = [e["seq"] for e in live.events]
    assert seqs == sorted(set(seqs))
    assert query(db, "select count(*) from cluster_outbox")[0][0] == 0
