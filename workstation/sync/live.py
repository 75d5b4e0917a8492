"""Live feed client: Server-Sent Events from /v1/live into the store, in coalesced batches.

A background thread reads the stream, validates each event (protocol.LiveEvent; an invalid
event is logged and skipped, it never stops the feed), and every `flush_interval_s` writes what
arrived in ONE transaction: the latest fix per device (a Position row plus the device's last_*
columns, which only move forward in time), device status, alerts, and the resume point
(SyncState.live_seq). Listeners then get the batch's `Changes` with the values it applied (each
device's new fix and status as a LiveFix, each alert as an AlertFact), so the map and the tables
update those rows from the values, without reading the store again. A dropped connection is retried with backoff and resumes with
`?after=<live_seq>`; events of devices or participants not (yet) in the local caseload are
skipped (the next pull brings them). Positions older than `retention_days` are purged at start
and then hourly.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, cast

import httpx
from httpx_sse import EventSource, SSEError
from psygnal import EmitLoopError, Signal
from pydantic import ValidationError
from sqlalchemy import CursorResult, and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from local_db.models import Alert, Device, Incident, Participant, Position, SyncState
from local_db.store import Store
from workstation import protocol as p
from workstation.changes import Changes, LiveFix
from workstation.incidents import AlertFact
from workstation.sync.apply import SYNC_STATE_ID, sync_state
from workstation.sync.backoff import Backoff
from workstation.sync.errors import AuthRequired, SyncError, WorkstationRevoked
from workstation.sync.http import ServerClient
from workstation.sync.rows import alert_row, incident_row, last_fix_columns, naive_utc, position_row, utcnow
from workstation.sync.upsert import upsert_statement

log = logging.getLogger(__name__)

LIVE_PATH = "/v1/live"
PURGE_EVERY_S = 3600.0


@dataclass
class LiveBatch:
    """What arrived since the last write: the latest fix and status per device, the alerts, and the
    latest version of each incident record."""

    fixes: dict[str, p.PositionData] = field(default_factory=dict)  # latest per device
    statuses: dict[str, p.DeviceStatus] = field(default_factory=dict)
    alerts: dict[str, p.AlertData] = field(default_factory=dict)
    alert_versions: dict[str, int] = field(default_factory=dict)  # from servers that send it
    incidents: dict[str, tuple[p.IncidentData, int]] = field(default_factory=dict)  # latest version each
    seq: int = 0
    since: float = 0.0

    def empty(self) -> bool:
        return not (self.fixes or self.statuses or self.alerts or self.incidents)


def parse_event(data: str) -> p.LiveEvent | None:
    try:
        return p.LiveEvent.model_validate_json(data)
    except ValidationError as exc:
        log.warning("skipped an invalid live event: %s", exc.errors()[0].get("msg") if exc.errors() else exc)
        return None


def apply_live_batch(session: Session, pending: LiveBatch, store_seq: bool = True) -> Changes:
    """Write one coalesced batch; returns what changed, with the applied values (only rows that
    exist locally)."""
    device_ids = set(pending.fixes) | set(pending.statuses)
    owner_of: dict[str, str] = (
        {d: pid for d, pid in session.execute(select(Device.id, Device.participant_id)
                                              .where(Device.id.in_(list(device_ids))))}
        if device_ids else {}
    )  # fmt: skip
    known_devices = set(owner_of)
    participant_ids = {a.participant_id for a in pending.alerts.values()} | {
        i.participant_id for i, _ in pending.incidents.values()}
    known_participants = (
        set(session.scalars(select(Participant.id).where(Participant.id.in_(list(participant_ids)))))
        if participant_ids else set()
    )  # fmt: skip

    fixes = [fix for device, fix in pending.fixes.items() if device in known_devices]
    if fixes:
        session.execute(
            sqlite_insert(Position).on_conflict_do_nothing(index_elements=["id"]),
            [position_row(fix) for fix in fixes],
        )
        table = Device.__table__
        newer = or_(table.c.last_fix_time.is_(None), table.c.last_fix_time < bindparam("b_time"))
        session.execute(
            update(table)
            .where(and_(table.c.id == bindparam("b_id"), newer))
            .values({name: bindparam(f"b_{name}") for name in ("last_lat", "last_lon", "last_accuracy_m",
                                                                "last_speed_kmh", "last_source")}
                    | {"last_fix_time": bindparam("b_time")}),  # fmt: skip
            [
                {"b_id": fix.device_id, "b_time": cols.pop("last_fix_time"), **{f"b_{k}": v for k, v in cols.items()}}
                for fix in fixes
                for cols in [last_fix_columns(fix)]
            ],
        )
    statuses = [s for device, s in pending.statuses.items() if device in known_devices]
    if statuses:
        table = Device.__table__
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                battery_pct=bindparam("b_battery"),
                charging=bindparam("b_charging"),
                strap=bindparam("b_strap"),
                last_contact_at=bindparam("b_contact"),
            ),
            [
                {"b_id": s.device_id, "b_battery": s.battery_pct, "b_charging": s.charging, "b_strap": s.strap,
                 "b_contact": naive_utc(s.last_contact_at)}
                for s in statuses
            ],  # fmt: skip
        )
    alerts = [a for a in pending.alerts.values() if a.participant_id in known_participants]
    versioned = [alert_row(a, pending.alert_versions[a.id]) for a in alerts if a.id in pending.alert_versions]
    if versioned:
        # the server's version, so an acknowledge sent from this row has a true base version; a
        # replayed event never takes back what a pull already brought (a later version)
        session.execute(upsert_statement(Alert.__table__, versioned[0].keys(), forward_only=True), versioned)
    unversioned = [alert_row(a, 0) for a in alerts if a.id not in pending.alert_versions]
    if unversioned:
        # an older server sends no version: keep the local one (0 for new rows); the pull brings it
        for row in unversioned:
            row.pop("version")
        session.execute(upsert_statement(Alert.__table__, unversioned[0].keys()), unversioned)
    incidents = [incident_row(i, version) for i, version in pending.incidents.values()
                 if i.participant_id in known_participants]
    if incidents:
        # like a pulled row: never over a later version, never over the officer's own action not yet sent
        session.execute(upsert_statement(Incident.__table__, incidents[0].keys(), forward_only=True), incidents)
    if store_seq and pending.seq:
        state = sync_state(session)
        state.live_seq = max(state.live_seq or 0, pending.seq)
        state.last_contact_at = utcnow()
    changed_devices = {f.device_id for f in fixes} | {s.device_id for s in statuses}
    owners = (frozenset(owner_of[d] for d in changed_devices) | frozenset(a.participant_id for a in alerts)
              | frozenset(row["participant_id"] for row in incidents))
    return Changes(
        participants=owners,
        caseload_rows=owners,
        devices=frozenset(changed_devices),
        alerts=frozenset(a.id for a in alerts),
        incidents=frozenset(row["id"] for row in incidents),
        fixes=tuple(_applied_fix(d, pending.fixes.get(d), pending.statuses.get(d)) for d in sorted(changed_devices)),
        alert_values=tuple(_alert_value(a) for a in alerts),
    )


def _applied_fix(device_id: str, fix: p.PositionData | None, status: p.DeviceStatus | None) -> LiveFix:
    """The device's values as this batch wrote them (the store's naive UTC times)."""
    out = LiveFix(device_id)
    if fix is not None:
        out = replace(out, fix_time=naive_utc(fix.fix_time), lat=fix.lat, lon=fix.lon, accuracy_m=fix.accuracy_m)
    if status is not None:
        out = replace(out, battery_pct=status.battery_pct, charging=status.charging, strap=status.strap)
    return out


def _alert_value(a: p.AlertData) -> AlertFact:
    return AlertFact(
        id=a.id, participant_id=a.participant_id, device_id=a.device_id, kind=a.kind, severity=a.severity,
        opened_at=naive_utc(a.opened_at), state=a.state, detail=a.detail, incident_id=a.incident_id,
        lat=a.lat, lon=a.lon,
    )  # fmt: skip


def purge_positions(session: Session, retention_days: int) -> int:
    cutoff = utcnow() - timedelta(days=retention_days)
    result = cast(CursorResult[Any], session.execute(delete(Position).where(Position.fix_time < cutoff)))
    return result.rowcount or 0


class LiveFeed:
    #: (changes) on the feed's thread after each batch was written, with the values it wrote
    changed = Signal(Changes)

    def __init__(
        self,
        store: Store,
        client: ServerClient,
        *,
        retention_days: int = 7,
        flush_interval_s: float = 0.5,
        read_timeout_s: float = 90.0,
        backoff: Backoff | None = None,
        on_fatal: Callable[[SyncError], None] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.retention_days = retention_days
        self.flush_interval_s = flush_interval_s
        self.read_timeout_s = read_timeout_s
        self.backoff = backoff or Backoff(base_s=1.0, cap_s=60.0)
        self.on_fatal = on_fatal
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None
        self._last_purge = 0.0
        self.connected = threading.Event()
        self.events_received = 0

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="live-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the reader and wait for it; prompt (milliseconds), not a heartbeat interval."""
        self._stop.set()
        response = self._response
        if response is not None:
            _wake_reader(response)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        while not self._stop.is_set():
            self._maybe_purge()
            try:
                self._read_stream()
                self.backoff.reset()
                delay = self.backoff.next_delay()  # the server closed the stream: reconnect soon
            except (AuthRequired, WorkstationRevoked) as exc:
                log.warning("live feed stopped: %s", exc)
                if self.on_fatal is not None:
                    self.on_fatal(exc)
                return
            except (SyncError, SSEError) as exc:  # SSEError: the answer is not an event stream
                if self._stop.is_set():
                    return
                delay = self.backoff.next_delay()
                log.info("live feed disconnected (%s); retrying in %.1f s", exc, delay)
            except Exception:  # noqa: BLE001 - keep the feed alive; the store error is logged
                if self._stop.is_set():
                    return
                log.exception("live feed error")
                delay = self.backoff.next_delay()
            finally:
                self.connected.clear()
            self._stop.wait(delay)

    def _read_stream(self) -> None:
        with self.store.read_session() as session:
            state = session.get(SyncState, SYNC_STATE_ID)
            after = state.live_seq if state is not None and state.live_seq else None
        params = {"after": after} if after else None
        pending = LiveBatch()
        with self.client.stream(LIVE_PATH, params=params, timeout=_stream_timeout(self.read_timeout_s)) as response:
            self._response = response
            if self._stop.is_set():  # stop() came while connecting: it could not wake this read
                self._response = None
                return
            self.connected.set()
            self.backoff.reset()
            try:
                # SSE framing by httpx-sse; every event (heartbeats included, one per heartbeat
                # interval when idle) is a chance to flush what is pending
                for message in EventSource(response).iter_sse():
                    if self._stop.is_set():
                        break
                    event = parse_event(message.data) if message.data else None
                    if event is not None:
                        self._collect(pending, event)
                    if not pending.empty() and time.monotonic() - pending.since >= self.flush_interval_s:
                        pending = self._flush(pending)
            finally:
                self._response = None
                if not pending.empty():
                    self._flush(pending)

    def _collect(self, pending: LiveBatch, event: p.LiveEvent) -> None:
        self.events_received += 1
        if event.type in ("heartbeat", "end"):
            return  # after "end" the server closes the stream; the reconnect gets the request's answer
        if pending.empty():
            pending.since = time.monotonic()
        pending.seq = max(pending.seq, event.seq)
        if event.fix is not None:
            current = pending.fixes.get(event.fix.device_id)
            if current is None or current.fix_time <= event.fix.fix_time:
                pending.fixes[event.fix.device_id] = event.fix
        if event.device is not None:
            pending.statuses[event.device.device_id] = event.device
        if event.incident is not None and event.version is not None:
            held = pending.incidents.get(event.incident.id)
            if held is None or held[1] <= event.version:
                pending.incidents[event.incident.id] = (event.incident, event.version)
        if event.alert is not None:
            pending.alerts[event.alert.id] = event.alert
            if event.version is not None:
                pending.alert_versions[event.alert.id] = event.version
            else:
                pending.alert_versions.pop(event.alert.id, None)

    def _flush(self, pending: LiveBatch) -> LiveBatch:
        changes = self.store.write(lambda s: apply_live_batch(s, pending))
        try:
            self.changed.emit(changes)
        except EmitLoopError:  # a broken listener must not stop the feed
            log.exception("live listener failed")
        return LiveBatch()

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if self._last_purge and now - self._last_purge < PURGE_EVERY_S:
            return
        self._last_purge = now
        removed = self.store.write(lambda s: purge_positions(s, self.retention_days))
        if removed:
            log.info("purged %d positions older than %d days", removed, self.retention_days)


def _wake_reader(response: Any) -> None:
    """Wake a thread blocked reading `response` now. Closing the response (or the socket) from
    another thread does not interrupt a blocked recv() on Linux, so the reader slept until the
    next heartbeat (up to 10 s); shutdown() of the socket does: the read returns at once."""
    stream = (getattr(response, "extensions", None) or {}).get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        try:
            # the plain socket's shutdown, also for a TLS socket: SSLSocket.shutdown would drop
            # its SSL object under the reader's feet
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
            return
        except OSError:
            pass  # already closed: the reader is leaving anyway
    try:
        response.close()
    except Exception:  # noqa: BLE001 - closing from another thread may race; the reader exits either way
        pass


def _stream_timeout(read_timeout_s: float) -> httpx.Timeout:
    return httpx.Timeout(10.0, read=read_timeout_s)
