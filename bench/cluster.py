"""Cluster: the scaled-out server (sync_server/cluster) on this machine, through failures, against an oracle.

Setup: a fresh PostgreSQL database (BENCH_POSTGRES_URL or TEST_POSTGRES_URL names the server; default
the local one) seeded with 4 officers x 1,250 participants (one device each), and a LocalCluster:
nats-server with JetStream, 2 receivers, N rules workers and one standby (BENCH_CLUSTER_STANDBYS), 2 API
workers, every role its own process. Each officer holds a /v1/live stream (on API worker 0 or 1). The
device simulator's fixes (one per device per simulated minute) go as gateway batches of 500 to the
receivers (4 concurrent senders, alternating receivers), 20 rounds: 100,000 fixes.

1. Throughput (8 rounds, 40,000 fixes): sent as fast as the receivers take them; the rate is fixes
   sent / seconds until every one is stored (PostgreSQL) - receivers, broker and rules workers together.
2. Failures and latency (12 rounds, 60,000 fixes): sent at half that rate; at 30 % of these rounds
   rules worker 0 is SIGKILLed, at 60 % API worker 0; each is restarted 1 s later (a supervisor's
   job). The standby takes the killed rules worker's slot (its partitions) over as soon as that
   worker's PostgreSQL session ends; the restarted one becomes the standby. The officers whose stream
   broke reconnect to the other API worker with Last-Event-ID, as the workstation does. Latency is from
   handing a fix's batch to a receiver to the officer's live client parsing the fix; "steady" leaves
   out fixes sent within 10 s after a kill.

Oracle (both phases): every fix answered 200 is stored once (positions by device and fix time),
alerts do not repeat (device, kind, time), and each officer's live events equal the broker's whole
stream for that officer, read again from the start at the end (no gap, no repeat).

Metrics (2 rules workers; the same run with 1 rules worker adds `cluster_1w_*`): cluster_broker,
cluster_db, cluster_receivers, cluster_rules_workers, cluster_rules_standbys, cluster_api_workers,
cluster_worker_kills, cluster_rules_takeover_ms (from the SIGKILL to a worker holding the slot again:
the standby, or without one the restarted worker), cluster_fixes_sent, cluster_fixes_stored,
cluster_lost, cluster_duplicated, cluster_alerts_duplicated, cluster_live_gaps (events of the broker's
stream an officer never got), cluster_live_repeats, cluster_fixes_per_s (phase 1) and the CPU each kind
of process spent per fix in it (cluster_{receivers,rules_workers,api_workers,broker,postgres}_cpu_us_per_fix,
postgres: its server processes of the bench database; contention-independent where the rates are not),
the standby's CPU in phase 1 (cluster_rules_standbys_cpu_ms_per_s: it does no per-fix work),
cluster_paced_fixes_per_s (phase 2), cluster_fix_to_live_p50_ms / _p99_ms / _max_ms (phase 2, kills
included), cluster_fix_to_live_steady_p50_ms / _p99_ms, and the p99 of the fixes sent within 10 s after
each kill: cluster_fix_to_live_rules_kill_p99_ms, cluster_fix_to_live_api_kill_p99_ms.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from sync_server.cluster.launcher import LocalCluster, fresh_database
from sync_server.cluster.natsd import nats_server_version
from sync_server.cluster.roles import prepare_database
from sync_server.db import utcnow
from sync_server.device_keys import add_gateway, assign_devices
from sync_server.seeder import seed
from sync_server.simulator import Simulator

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres:postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-cluster"
OFFICERS = 4
BATCH = 500
SENDERS = 4
PACE = 0.5  # the failure phase sends at this share of the throughput phase's rate
RESTART_DELAY_S = 1.0  # a supervisor restarting a killed process
#: rules workers standing by to take over a killed one's slot (BENCH_CLUSTER_STANDBYS=0: the killed
#: worker's partitions wait for its restart, for comparison)
RULES_STANDBYS = int(os.environ.get("BENCH_CLUSTER_STANDBYS", "1"))
KILL_WINDOW_S = 10.0  # fixes sent this long after a kill are left out of the steady latency


def _admin_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL") or DEFAULT_ADMIN_URL


class LiveListener:
    """An officer's live client: reads /v1/live, and after a broken stream reconnects to the next API
    worker with Last-Event-ID. Keeps (seq, type, fix key, monotonic receive time) of every event."""

    def __init__(self, cluster: LocalCluster, first_worker: int, token: str, after: int | None = None) -> None:
        self.cluster, self.worker, self.token, self.cursor = cluster, first_worker, token, after
        self.events: list[tuple[int, str, tuple | None, float]] = []
        self.reconnects = 0
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            url = self.cluster.apis[self.worker].url
            headers = {"Authorization": f"Bearer {self.token}"}
            if self.cursor is not None:
                headers["Last-Event-ID"] = str(self.cursor)
            try:
                with httpx.stream("GET", f"{url}/v1/live", headers=headers,
                                  timeout=httpx.Timeout(10, read=10)) as response:
                    for line in response.iter_lines():
                        self.connected.set()
                        if self._stop.is_set():
                            return
                        if line.startswith("data: "):
                            self._event(json.loads(line[6:]))
            except httpx.HTTPError:
                pass
            if self._stop.is_set():
                return
            self.reconnects += 1
            self.worker = (self.worker + 1) % len(self.cluster.apis)
            time.sleep(0.2)

    def _event(self, event: dict) -> None:
        if event["type"] == "heartbeat":
            self.cursor = event["seq"]  # where this stream stands even before its first event
            return
        key = None
        if event["type"] == "fix":
            fix = event["fix"]
            key = (fix["device_id"], datetime.fromisoformat(fix["fix_time"].removesuffix("Z")))
        self.events.append((event["seq"], event["type"], key, time.monotonic()))
        self.cursor = event["seq"]

    def fixes(self) -> int:
        return sum(1 for e in self.events if e[1] == "fix")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=20)


def _query(url: str, sql: str, **params: Any) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def _wait(predicate, timeout_s: float) -> bool:  # noqa: ANN001 - callable
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def _login(api_url: str, officer: int) -> str:
    response = httpx.post(f"{api_url}/v1/auth/token", json={
        "username": f"officer{officer}", "password": PASSWORD, "workstation_id": f"bench-ws-{officer}",
    }, timeout=60)
    response.raise_for_status()
    return response.json()["access_token"]


def _restart_later(process: Any, delay_s: float) -> threading.Thread:
    def restart() -> None:
        time.sleep(delay_s)
        process.start()

    thread = threading.Thread(target=restart, daemon=True)
    thread.start()
    return thread


def run_cluster(rules_workers: int, per_officer: int, flood_rounds: int, paced_rounds: int) -> dict[str, Any]:
    with fresh_database(_admin_url(), "bench_cluster") as url, tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        db = prepare_database(url)
        try:
            device_keys: dict[str, str] = {}
            seed(db, OFFICERS, per_officer, PASSWORD, device_keys=device_keys)
            with db.write() as session:  # one vendor gateway reporting for every device
                key = add_gateway(session, "bench", utcnow())
                assign_devices(session, "bench", device_keys)
            simulator = Simulator(db, None)
            simulator.load()
        finally:
            db.dispose()
        devices = _query(url, "select d.serial, d.id, p.officer_id from device d "
                              "join participant p on p.id = d.participant_id")
        device_of = {serial: device_id for serial, device_id, _ in devices}
        officer_of = {device_id: officer for _, device_id, officer in devices}
        db_version = _query(url, "select version()")[0][0].split(" on ")[0]
        started_at = datetime.now(UTC).replace(tzinfo=None)
        cluster = LocalCluster(url, Path(tmp), receivers=2, rules_workers=rules_workers,
                               rules_standbys=RULES_STANDBYS, api_workers=2, heartbeat_s=1.0)
        with cluster:
            tokens = {f"off{k}": _login(cluster.apis[0].url, k) for k in range(1, OFFICERS + 1)}
            listeners = {officer: LiveListener(cluster, i % 2, token) for i, (officer, token) in
                         enumerate(sorted(tokens.items()))}
            for listener in listeners.values():
                listener.connected.wait(60)
            sent_at: dict[tuple, float] = {}
            lock = threading.Lock()
            acknowledged = [0]

            def send(receiver: str, fixes: list) -> None:
                body = json.dumps({"fixes": [f.model_dump(mode="json", exclude_none=True) for f in fixes]})
                with httpx.Client(timeout=120) as client:
                    while True:
                        began = time.monotonic()
                        response = client.post(f"{receiver}/v1/ingest/fixes", content=body,
                                               headers={"X-Gateway-Key": key, "content-type": "application/json"})
                        if response.status_code == 200:
                            if response.json().get("rejected"):
                                raise RuntimeError(f"receiver rejected fixes: {response.text[:300]}")
                            break
                        if response.status_code != 503:
                            raise RuntimeError(f"receiver refused a batch: {response.text[:200]}")
                        time.sleep(0.5)  # the broker is away: retry, as a gateway does
                with lock:
                    acknowledged[0] += len(fixes)
                    for fix in fixes:
                        sent_at.setdefault((device_of[fix.serial], fix.fix_time.replace(tzinfo=None)), began)

            kills, restarts, kill_times = 0, [], []
            rules_killed_at = time.time()
            sim_start = datetime.now(UTC)
            stored = lambda: _query(url, "select count(*) from position")[0][0]  # noqa: E731

            def round_fixes(r: int) -> list:
                return simulator.fixes(r * 60.0, (r + 1) * 60.0, sim_start + timedelta(minutes=r), datetime.now(UTC))

            cpu_before = _cpu_by_role(cluster)
            first_send = time.monotonic()
            with ThreadPoolExecutor(SENDERS) as pool:
                # 1. throughput: as fast as the receivers take them, no failures, until all are stored
                for r in range(flood_rounds):
                    fixes = round_fixes(r)
                    for future in [pool.submit(send, cluster.receivers[(i // BATCH) % 2].url, fixes[i:i + BATCH])
                                   for i in range(0, len(fixes), BATCH)]:
                        future.result()
                flood_sent = acknowledged[0]
                _wait(lambda: stored() >= flood_sent, 600)
                flood_s = time.monotonic() - first_send
                rate = flood_sent / flood_s
                cpu_after = _cpu_by_role(cluster)
                cpu_s = {role: sum(cpu - cpu_before[role].get(pid, 0.0) for pid, cpu in pids.items())
                         for role, pids in cpu_after.items()}
                standby_ms_per_s = round(cpu_s.pop("rules_standbys") / flood_s * 1000, 1)  # no per-fix work
                cpu_us_per_fix = {role: round(cpu / flood_sent * 1e6, 1) for role, cpu in cpu_s.items()}
                # 2. failures and latency: paced at a share of that rate, SIGKILLs mid-stream
                paced_from = time.monotonic()
                interval = BATCH / (rate * PACE)
                due = time.monotonic()
                futures = []
                for r in range(flood_rounds, flood_rounds + paced_rounds):
                    k = r - flood_rounds
                    if k == int(paced_rounds * 0.3):
                        rules_killed_at = time.time()
                        cluster.rules[0].kill()
                        kills += 1
                        kill_times.append(time.monotonic())
                        restarts.append(_restart_later(cluster.rules[0], RESTART_DELAY_S))
                    if k == int(paced_rounds * 0.6):
                        cluster.apis[0].kill()
                        kills += 1
                        kill_times.append(time.monotonic())
                        restarts.append(_restart_later(cluster.apis[0], RESTART_DELAY_S))
                    fixes = round_fixes(r)
                    for i in range(0, len(fixes), BATCH):
                        time.sleep(max(0.0, due - time.monotonic()))
                        futures.append(pool.submit(send, cluster.receivers[(i // BATCH) % 2].url, fixes[i:i + BATCH]))
                        due += interval
                for future in futures:
                    future.result()
            sent = acknowledged[0]
            stored_all = _wait(lambda: stored() >= sent, 600)
            for thread in restarts:
                thread.join()
            expected = {o: sum(1 for k in sent_at if officer_of[k[0]] == o) for o in listeners}
            _wait(lambda: all(listeners[o].fixes() >= expected[o] for o in listeners), 120)
            for listener in listeners.values():
                listener.close()
            # the broker's whole stream per officer, read from the start on a worker that never died
            full = {o: LiveListener(cluster, 1, tokens[o], after=0) for o in listeners}
            _wait(lambda: all(full[o].fixes() >= expected[o] for o in listeners), 120)
            for listener in full.values():
                listener.close()
            takeover_ms = _takeover_ms(cluster, rules_killed_at)

        stored, distinct = _query(url, "select count(*), count(distinct (device_id, fix_time)) from position")[0]
        stored_keys = set(_query(url, "select device_id, fix_time from position"))
        alerts, distinct_alerts = _query(
            url, "select count(*), count(distinct (device_id, kind, opened_at)) from alert where opened_at >= :t",
            t=started_at - timedelta(minutes=5))[0]
        gaps = repeats = 0
        for officer, listener in listeners.items():
            seen = [e[0] for e in listener.events]
            everything = {e[0] for e in full[officer].events}
            gaps += len(everything - set(seen))
            repeats += len(seen) - len(set(seen))
        paced = [
            (sent_at[e[2]], (e[3] - sent_at[e[2]]) * 1000) for listener in listeners.values() for e in listener.events
            if e[2] is not None and e[2] in sent_at and sent_at[e[2]] >= paced_from
        ]
        latencies = sorted(ms for _, ms in paced)
        steady = sorted(ms for at, ms in paced if not any(0 <= at - k < KILL_WINDOW_S for k in kill_times))
        # fixes sent in the window after each kill (kill_times: the rules worker's, then the API worker's)
        after_kill = [sorted(ms for at, ms in paced if 0 <= at - k < KILL_WINDOW_S) for k in kill_times]
        return {
            "db": db_version, "fixes_sent": sent, "fixes_stored": stored, "all_stored": stored_all,
            "lost": len(set(sent_at) - stored_keys), "duplicated": stored - distinct,
            "alerts": alerts, "alerts_duplicated": alerts - distinct_alerts,
            "live_gaps": gaps, "live_repeats": repeats, "live_fixes_timed": len(latencies),
            "live_reconnects": sum(listener.reconnects for listener in listeners.values()),
            **{f"{role}_cpu_us_per_fix": us for role, us in cpu_us_per_fix.items()},
            "rules_standbys_cpu_ms_per_s": standby_ms_per_s,
            "worker_kills": kills, "rules_takeover_ms": takeover_ms, "fixes_per_s": round(rate), "paced_fixes_per_s": round(rate * PACE),
            "fix_to_live_p50_ms": _percentile(latencies, 0.5), "fix_to_live_p99_ms": _percentile(latencies, 0.99),
            "fix_to_live_max_ms": _percentile(latencies, 1.0),
            "fix_to_live_steady_p50_ms": _percentile(steady, 0.5),
            "fix_to_live_steady_p99_ms": _percentile(steady, 0.99),
            "fix_to_live_rules_kill_p99_ms": _percentile(after_kill[0], 0.99),
            "fix_to_live_api_kill_p99_ms": _percentile(after_kill[1], 0.99),
        }


def _takeover_ms(cluster: LocalCluster, killed_at: float) -> int | None:
    """From the SIGKILL of rules worker 0 to a worker holding its slot again: the standby, or without
    one the restarted worker (the slot in their ready or `rules_slot` lines)."""
    taken = []
    for process in cluster.rules:
        for line in process.log_path.read_text(errors="replace").splitlines():
            if line.startswith('{"rules_slot"') or line.startswith('{"role": "rules"'):
                value = json.loads(line)
                state = value.get("rules_slot", value)
                if state.get("slot") == 0 and state.get("at", 0) >= killed_at:
                    taken.append(state["at"])
    return round((min(taken) - killed_at) * 1000) if taken else None


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_by_role(cluster: LocalCluster) -> dict[str, dict[int, float]]:
    """CPU seconds used so far by each process of the cluster, by kind; for PostgreSQL, by the server
    processes serving its database (the workers' pooled connections)."""
    workers = cluster.counts["rules"]
    out = {
        name: {p.process.pid: _cpu_seconds(p.process.pid) for p in processes}
        for name, processes in (("receivers", cluster.receivers), ("rules_workers", cluster.rules[:workers]),
                                ("rules_standbys", cluster.rules[workers:]), ("api_workers", cluster.apis))
    }
    out["broker"] = {cluster.nats.process.pid: _cpu_seconds(cluster.nats.process.pid)}
    backends = _query(cluster.db_url, "select pid from pg_stat_activity where datname = current_database() "
                                      "and pid <> pg_backend_pid()")
    out["postgres"] = {pid: _cpu_seconds(pid) for (pid,) in backends if Path(f"/proc/{pid}").exists()}
    return out


def _percentile(ordered: list[float], q: float) -> int | None:
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))]) if ordered else None


def run(quick: bool = False) -> dict[str, Any]:
    per_officer, flood_rounds, paced_rounds = (250, 2, 4) if quick else (1250, 8, 12)
    out: dict[str, Any] = {
        "cluster_broker": nats_server_version().replace("nats-server: ", "nats-server ") + " (JetStream)",
        "cluster_receivers": 2, "cluster_api_workers": 2, "cluster_rules_standbys": RULES_STANDBYS,
    }
    two = run_cluster(2, per_officer, flood_rounds, paced_rounds)
    one = run_cluster(1, per_officer, flood_rounds, paced_rounds)
    out["cluster_db"] = two.pop("db")
    out["cluster_rules_workers"] = 2
    out.update({f"cluster_{k}": v for k, v in two.items()})
    one.pop("db")
    out.update({f"cluster_1w_{k}": v for k, v in one.items()})
    return out
