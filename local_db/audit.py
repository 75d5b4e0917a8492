"""Append-only, hash-chained audit trail (CJIS AU-2, AU-3, AU-8, AU-9, AU-5).

Each AuditEvent row stores `hash = sha256(prev_hash || canonical JSON of the row)`, where the
canonical JSON holds every other column (seq, UTC time to the millisecond, officer, workstation,
event, object, outcome, detail) with sorted keys and no whitespace. Editing, deleting or
reordering any row therefore breaks every hash after it, and `verify_chain` names the first row
where the chain no longer holds. SQLite triggers (migration 0003_audit_append_only) refuse
UPDATE and DELETE on the table, so the
application itself cannot rewrite history either (someone with the key and a SQL shell still
can; the chain is what makes that visible, and the server holds the uploaded copy).

Fail closed (AU-5): `audit()` raises AuditWriteFailed when the row could not be committed, and
`audited_access()` runs a read of participant data only after its audit row is durable, so a
broken audit trail means no access to participant data. Failed writes are counted in memory and
the first audit row that does commit afterwards is an `audit_failure` event saying how many were
lost and since when, so the failure reaches the server with the next upload.

Everything here works on a SQLAlchemy Session; `audit(store, ...)` routes the append through the
store's single writer with a durable (synchronous=FULL) commit.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from local_db.models import AuditEvent

GENESIS_HASH = "0" * 64
T = TypeVar("T")

# Events the workstation writes (AU-2 list plus the app-specific ones from the CJIS table).
EVENTS = frozenset(
    {
        "login",
        "logout",
        "lock",
        "unlock",
        "unlock_failed",
        "unlock_refused",
        "lockout",
        "lockout_released",
        "lockout_tamper",
        "session_expired",
        "view_participant",
        "search",
        "action",
        "export",
        "print",
        "map_view",
        "sync",
        "key_change",
        "wipe",
        "audit_failure",
        "audit_chain_break",
        "audit_upload",
        "admin",
    }
)


class AuditWriteFailed(RuntimeError):
    """The audit row could not be committed; the caller must not show participant data."""


class AccessRefused(RuntimeError):
    """Participant data was not read because its audit row could not be written."""


class _Store(Protocol):  # the part of local_db.store.Store this module relies on
    def write(self, fn: Callable[[Session], T], *, durable: bool = ...) -> T: ...

    def read_session(self) -> AbstractContextManager[Session]: ...


# --------------------------------------------------------------------------- canonical form


def utc_ms(moment: datetime | None = None) -> datetime:
    """Naive UTC datetime truncated to the millisecond (AU-8 asks for >= 10 ms precision).

    Truncating before storing makes the value round-trip through SQLite exactly, so the hash
    computed at write time is the hash recomputed at verification time.
    """
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def canonical_row(
    seq: int,
    at: datetime,
    officer: str,
    workstation_id: str,
    event: str,
    object: str,
    outcome: str,
    detail: str,
) -> bytes:
    body = {
        "seq": seq,
        "at": iso_ms(at),
        "officer": officer,
        "workstation_id": workstation_id,
        "event": event,
        "object": object,
        "outcome": outcome,
        "detail": detail,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def row_hash(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def _hash_of(row: AuditEvent) -> str:
    return row_hash(
        row.prev_hash,
        canonical_row(
            row.seq, row.at, row.officer, row.workstation_id, row.event, row.object, row.outcome, row.detail
        ),
    )


# --------------------------------------------------------------------------- identity


@dataclass
class AuditContext:
    """Who is acting on which workstation; set at login, read by every audit() call."""

    officer: str = ""
    workstation_id: str = ""


_contexts: weakref.WeakKeyDictionary[Any, AuditContext] = weakref.WeakKeyDictionary()


def set_context(store: Any, officer: str, workstation_id: str) -> None:
    _contexts[store] = AuditContext(officer=officer, workstation_id=workstation_id)


def context_of(store: Any) -> AuditContext:
    return _contexts.get(store) or AuditContext()


# --------------------------------------------------------------------------- append


def append_event(
    session: Session,
    *,
    officer: str,
    workstation_id: str,
    event: str,
    object: str = "",
    outcome: str = "ok",
    detail: str = "",
    at: datetime | None = None,
) -> AuditEvent:
    """Append one chained row inside the caller's transaction (the caller commits)."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq = (last.seq + 1) if last else 1
    prev = last.hash if last else GENESIS_HASH
    moment = utc_ms(at)
    row = AuditEvent(
        seq=seq,
        at=moment,
        officer=officer[:100],
        workstation_id=workstation_id[:100],
        event=event,
        object=object[:200],
        outcome=outcome[:20],
        detail=detail,
        prev_hash=prev,
    )
    row.hash = _hash_of(row)
    session.add(row)
    session.flush()
    return row


def append_in(
    session: Session, store: Any, event: str, object: str = "", outcome: str = "ok", detail: str = ""
) -> AuditEvent:
    """Append inside the caller's own write transaction, as the store's signed-in officer.

    For events that must commit together with their effect (an officer action): if the audit
    row cannot be written, the effect is rolled back with it.
    """
    ctx = context_of(store)
    return append_event(
        session,
        officer=ctx.officer,
        workstation_id=ctx.workstation_id,
        event=event,
        object=object,
        outcome=outcome,
        detail=detail,
    )


@dataclass
class _Health:
    """Audit writes that failed since the last one that worked (reported by the next one)."""

    failures: int = 0
    first_failure_at: datetime | None = None
    last_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


