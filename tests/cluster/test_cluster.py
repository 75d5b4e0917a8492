"""The scaled-out server on real engines: nats-server (JetStream) and PostgreSQL, every role its own
process (sync_server.cluster.launcher.LocalCluster), failures made with SIGKILL."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from sync_server.cluster.rules import CRASH_AFTER_COMMIT_ENV
from tests.cluster.helpers import (
    LiveReader,
    device_key,
    devices,
    gateway_key,
    login,
    post_batch,
    query,
    revoke_workstation,
    rounds,
    wait_for,
)

pytestmark = pytest.mark.postgres


def _positions(db_url: str) -> int:
    return query(db_url, "select count(*) from position")[0][0]


@pytest.mark.parametrize("recovery", ["restart", "standby"])
def test_fixes_are_applied_exactly_once_through_a_rules_worker_kill(cluster_factory, seeded_postgres, recovery):
    # restart: the killed worker's supervisor starts it again; standby: another worker takes its slot over
    cluster = cluster_factory(receivers=1, rules_workers=1, rules_standbys=int(recovery == "standby"), api_workers=1)
    db = seeded_postgres
    serials = [s for s, _ in devices(db)]
    key = gateway_key(db)
    seeded_alerts = query(db, "select count(*) from alert")[0][0]
    seeded_alert_feed = query(db, "select count(*) from change_log where entity = 'alert'")[0][0]
    live = LiveReader(cluster.apis[0].url, login(cluster.apis[0].url), after=0)
    # The worker kills itself (SIGKILL) right after its second commit: positions, alerts and feed rows
    # are in PostgreSQL, but it published no live event and acknowledged nothing.
    worker, standbys = cluster.rules[0], cluster.rules[1:]
    for process in [*standbys, worker]:
        process.stop()
    worker.start(env={CRASH_AFTER_COMMIT_ENV: "2"})
    for process in standbys:
        process.start()
    batches = rounds(serials, 6, low_battery_round=2)
    for i, batch in enumerate(batches[:3]):
        assert post_batch(cluster.receivers[0].url, key, batch).status_code == 200
        wait_for(lambda: not worker.alive or _positions(db) >= len(batch) * (i + 1), what="a commit")  # noqa: B023
    wait_for(lambda: not worker.alive, what="the injected crash")
    assert worker.process.returncode == -9
    committed = _positions(db)
    assert committed > 0
    # fixes keep arriving while no rules worker holds the slot: the broker holds them
    for batch in batches[3:]:
        assert post_batch(cluster.receivers[0].url, key, batch).status_code == 200
    if recovery == "restart":
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
    # taken at the cluster's start, by the worker started to crash, then by the restarted worker or the standby
    assert query(db, "select slot, epoch from cluster_slot") == [(0, 3)]
    if recovery == "standby":
        assert not worker.alive and '"rules_slot": {"slot": 0' in standbys[0].log_path.read_text()


def test_a_live_stream_resumes_on_another_api_worker_after_a_kill(cluster_factory, seeded_postgres):
    cluster = cluster_factory(receivers=1, rules_workers=1, api_workers=2)
    db = seeded_postgres
    officer1 = [s for s, officer in devices(db) if officer == "off1"]
    key = gateway_key(db)
    token = login(cluster.apis[0].url)
    batches = rounds([s for s, _ in devices(db)], 3)
    first = LiveReader(cluster.apis[0].url, token)
    wait_for(lambda: first.connected, what="the stream to open")
    assert post_batch(cluster.receivers[0].url, key, batches[0]).status_code == 200
    wait_for(lambda: len(first.fixes) == len(officer1), what="round 1 on worker 0")
    cluster.apis[0].kill()
    wait_for(lambda: first.error is not None, what="the stream to break")
    # while the officer is disconnected
    assert post_batch(cluster.receivers[0].url, key, batches[1]).status_code == 200
    # the client reconnects to the other worker with the id of the last event it got
    second = LiveReader(cluster.apis[1].url, token, last_event_id=first.events[-1]["seq"])
    assert post_batch(cluster.receivers[0].url, key, batches[2]).status_code == 200
    wait_for(lambda: len(second.fixes) == 2 * len(officer1), what="rounds 2 and 3 on worker 1")
    # everything the broker holds for officer1, read from the start on a restarted worker 0
    cluster.apis[0].start()
    everything = LiveReader(cluster.apis[0].url, token, after=0)
    wait_for(lambda: len(everything.fixes) == 3 * len(officer1), what="the whole stream")
    # the authorisation re-check runs on API workers too: a revoked workstation's stream ends
    revoke_workstation(db, "ws-cluster")
    for reader in (second, everything):
        wait_for(lambda: reader.events[-1]["type"] == "end", what="the streams' end")  # noqa: B023
    for reader in (first, second, everything):
        reader.close()

    assert first.events[-1]["type"] != "end"  # it was killed
    seen = [e["seq"] for e in first.events + second.events[:-1]]
    assert seen == [e["seq"] for e in everything.events[:-1]]  # no gap, no repeat, same order
    assert seen == sorted(seen)
    ids = [e["fix"]["id"] for e in first.fixes + second.fixes]
    assert len(ids) == len(set(ids)) == 3 * len(officer1)
    assert {e["fix"]["device_id"] for e in everything.fixes} == set(
        r[0] for r in query(db, "select d.id from device d join participant p on p.id = d.participant_id "
                                "where p.officer_id = 'off1'"))


def test_a_receiver_refuses_fixes_while_the_broker_is_down(cluster_factory, seeded_postgres):
    cluster = cluster_factory(receivers=1, rules_workers=1, api_workers=0)
    db = seeded_postgres
    serials = [s for s, _ in devices(db)]
    key = gateway_key(db)
    receiver = cluster.receivers[0].url
    batches = rounds(serials, 3)
    assert post_batch(receiver, key, batches[0]).status_code == 200
    cluster.nats.stop()
    refused = post_batch(receiver, key, batches[1])
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "broker_unavailable"
    ping_fields = {"id": serials[0], "lat": 41.9, "lon": -87.6, "timestamp": batches[0][0]["fix_time"][:19] + "Z",
                   "key": device_key(db, serials[0])}
    ping = httpx.get(f"{receiver}/osmand", params=ping_fields, timeout=30)
    assert ping.status_code == 503
    assert httpx.get(f"{receiver}/healthz", timeout=10).status_code == 503
    cluster.nats.start()  # same port, same store
    cluster.receivers[0].wait_healthy()
    assert post_batch(receiver, key, batches[2]).status_code == 200
    acknowledged = len(batches[0]) + len(batches[2])
    wait_for(lambda: _positions(db) >= acknowledged, what="the acknowledged fixes stored")
    # exactly those: a refused fix was not kept anywhere to be stored later behind the client's back
    assert _positions(db) == acknowledged
    assert len(query(db, "select distinct fix_time from position")) == 2
    # the clients retry what was refused: stored once
    assert post_batch(receiver, key, batches[1]).status_code == 200
    assert post_batch(receiver, key, batches[1]).status_code == 200  # a retry after a lost answer
    assert httpx.get(f"{receiver}/osmand", params=ping_fields, timeout=30).status_code == 200
    everything = acknowledged + len(batches[1]) + 1
    wait_for(lambda: _positions(db) >= everything, what="the retried fixes stored")
    assert _positions(db) == everything
    assert query(db, "select count(*) from (select distinct device_id, fix_time from position) t")[0][0] == everything

    # a cell-only ping (no position) counts as contact, as on the all-in-one server: through the broker
    # and a rules worker, it moves the device's last contact and power, and stores no position
    quiet = serials[1]
    before = query(db, "select last_contact_at from device where serial = :s", s=quiet)[0][0]
    contact = httpx.get(f"{receiver}/osmand", params={"id": quiet, "cell": "310,410,1234,5678", "batt": "64",
                                                       "key": device_key(db, quiet)}, timeout=30)
    assert contact.status_code == 200, contact.text
    wait_for(lambda: query(db, "select last_contact_at from device where serial = :s", s=quiet)[0][0] != before,
             what="the contact recorded")
    assert query(db, "select battery_pct, charging from device where serial = :s", s=quiet) == [(64, False)]
    assert _positions(db) == everything


def test_incident_records_reach_the_live_stream_through_the_cluster(cluster_factory, seeded_postgres):
    """An incident raised by a rules worker, and cleared by a position-less ping it applies, goes out on
    the officer's live stream through the broker and an API worker, as on the all-in-one server; the
    agency's response times given to the cluster set its due times."""
    cluster = cluster_factory(receivers=1, rules_workers=1, api_workers=1, response_times="critical=10m")
    db = seeded_postgres
    serial, strapped = [s for s, officer in devices(db) if officer == "off1"][:2]
    reader = LiveReader(cluster.apis[0].url, login(cluster.apis[0].url))
    wait_for(lambda: reader.connected, what="the stream to open")

    def battery_incidents() -> list[dict]:
        return [e for e in reader.events if e["type"] == "incident" and "low_battery" in e["incident"]["kinds"]]

    for batch in rounds([serial], 2, low_battery_round=1):  # 80 %, then 15 %
        assert post_batch(cluster.receivers[0].url, gateway_key(db), batch).status_code == 200
    tamper = {**rounds([strapped], 1)[0][0], "event": "strap_tamper"}
    assert post_batch(cluster.receivers[0].url, gateway_key(db), [tamper]).status_code == 200
    wait_for(lambda: battery_incidents(), what="the low-battery incident on the stream")
    wait_for(lambda: [e for e in reader.events if e["type"] == "incident" and "strap_tamper" in e["incident"]["kinds"]],
             what="the tamper incident on the stream")
    [tampered] = [e["incident"] for e in reader.events
                  if e["type"] == "incident" and "strap_tamper" in e["incident"]["kinds"]]
    due = datetime.fromisoformat(tampered["due_at"]) - datetime.fromisoformat(tampered["needs_action_since"])
    assert due == timedelta(minutes=10)
    raised = battery_incidents()[0]
    assert raised["incident"].get("state", "open") == "open" and raised["version"] >= 1
    charged = httpx.get(f"{cluster.receivers[0].url}/osmand", params={
        "id": serial, "cell": "310,410,1234,5678", "batt": "64", "key": device_key(db, serial)}, timeout=30)
    assert charged.status_code == 200, charged.text
    wait_for(lambda: battery_incidents()[-1]["incident"].get("state") == "auto_resolved", what="the incident cleared")
    cleared = battery_incidents()[-1]
    assert cleared["incident"]["id"] == raised["incident"]["id"] and cleared["version"] > raised["version"]
    reader.close()
