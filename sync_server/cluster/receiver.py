"""Cluster receivers: the all-in-one server's ingestion routes (create_app(serve="ingest")) with a sink
that publishes to JetStream instead of writing the database.

On the request path a receiver only authenticates and validates (the same checks as the all-in-one
server: the device and gateway keys held by create_app's KeyRing, the protocol models, the OsmAnd
parser, sync_server.ingest.screen_fixes, known devices) and publishes one FIXES message per device
partition of the request's acceptable fixes. It answers 200 only after JetStream
acknowledged every one of them (stored on disk); if the broker cannot, the answer is 503 and the
client retries (the message ids are derived from the fixes, so a retry of what the broker did store
is dropped as a duplicate). What validation needs from the database (the keys, the known serials) is
held in memory and refreshed in the background, never read while a request waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import datetime

import nats.errors
from sqlalchemy import select

from sync_server.app import ServerError
from sync_server.cluster import broker
from sync_server.db import Database, utcnow
from sync_server.ingest import ACCEPTED, DEFAULT_BOUNDS, Bounds, refused, screen_fixes
from sync_server.models import Device
from sync_server.osmand import Contact
from workstation.protocol import FixOutcome, GatewayFix, IngestResult

log = logging.getLogger("sync_server.cluster.receiver")


class BrokerIngest:
    def __init__(
        self, db: Database, nats_url: str, partitions: int = broker.DEFAULT_PARTITIONS,
        refresh_s: float = 30.0, publish_timeout_s: float = 5.0, bounds: Bounds = DEFAULT_BOUNDS,
    ) -> None:
        self.db, self.nats_url, self.partitions = db, nats_url, partitions
        self.refresh_s, self.publish_timeout_s, self.bounds = refresh_s, publish_timeout_s, bounds
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
        self.serials = await asyncio.to_thread(self._load)

    def _load(self) -> frozenset[str]:
        with self.db.read() as session:
            return frozenset(session.scalars(select(Device.serial)))

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - keep serving with what is held; try again next round
                log.exception("could not refresh keys and devices")

    async def ping(self, fix: GatewayFix, via: str) -> FixOutcome:
        return (await self.batch([fix], via)).results[0]

    async def batch(self, items: list[GatewayFix | FixOutcome], via: str) -> IngestResult:
        """Publish the acceptable fixes; each fix answered on its own. Alerts are raised (and a resent
        duplicate recognised) by the rules workers after this answer."""
        received_at = utcnow()
        outcomes = [item if isinstance(item, FixOutcome) else ACCEPTED for item in items]
        candidates = []
        for i, item in enumerate(items):
            if isinstance(item, GatewayFix):
                if item.serial in self.serials:
                    candidates.append((i, item))
                else:
                    outcomes[i] = refused("unknown_device", f"unknown device serial {item.serial[:64]}")
        timed, _ = screen_fixes(candidates, received_at, via, self.bounds, outcomes)
        if timed:
            await self.publish([t.fix for t in timed], received_at, via)
        rejected = sum(1 for o in outcomes if o.status == "rejected")
        return IngestResult(accepted=len(items) - rejected, alerts_raised=0, rejected=rejected, results=outcomes)

    async def contact(self, contact: Contact) -> None:
        """A position-less ping, published like fixes (the rules worker records the contact)."""
        if contact.serial not in self.serials:
            raise ServerError(422, "unknown_device", f"unknown device serial {contact.serial[:64]}")
        ping = broker.ContactPing(serial=contact.serial, battery_pct=contact.battery_pct, charging=contact.charging)
        body, msg_id = broker.encode_contact(ping, utcnow())
        await self._publish_all([(broker.partition_of(contact.serial, self.partitions), body, msg_id)], "ping")

    async def unavailable(self) -> str | None:
        return None if self._nc is not None and self._nc.is_connected else "broker_unavailable"

    async def publish(self, fixes: list[GatewayFix], received_at: datetime, via: str) -> None:
        groups: dict[int, list[GatewayFix]] = defaultdict(list)
        for fix in fixes:
            groups[broker.partition_of(fix.serial, self.partitions)].append(fix)
        messages = []
        for partition, group in groups.items():
            body, msg_id = broker.encode_fixes(group, received_at, via)
            messages.append((partition, body, msg_id))
        await self._publish_all(messages, "fixes")

    async def _publish_all(self, messages: list[tuple[int, bytes, str]], what: str) -> None:
        """Publish (partition, body, message id) messages; returns once JetStream stored every one."""
        js = self._js
        if js is None:
            raise ServerError(503, "broker_unavailable", "the broker is not reachable; retry later")
        publishes = [
            js.publish(broker.fix_subject(partition), body, timeout=self.publish_timeout_s, headers={broker.MSG_ID: msg_id})
            for partition, body, msg_id in messages
        ]
        try:
            await asyncio.gather(*publishes)
        except (nats.errors.Error, TimeoutError) as exc:
            raise ServerError(
                503, "broker_unavailable", f"the broker did not store the {what} ({type(exc).__name__}); retry"
            ) from None
