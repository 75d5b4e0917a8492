"""One sync = push the outbox, then pull the change feed; one at a time, journaled.

Push goes first so the officer's actions reach the server before its state is pulled (the pull
then brings the server's rows of what was just applied). A failure stops the sync where it is;
everything applied so far stays (pages and action results are committed as they come), and the
summary says what happened. SyncError subclasses are reported in the summary, not raised:
the scheduler decides about retries; other errors (a broken store) propagate.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import func, select

from local_db import audit as audit_log
from local_db.models import Device, Participant, SyncJournal
from local_db.store import Store
from workstation.changes import Changes
from workstation.security.audit_upload import upload_audit
from workstation.sync import pull as pull_mod
from workstation.sync import push as push_mod
from workstation.sync.errors import AuthRequired, SyncError, WorkstationRevoked
from workstation.sync.http import ServerClient
from workstation.sync.rows import utcnow

log = logging.getLogger(__name__)


@dataclass
class SyncProgress:
    phase: Literal["push", "pull"]
    done: int
    total: int
    bytes: int


@dataclass
class SyncSummary:
    participants: int = 0
    devices: int = 0
    changes_applied: int = 0
    actions_sent: int = 0
    actions_applied: int = 0
    actions_conflict: int = 0
    actions_rejected: int = 0
    #: incident actions that found the incident closed meanwhile (done; the outbox says by whom and when)
    actions_already_resolved: int = 0
    bytes_down: int = 0
    bytes_up: int = 0
    seconds: float = 0.0
    ok: bool = True
    error: str | None = None
    #: the error will probably go away by itself (network, 5xx): retry later with backoff
    retryable: bool = False
    revoked: bool = False
    #: class name of the SyncError that stopped the sync (AuthRequired -> ask for the password)
    error_kind: str | None = None
    #: (security) why the audit chain upload failed this time (its rows go with the next sync)
    audit_error: str | None = None
    #: (security) the audit chain is broken, locally or against the server's copy (AU-9); None: intact
    audit_chain_break: str | None = None
    #: what the push changed locally
    pushed: Changes = field(default_factory=Changes)
    #: what the pull wrote: participants, devices, alerts and incidents, itemised
    pulled: Changes = field(default_factory=Changes)

    @property
    def changed(self) -> Changes:
        """Everything this sync changed in the store, for the screens."""
        return self.pushed | self.pulled

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["pushed"], data["pulled"]  # item ids for the screens, not for the journal or a script
        return data


class SyncEngine:
    def __init__(
        self,
        store: Store,
        client: ServerClient,
        *,
        page_size: int = pull_mod.DEFAULT_PAGE_SIZE,
        batch_size: int = push_mod.DEFAULT_BATCH_SIZE,
    ) -> None:
        self.store = store
        self.client = client
        self.page_size = page_size
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def sync(
        self,
        progress: Callable[[SyncProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncSummary:
        with self._lock:
            return self._sync(progress, cancel)

    def push_only(self, cancel: threading.Event | None = None) -> SyncSummary:
        with self._lock:
            return self._sync(None, cancel, pull=False)

    def _sync(
        self,
        progress: Callable[[SyncProgress], None] | None,
        cancel: threading.Event | None,
        pull: bool = True,
    ) -> SyncSummary:
        started = time.monotonic()
        down0, up0 = self.client.bytes.snapshot()
        summary = SyncSummary()
        journal_id = self.store.write(_open_journal)
        try:
            pushed = push_mod.push(
                self.store,
                self.client,
                batch_size=self.batch_size,
                cancel=cancel,
                progress=(lambda done, total: progress(SyncProgress("push", done, total, 0))) if progress else None,
            )
            summary.actions_sent = pushed.sent
            summary.actions_applied = pushed.counts.applied + pushed.counts.duplicate
            summary.actions_conflict = pushed.counts.conflict
            summary.actions_rejected = pushed.counts.rejected
            summary.actions_already_resolved = pushed.counts.already_resolved
            summary.pushed = Changes(participants=frozenset(pushed.counts.participants),
                                     alerts=frozenset(pushed.counts.alerts),
                                     incidents=frozenset(pushed.counts.incidents))
            if pull:
                pulled = pull_mod.pull(
                    self.store,
                    self.client,
                    page_size=self.page_size,
                    cancel=cancel,
                    progress=(
                        (lambda pp: progress(SyncProgress("pull", pp.done, pp.total, pp.bytes))) if progress else None
                    ),
                )
                summary.changes_applied = pulled.changes_applied
                summary.pulled = pulled.changed
            # (security) AU-9: the audit chain goes to the server with every sync. Unacknowledged
            # rows simply go again next time, so only revocation/re-login stop the sync here.
            try:
                summary.audit_chain_break = upload_audit(self.store, self.client).problem()
                if summary.audit_chain_break:
                    log.warning("audit chain: %s", summary.audit_chain_break)
            except (WorkstationRevoked, AuthRequired):
                raise
            except SyncError as exc:
                summary.audit_error = str(exc)
        except SyncError as exc:
            summary.ok, summary.error, summary.retryable = False, str(exc), exc.retryable
            summary.revoked = isinstance(exc, WorkstationRevoked)
            summary.error_kind = type(exc).__name__
            log.warning("sync stopped: %s", exc)
        finally:
            down1, up1 = self.client.bytes.snapshot()
            summary.bytes_down, summary.bytes_up = down1 - down0, up1 - up0
            summary.seconds = round(time.monotonic() - started, 3)
        if summary.revoked:
            return summary  # the store is gone (crypto-wipe): nothing to count or journal
        with self.store.read_session() as session:
            summary.participants = session.scalar(select(func.count()).select_from(Participant)) or 0
            summary.devices = session.scalar(select(func.count()).select_from(Device)) or 0
        self.store.write(lambda s: _close_journal(s, journal_id, summary))
        # (security) AU-2 sync event; a failed audit write turns into a failed sync, not a crash
        try:
            audit_log.audit(
                self.store, "sync", self.client.base_url, "ok" if summary.ok else "error",
                json.dumps({k: getattr(summary, k) for k in ("changes_applied", "actions_sent", "error")}),
            )
        except audit_log.AuditWriteFailed as exc:
            summary.ok, summary.error = False, str(exc)
        return summary


def _open_journal(session: Any) -> int:
    row = SyncJournal(started_at=utcnow(), outcome="running", summary={})
    session.add(row)
    session.flush()
    return row.id


def _close_journal(session: Any, journal_id: int, summary: SyncSummary) -> None:
    row = session.get(SyncJournal, journal_id)
    if row is None:
        return
    row.finished_at = utcnow()
    row.outcome = "ok" if summary.ok else "failed"
    row.summary = summary.as_json()
    row.error = summary.error
