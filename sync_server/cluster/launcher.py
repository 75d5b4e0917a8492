"""A whole cluster on one machine: nats-server, receivers, rules workers and API workers as separate
processes on loopback ports, for a developer (`make cluster`), the cluster tests and `bench cluster`.

    python -m sync_server.cluster.launcher --db URL [--create-db] [--seed --officers N --caseload M
        --password P] [--receivers 2] [--rules-workers 2] [--rules-standbys 1] [--api-workers 2] [--partitions 16]

Clients use the printed ports directly (no proxy): trackers and gateways any receiver, workstations any
API worker; each worker is stateless, so a client may switch to another one at any time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sync_server.agency import add_agency_arguments, agency_settings
from sync_server.cluster import broker
from sync_server.cluster.natsd import NatsServer
from sync_server.cluster.roles import prepare_database


class RoleProcess:
    """One role process, its output in a log file; start() returns once it printed its ready line."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.log_path, self.env = name, argv, log_path, env
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        self.starts = 0

    def start(self, timeout_s: float = 60.0, env: dict[str, str] | None = None) -> RoleProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {}), **(env or {})},
            )
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while True:
            ready = self._ready_line(offset)
            if ready is not None:
                self.url = ready.get("listening")
                return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.kill()
                raise RuntimeError(f"{self.name} did not start:\n{tail}")
            time.sleep(0.05)

    def _ready_line(self, offset: int) -> dict | None:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            for line in log.read().decode(errors="replace").splitlines():
                if line.startswith("{"):
                    try:
                        value = json.loads(line)
                    except ValueError:
                        continue
                    if "listening" in value or value.get("role") == "rules":
                        return value
        return None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up runs, as in a crash."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        elif self.process is not None:
            self.process.wait(timeout=5)

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} at {self.url} is not healthy")
            time.sleep(0.1)


class LocalCluster:
    def __init__(
        self, db_url: str, workdir: Path, *, receivers: int = 2, rules_workers: int = 2, rules_standbys: int = 0,
        api_workers: int = 2, partitions: int = broker.DEFAULT_PARTITIONS, heartbeat_s: float = 10.0,
        watchdog_s: float | None = None, response_times: str | None = None, curfew_grace: str | None = None,
    ) -> None:
        self.db_url, self.workdir = db_url, Path(workdir)
        # the agency's response deadlines (sync-server --response-times form), for every rules and API worker
        self.response_times = response_times
        self.curfew_grace = curfew_grace  # minutes, for every rules worker
        self.partitions, self.heartbeat_s, self.watchdog_s = partitions, heartbeat_s, watchdog_s
        self.counts = {"receive": receivers, "rules": rules_workers, "api": api_workers}
        self.rules_standbys = rules_standbys
        self.nats = NatsServer(self.workdir / "nats")
        self.receivers: list[RoleProcess] = []
        self.rules: list[RoleProcess] = []
        self.apis: list[RoleProcess] = []

    def _role(self, role: str, index: int, extra: list[str]) -> RoleProcess:
        argv = [sys.executable, "-m", "sync_server", role, "--db", self.db_url, "--nats", self.nats.url,
                "--partitions", str(self.partitions), *extra]
        if self.response_times and role in ("rules", "api"):
            argv += ["--response-times", self.response_times]
        if self.curfew_grace and role == "rules":
            argv += ["--curfew-grace", self.curfew_grace]
        return RoleProcess(f"{role}-{index}", argv, self.workdir / f"{role}-{index}.log")

    def start(self) -> LocalCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.nats.start()
        try:
            prepare_database(self.db_url).dispose()
            # rules-0 .. rules-(N-1) take slots 0 .. N-1 (started in turn, each ready once it holds
            # its slot); the standbys after them find every slot held and wait for one to free up
            count = self.counts["rules"]
            self.rules = [
                self._role("rules", i, ["--index", str(i % count), "--count", str(count)])
                for i in range(count + self.rules_standbys)
            ]
            self.receivers = [self._role("receive", i, []) for i in range(self.counts["receive"])]
            self.apis = [
                self._role("api", i, ["--heartbeat", str(self.heartbeat_s)]
                           + (["--watchdog", str(self.watchdog_s)] if self.watchdog_s and i == 0 else []))
                for i in range(self.counts["api"])
            ]
            for process in self.processes:
                process.start()
            for process in self.receivers + self.apis:
                process.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def processes(self) -> list[RoleProcess]:
        return self.rules + self.receivers + self.apis

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.nats.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def describe(self) -> dict:
        return {
            "nats": self.nats.url, "db": make_url(self.db_url).render_as_string(hide_password=True),
            "receivers": [p.url for p in self.receivers], "api_workers": [p.url for p in self.apis],
            "rules_workers": [p.name for p in self.rules[:self.counts["rules"]]],
            "rules_standbys": [p.name for p in self.rules[self.counts["rules"]:]], "logs": str(self.workdir),
        }