_health: weakref.WeakKeyDictionary[Any, _Health] = weakref.WeakKeyDictionary()


def _health_of(store: Any) -> _Health:
    health = _health.get(store)
    if health is None:
        health = _health[store] = _Health()
    return health


def audit_healthy(store: Any) -> bool:
    return _health_of(store).failures == 0


def audit(
    store: _Store,
    event: str,
    object: str = "",
    outcome: str = "ok",
    detail: str = "",
    *,
    officer: str | None = None,
) -> int:
    """Append an audit row through the store's writer with a durable commit; returns its seq.

    Raises AuditWriteFailed if the row was not committed (the caller must then refuse access).
    """
    ctx = context_of(store)
    who = ctx.officer if officer is None else officer
    health = _health_of(store)
    with health.lock:
        pending_failure = (health.failures, health.first_failure_at, health.last_error)

    def write(session: Session) -> int:
        if pending_failure[0]:
            append_event(
                session,
                officer=who,
                workstation_id=ctx.workstation_id,
                event="audit_failure",
                outcome="error",
                detail=json.dumps(
                    {
                        "failed_writes": pending_failure[0],
                        "since": iso_ms(pending_failure[1]) if pending_failure[1] else "",
                        "error": pending_failure[2][:500],
                    }
                ),
            )
        row = append_event(
            session,
            officer=who,
            workstation_id=ctx.workstation_id,
            event=event,
            object=object,
            outcome=outcome,
            detail=detail,
        )
        return row.seq

    try:
        result = store.write(write, durable=True)
        seq = result.result() if hasattr(result, "result") else result
    except Exception as exc:  # noqa: BLE001 - any failure to commit is an audit failure (AU-5)
        with health.lock:
            if health.failures == 0:
                health.first_failure_at = utc_ms()
            health.failures += 1
            health.last_error = f"{type(exc).__name__}: {exc}"
        raise AuditWriteFailed(f"audit write failed: {exc}") from exc
    with health.lock:
        # Only the failures we reported are cleared; ones that raced in stay for the next row.
        health.failures -= pending_failure[0]
        if health.failures == 0:
            health.first_failure_at = None
    return int(seq)


def audited_access(
    store: _Store, event: str, object: str, read: Callable[[], T], detail: str = ""
) -> T:
    """Run `read` (which returns participant data) only once its audit row is committed."""
    try:
        audit(store, event, object, "ok", detail)
    except AuditWriteFailed as exc:
        raise AccessRefused("participant data is unavailable: the audit trail cannot be written") from exc
    return read()


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int
    last_seq: int
    last_hash: str
    #: the first seq at which the chain does not hold (None when ok)
    broken_at: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "last_seq": self.last_seq,
            "broken_at": self.broken_at,
            "reason": self.reason,
        }


def verify_rows(rows: Iterable[AuditEvent]) -> ChainReport:
    """Check sequence continuity, each prev_hash link and each row's own hash."""
    count = 0
    expected_seq = 1
    prev = GENESIS_HASH
    last_seq = 0
    for row in rows:
        count += 1
        if row.seq != expected_seq:
            return ChainReport(False, count, last_seq, prev, row.seq, f"row {expected_seq} is missing")
        if row.prev_hash != prev:
            return ChainReport(False, count, last_seq, prev, row.seq, "prev_hash does not link to the row before")
        if _hash_of(row) != row.hash:
            return ChainReport(False, count, last_seq, prev, row.seq, "row content does not match its hash")
        prev = row.hash
        last_seq = row.seq
        expected_seq += 1
    return ChainReport(True, count, last_seq, prev)


_CHAIN_COLUMNS = (
    AuditEvent.seq,
    AuditEvent.at,
    AuditEvent.officer,
    AuditEvent.workstation_id,
    AuditEvent.event,
    AuditEvent.object,
    AuditEvent.outcome,
    AuditEvent.detail,
    AuditEvent.prev_hash,
    AuditEvent.hash,
)


def verify_chain(session: Session) -> ChainReport:
    # plain rows, not ORM objects: this runs at every unlock and before every upload
    rows = session.execute(select(*_CHAIN_COLUMNS).order_by(AuditEvent.seq).execution_options(yield_per=2000))
    return verify_rows(rows)  # type: ignore[arg-type]


def report_break(store: _Store, report: ChainReport) -> bool:
    """Record a detected break as its own audit row (uploaded like any other), once per break.

    Returns True when a new break was recorded.
    """
    if report.ok:
        return False
    return record_break(store, f"audit_event:{report.broken_at}", report.as_dict())


def record_break(store: _Store, where: str, detail: dict[str, Any]) -> bool:
    """Append an `audit_chain_break` row about `where` unless one is already there."""

    def already(session: Session) -> bool:
        found = session.execute(
            select(AuditEvent.seq)
            .where(AuditEvent.event == "audit_chain_break", AuditEvent.object == where)
            .limit(1)
        ).first()
        return found is not None

    with store.read_session() as session:
        if already(session):
            return False
    audit(store, "audit_chain_break", where, "error", json.dumps(detail))
    return True


def unsent_rows(session: Session, after_seq: int, limit: int) -> list[AuditEvent]:
    return list(
        session.execute(
            select(AuditEvent).where(AuditEvent.seq > after_seq).order_by(AuditEvent.seq).limit(limit)
        ).scalars()
    )


def row_count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())
