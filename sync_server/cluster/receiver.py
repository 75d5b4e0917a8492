"""Cluster receivers: the all-in-one server's ingestion routes (create_app(serve="ingest")) with a sink
that publishes to JetStream instead of writing the database.

On the request path a receiver only validates (the same checks as the all-in-one server: the protocol
models, the OsmAnd parser, sync_server.ingest.order_fixes, known devices, the gateway key) and
publishes one FIXES message per device partition of the request. It answers 200 only after JetStream
acknowledged every one of them (stored on disk); if the broker cannot, the answer is 503 and the
client retries (the message ids are derived from the fixes, so a retry of what the broker did store
is dropped as a duplicate). What validation needs from the database (the gateway key, the known
serials) is held in memory and refreshed in the background, never read while a request waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections import defaultdict

import nats.errors
from sqlalchemy import select

from sync_server.app import ServerError
from sync_server.cluster import broker
from sync_server.db import Database, utcnow
from sync_server.ingest import IngestError, order_fixes
from sync_server.models import Device
from workstation.protocol import GatewayFix, IngestResult

log = logging.getLogger("sync_server.cluster.receiver")


class BrokerIngest:
    def __init__(
        self, db: Database, nats_url: str, partitions: int = broker.DEFAULT_PARTITIONS,
        refresh_s: float = 30.0, publish_timeout_s: float = 5.0,
    ) -> None:
        self.db, self.nats_url, self.partitions = db, nats_url, partitions
        self.refresh_s, self.publish_timeout_s = refresh_s, publish_timeout_s
        self.gateway_key: str | None = None
        self.serials: frozenset[str] = frozenset()
        self._nc: nats.NATS | None = None
        self._js = None
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        await self.refresh()
        self._tasks = [asyncio.create_task(self._connect()), asyncio.create_task(self._refresh_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._nc is not None:
            await self._nc.close()

    async def _connect(self) -> None:
        """Until the broker answers: a receiver started before its broker refuses fixes meanwhile."""
        while True:
            try:
                # pending_size=0: while disconnected a publish fails at once instead of waiting in a
                # buffer that is sent on reconnection, after the client was already told 503
                nc = await broker.connect(self.nats_url, "receiver", pending_size=0)
                js = nc.jetstream()
                await broker.ensure_streams(js)
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.warning("broker not reachable yet (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            self._nc, self._js = nc, js
            return

    async def refresh(self) -> None:
        self.gateway_key, self.serials = await asyncio.to_thread(self._load)

    def _load(self) -> tuple[str | None, frozenset[str]]:
        with self.db.read() as session:
            serials = frozenset(session.scalars(select(Device.serial)))
        return self.db.setting("gateway_key"), serials

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - keep serving with what is held; try again next round
                log.exception("could not refresh keys and devices")

    def check_gateway_key(self, given: str | None) -> None:
        expected = self.gateway_key
        if not given or expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ServerError(401, "invalid_key", "missing or wrong X-Gateway-Key")

    async def ping(self, fix: GatewayFix) -> None:
        await self.publish([fix])

    async def batch(self, fixes: list[GatewayFix]) -> IngestResult:
        await self.publish(fixes)
        # alerts are raised by the rules workers after this answer
        return IngestResult(accepted=len(fixes), alerts_raised=0)

    async def unavailable(self) -> str | None:
        return None if self._nc is not None and self._nc.is_connected else "broker_unavailable"

    async def publish(self, fixes: list[GatewayFix]) -> None:
        received_at = utcnow()
        order_fixes(fixes, received_at)
        unknown = sorted({f.serial for f in fixes} - self.serials)
        if unknown:
            raise IngestError(422, "unknown_device", "unknown device serial(s): " + ", ".join(unknown[:10]))
        js = self._js
        if js is None:
            raise ServerError(503, "broker_unavailable", "the broker is not reachable; retry later")
        groups: dict[int, list[GatewayFix]] = defaultdict(list)
        for fix in fixes:
            groups[broker.partition_of(fix.serial, self.partitions)].append(fix)
        publishes = []
        for partition, group in groups.items():
            body, msg_id = broker.encode_fixes(group, received_at)
            publishes.append(js.publish(
                broker.fix_subject(partition), body, timeout=self.publish_timeout_s, headers={broker.MSG_ID: msg_id},
            ))
        try:
            await asyncio.gather(*publishes)
        except (nats.errors.Error, TimeoutError) as exc:
            raise ServerError(
                503, "broker_unavailable", f"the broker did not store the fixes ({type(exc).__name__}); retry"
            ) from None