def create_database(url: str) -> None:
    """Create the PostgreSQL database of `url` if it does not exist."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        admin.dispose()


@contextlib.contextmanager
def fresh_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `admin_url`, dropped afterwards (tests, bench)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sync_server.cluster.launcher", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", required=True, help="PostgreSQL URL")
    p.add_argument("--create-db", action="store_true", help="create the database if it does not exist")
    p.add_argument("--seed", action="store_true")
    p.add_argument("--officers", type=int, default=2)
    p.add_argument("--caseload", type=int, default=50)
    p.add_argument("--password", default=None)
    p.add_argument("--device-credentials", default=None, metavar="FILE",
                   help="with --seed: write serial,key of every seeded device (CSV)")
    p.add_argument("--receivers", type=int, default=2)
    p.add_argument("--rules-workers", type=int, default=2)
    p.add_argument("--rules-standbys", type=int, default=1,
                   help="rules workers that take over a dead worker's partitions at once")
    p.add_argument("--api-workers", type=int, default=2)
    p.add_argument("--partitions", type=int, default=broker.DEFAULT_PARTITIONS)
    p.add_argument("--workdir", default=None, help="logs and the broker's store (default: a temporary directory)")
    add_agency_arguments(p)  # passed on to the rules and API workers
    args = p.parse_args(argv)
    if args.seed and not args.password:
        p.error("--seed needs --password")
    try:
        agency_settings(args)  # a bad value is refused here, not by each worker after the start
    except ValueError as exc:
        p.error(str(exc))
    if args.create_db:
        create_database(args.db)
    if args.seed:
        from sync_server.db import utcnow
        from sync_server.device_keys import add_gateway, assign_devices
        from sync_server.seeder import seed

        db = prepare_database(args.db)
        try:
            device_keys: dict[str, str] = {}
            summary = seed(db, args.officers, args.caseload, args.password, device_keys=device_keys)
            with db.write() as session:  # a gateway a developer can post batches with, for every device
                gateway_key = add_gateway(session, "cluster", utcnow())
                assign_devices(session, "cluster", device_keys)
            print(json.dumps({"seeded": summary, "gateway": "cluster", "gateway_key": gateway_key,
                              "device_keys": len(device_keys)}, default=str), flush=True)
            if args.device_credentials:  # `serial,key` lines for trackers (OsmAnd, Traccar Client)
                Path(args.device_credentials).write_text(
                    "serial,key\n" + "".join(f"{s},{k}\n" for s, k in sorted(device_keys.items())))
        finally:
            db.dispose()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="sync-cluster-") as tmp:
        cluster = LocalCluster(
            args.db, Path(args.workdir or tmp), receivers=args.receivers, rules_workers=args.rules_workers,
            rules_standbys=args.rules_standbys, api_workers=args.api_workers, partitions=args.partitions, watchdog_s=30.0,
            response_times=args.response_times, curfew_grace=args.curfew_grace,
        )
        with cluster:
            print(json.dumps({"cluster": cluster.describe()}), flush=True)
            while not stop.wait(1.0):
                for process in cluster.processes:
                    if not process.alive:  # a supervisor's job in production (systemd, Kubernetes)
                        print(json.dumps({"restarting": process.name}), flush=True)
                        process.start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
