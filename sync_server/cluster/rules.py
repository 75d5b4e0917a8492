"""Cluster rules workers: apply FIXES messages to PostgreSQL with the all-in-one server's rules and
storage code (sync_server.ingest.apply_fixes), exactly once, in per-device order.

A cluster runs `count` workers' worth of slots (sync_server.cluster.slots): slot s owns the partitions
p with p % count == s, and a worker holds at most one slot, taking `index` first if it is free, else any
free one; with every slot held it stands by, and takes over the slot of a worker that dies within
slots.POLL_S of its PostgreSQL session ending (a killed process's session ends with it). The holder reads
its partitions through one durable JetStream consumer filtered on them. Each round takes what is waiting
(up to `max_messages`) and applies it in one transaction: positions (COPY), device state, change-feed
rows and alerts, plus a `cluster_applied` row per message id and the round's live events in
`cluster_outbox`, after checking that the slot is still this worker's (fencing). Only after the commit
does it publish the live events and acknowledge the messages.

Exactly once through a crash (SIGKILL at any point): what committed is recorded with its message ids,
so a redelivered message is skipped; the database, not the consumer, is the position of record: at
start the worker re-creates its consumer at the sequence after the highest one it applied per partition,
so messages are never applied out of order, and it first publishes any outbox left by a crash between
commit and publish (the broker drops the copies it already stored: live messages have fixed ids).

Device state (last fix, rule memory, officer) is held in memory for the devices of the held slot,
loaded from the database on a device's first fix; nothing else writes those columns but the slot's
holder (a new holder starts with none).
Zones come from the shared ZoneCache (one counter read per round; zone edits invalidate it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import nats.errors
import zstandard
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from sync_server.changes import live_incident_events
from sync_server.cluster import broker
from sync_server.cluster.slots import Fenced, SlotLease, owned_partitions
from sync_server.db import Database, utcnow
from sync_server.ingest import IngestError, apply_contact, apply_fixes, load_devices, order_fixes
from sync_server.models import ClusterApplied, ClusterOutbox
from sync_server.rawsql import Raw

log = logging.getLogger("sync_server.cluster.rules")
_OFFICERS = (
    "SELECT d.serial, p.officer_id FROM device d JOIN participant p ON p.id = d.participant_id "
    "WHERE d.serial IN ({})"
)
_PRUNE = (
    "DELETE FROM cluster_applied WHERE applied_at < ? AND stream_seq < "
    "(SELECT max(b.stream_seq) FROM cluster_applied b WHERE b.partition = cluster_applied.partition)"
)
PRUNE_EVERY_S = 600

#: test hook: SIGKILL this process right after its Nth commit, before it publishes or acknowledges
CRASH_AFTER_COMMIT_ENV = "SYNC_SERVER_CRASH_AFTER_COMMIT"


@dataclass
class _Message:
    msg_id: str
    partition: int
    stream_seq: int
    batch: broker.FixBatch


class RulesWorker:
    def __init__(
        self, db: Database, nats_url: str, index: int = 0, count: int = 1,
        partitions: int = broker.DEFAULT_PARTITIONS, max_messages: int = 256,
    ) -> None:
        if not 0 <= index < count <= partitions:
            raise ValueError("need 0 <= index < count <= partitions")
        self.db, self.nats_url, self.max_messages = db, nats_url, max_messages
        self.index, self.count, self.partitions = index, count, partitions
        self.lease = SlotLease(db, count)
        self.owned = owned_partitions(index, count, partitions)  # of the slot held (taken first: index)
        self.devices: dict[str, Any] = {}
        self.offsets: dict[int, int] = {}
        self.commits = 0
        self.fixes_applied = 0
        crash = os.environ.get(CRASH_AFTER_COMMIT_ENV)
        self._crash_after = int(crash) if crash else None
        self._zstd = zstandard.ZstdCompressor(level=1)

    def _slot_prefix(self, slot: int | None) -> str:
        return f"rules-{slot}-of-{self.count}"

    @property
    def consumer_name(self) -> str:
        """Per holding (slot and epoch): a worker that lost its slot acknowledges into a consumer that
        is gone, never into its successor's."""
        return f"{self._slot_prefix(self.lease.slot)}-e{self.lease.epoch}"

    def state(self) -> dict[str, Any]:
        held = self.lease.slot is not None
        return {"slot": self.lease.slot, "epoch": self.lease.epoch if held else None,
                "partitions": self.owned if held else [], "at": round(time.time(), 3)}

    async def run(self, stop: asyncio.Event, report: Callable[[dict[str, Any]], None] = lambda _: None) -> None:
        """Hold a slot and apply its partitions, or stand by until one is free; `report` gets this
        worker's state after the first attempt and at every change of slot."""
        nc = await broker.connect(self.nats_url, f"rules-{self.index}-of-{self.count}")
        halt = threading.Event()  # `stop`, for the thread waiting for a slot
        halting = asyncio.create_task(stop.wait())
        halting.add_done_callback(lambda _: halt.set())
        try:
            js = nc.jetstream()
            while not stop.is_set():
                slot = await asyncio.to_thread(self.lease.wait_for_slot, self.index, halt,
                                               lambda: report(self.state()))
                if slot is None:
                    continue
                self.owned = owned_partitions(slot, self.count, self.partitions)
                self.devices.clear()
                report(self.state())
                try:
                    await self._hold(js, stop)
                except Fenced as exc:  # another worker holds the slot now: stand by
                    log.warning("lost the slot: %s", exc)
                finally:
                    self.devices.clear()
                    self.lease.release()
        finally:
            halting.cancel()
            self.lease.release()
            await nc.close()

    async def _hold(self, js: Any, stop: asyncio.Event) -> None:
        pruned = time.monotonic()
        while not stop.is_set():
            try:
                await self._consume(js, stop)
            except (nats.errors.Error, TimeoutError) as exc:
                # The broker went away mid-round (what committed is in the database, its live
                # events in the outbox): start over from the database's position once it is back.
                log.warning("broker error (%s); resuming from the applied positions", type(exc).__name__)
                await asyncio.sleep(1.0)
            if time.monotonic() - pruned > PRUNE_EVERY_S:
                await asyncio.to_thread(self._prune)
                pruned = time.monotonic()

    async def _consume(self, js: Any, stop: asyncio.Event) -> None:
        """Consume from the applied positions until `stop`, or for PRUNE_EVERY_S (pruning is due)."""
        await broker.ensure_streams(js)
        self.offsets = await asyncio.to_thread(self._load_offsets)  # also: is the slot still ours?
        await self._flush_outbox(js)
        subscription = await self._bind(js)
        until = time.monotonic() + PRUNE_EVERY_S
        while not stop.is_set() and time.monotonic() < until:
            try:
                messages = await subscription.fetch(self.max_messages, timeout=0.5)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            if messages:
                await self._round(js, messages)

    async def _bind(self, js: Any) -> Any:
        """(Re)create the slot's durable consumer at the database's position: after a crash the broker's
        own position may be ahead of what committed, or behind it. Consumers of earlier holdings of the
        slot go."""
        prefix = self._slot_prefix(self.lease.slot)
        for info in await js.consumers_info(broker.FIX_STREAM):
            if info.name == prefix or info.name.startswith(prefix + "-"):
                with contextlib.suppress(NotFoundError):
                    await js.delete_consumer(broker.FIX_STREAM, info.name)
        start = min(self.offsets.get(p, 0) for p in self.owned) + 1
        await js.add_consumer(broker.FIX_STREAM, ConsumerConfig(
            durable_name=self.consumer_name,
            filter_subjects=[broker.fix_subject(p) for p in self.owned],
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
            ack_policy=AckPolicy.ALL, ack_wait=300, max_ack_pending=-1,
        ))
        return await js.pull_subscribe_bind(durable=self.consumer_name, stream=broker.FIX_STREAM)

    async def _round(self, js: Any, messages: list[Any]) -> None:
        decoded = [m for m in map(self._decode, messages) if m is not None]
        outbox = await asyncio.to_thread(self._apply, decoded) if decoded else None
        if outbox is not None:
            self.commits += 1
            if self._crash_after is not None and self.commits >= self._crash_after:
                os.kill(os.getpid(), signal.SIGKILL)
            await self._publish(js, *outbox)
            await asyncio.to_thread(self._clear_outbox, outbox[0])
        await messages[-1].ack()  # AckPolicy.ALL: acknowledges the whole round

    def _decode(self, message: Any) -> _Message | None:
        partition = broker.partition_of_subject(message.subject)
        seq = message.metadata.sequence.stream
        if seq <= self.offsets.get(partition, 0):
            return None  # applied before a restart
        msg_id = (message.headers or {}).get(broker.MSG_ID) or f"seq-{seq}"
        try:
            batch = broker.decode_fixes(message.data)
        except ValidationError:
            log.error("FIXES message %s (seq %d) is not a fix batch; skipped", msg_id, seq)
            batch = broker.FixBatch(received_at=utcnow(), fixes=[])
        return _Message(msg_id, partition, seq, batch)

    def _load_offsets(self) -> dict[int, int]:
        with self.db.read() as session:
            if self.lease.slot is not None:
                self.lease.check(session)
            rows = session.execute(
                select(ClusterApplied.partition, func.max(ClusterApplied.stream_seq))
                .where(ClusterApplied.partition.in_(self.owned))
                .group_by(ClusterApplied.partition)
            ).all()
        return {p: seq for p, seq in rows}

    def _apply(self, messages: list[_Message]) -> tuple[str, list[tuple[str, list[str]]]] | None:
        """One transaction for the round; returns (outbox id, live events by officer) or None."""
        try:
            return self._apply_once(messages)
        except BaseException:
            self.devices.clear()  # rolled back: the state in memory may be ahead of the database
            raise

    def _apply_once(self, messages: list[_Message]) -> tuple[str, list[tuple[str, list[str]]]] | None:
        now = utcnow()
        with self.db.write() as session:
            self.lease.check(session)
            ids = list({m.msg_id for m in messages})
            done = set(session.scalars(select(ClusterApplied.msg_id).where(ClusterApplied.msg_id.in_(ids))))
            fresh: list[_Message] = []
            for m in messages:
                if m.msg_id not in done:
                    done.add(m.msg_id)
                    fresh.append(m)
            if not fresh:
                return None
            raw = Raw(session)
            timed = []
            for m in fresh:
                try:
                    timed.extend(order_fixes(m.batch.fixes, m.batch.received_at, m.batch.via))
                except IngestError as exc:  # the receiver ran the same check: only a forged message
                    log.error("FIXES message %s refused: %s", m.msg_id, exc.detail)
            serials = {t.fix.serial for t in timed}
            self._load_missing(raw, serials)
            self._follow_reassignments(raw, serials)
            kept = [t for t in timed if t[1].serial in self.devices]
            if len(kept) < len(timed):
                log.error("%d fixes of unknown devices dropped", len(timed) - len(kept))
            kept.sort(key=lambda t: t[0])
            live: dict[str, list[str]] = defaultdict(list)
            if kept:
                devices = {t[1].serial: self.devices[t[1].serial] for t in kept}
                applied = apply_fixes(session, raw, devices, self.db.zone_cache, kept, live=True,
                                      response_times=self.db.response_times, curfew_grace=self.db.curfew_grace)
                for officer_id, body in applied.live:
                    live[officer_id].append(body if isinstance(body, str) else body())
            self._apply_contacts(session, raw, fresh)
            for officer_id, body in live_incident_events(session):  # what the contacts cleared
                live[officer_id].append(body)
            session.add_all(
                ClusterApplied(msg_id=m.msg_id, partition=m.partition, stream_seq=m.stream_seq, applied_at=now)
                for m in fresh
            )
            outbox_id = fresh[-1].msg_id
            events = sorted(live.items())
            session.add(ClusterOutbox(
                batch_id=outbox_id, created_at=now,
                payload=self._zstd.compress(json.dumps(events, separators=(",", ":")).encode()),
            ))
        for m in fresh:
            self.offsets[m.partition] = max(self.offsets.get(m.partition, 0), m.stream_seq)
        self.fixes_applied += len(kept)
        return outbox_id, events

    def _apply_contacts(self, session: Session, raw: Raw, messages: list[_Message]) -> None:
        """Position-less pings of the round, after its fixes: contact, power and what they clear."""
        contacts = [(m.batch.received_at, c) for m in messages for c in m.batch.contacts]
        if not contacts:
            return
        self._load_missing(raw, {c.serial for _, c in contacts})
        for received_at, contact in contacts:
            dev = self.devices.get(contact.serial)
            if dev is None:
                log.error("contact of unknown device %s dropped", contact.serial[:64])
                continue
            apply_contact(session, raw, dev, contact.battery_pct, contact.charging, received_at,
                          self.db.response_times)

    def _load_missing(self, raw: Raw, serials: set[str]) -> None:
        missing = [s for s in serials if s not in self.devices]
        if missing:
            self.devices.update(load_devices(raw, missing))

    def _follow_reassignments(self, raw: Raw, serials: set[str]) -> None:
        """A participant moved to another officer since its device was loaded: its feed rows and live
        events follow the participant (one indexed read per round, not a reload of the state)."""
        known = [s for s in serials if s in self.devices]
        for start in range(0, len(known), 5000):
            part = known[start:start + 5000]
            for serial, officer_id in raw.fetchall(_OFFICERS.format(raw.placeholders(len(part))), part):
                self.devices[serial].officer_id = officer_id

    def _prune(self) -> None:
        """Forget applied message ids older than the stream keeps messages (the newest per partition
        stays: it is where the worker resumes)."""
        cutoff = utcnow() - timedelta(seconds=broker.FIX_RETENTION_S)
        with self.db.write() as session:
            Raw(session).executemany(_PRUNE, [(cutoff,)])

    async def _publish(self, js: Any, outbox_id: str, events: list[tuple[str, list[str]]]) -> None:
        publishes = []
        for officer_id, bodies in events:
            for first, data in broker.live_messages(bodies):
                publishes.append(js.publish(
                    broker.live_subject(officer_id), data,
                    headers={broker.MSG_ID: f"{outbox_id}:{officer_id}:{first}"}, timeout=30,
                ))
        await asyncio.gather(*publishes)

    def _clear_outbox(self, outbox_id: str) -> None:
        with self.db.write() as session:
            session.execute(delete(ClusterOutbox).where(ClusterOutbox.batch_id == outbox_id))

    async def _flush_outbox(self, js: Any) -> None:
        """Live events committed by a run that died before publishing them (any worker's: the copies
        the broker already has are dropped by their ids)."""
        rows = await asyncio.to_thread(self._outbox_rows)
        decompress = zstandard.ZstdDecompressor().decompress
        for batch_id, payload in rows:
            await self._publish(js, batch_id, [tuple(e) for e in json.loads(decompress(payload))])
            await asyncio.to_thread(self._clear_outbox, batch_id)
        if rows:
            log.warning("published the live events of %d rounds left by a crash", len(rows))

    def _outbox_rows(self) -> list[tuple[str, bytes]]:
        with self.db.read() as session:
            return [tuple(r) for r in session.execute(
                select(ClusterOutbox.batch_id, ClusterOutbox.payload).order_by(ClusterOutbox.created_at)
            )]


def run_worker(worker: RulesWorker, stop_signal: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (the process roles) or until `stop_signal` is set."""

    async def main() -> None:
        stop = stop_signal or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        started = time.monotonic()
        reported = [0]

        def report(state: dict[str, Any]) -> None:
            # the first line is the ready line (the slot taken, or standing by); then each change
            print(json.dumps({"role": "rules", **state} if not reported[0] else {"rules_slot": state}), flush=True)
            reported[0] += 1

        await worker.run(stop, report)
        print(json.dumps({"stopped": f"rules-{worker.index}-of-{worker.count}", "fixes_applied": worker.fixes_applied,
                          "seconds": round(time.monotonic() - started, 1)}), flush=True)

    asyncio.run(main())
