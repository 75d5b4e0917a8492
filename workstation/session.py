"""WorkstationSession: what the GUI and the CLI hold after login.

It owns the open store, the server client (with the in-memory tokens), the sync engine, the
scheduler (automatic sync), the live feed and the connectivity tracker, and closes them in the
right order. Every method that touches disk or network blocks: the GUI calls them from worker
threads and gets results through its psygnal signals (revoked, auth_required, pushed; the live
feed's `changed`, the scheduler's `synced`, connectivity's `changed`), which the GUI adapter
turns into queued Qt calls. No Qt here.

Lock (SC-10, AC-11): `lock()` stops the live feed and automatic sync, audits `lock`, forgets the
server tokens and closes the store (releasing the data key); `unlock(password)` re-opens the store
through the failed-unlock policy (audited `unlock`), rebuilds the sync engine over it and logs in
to the server again when it answers. Both block (disk, KDF, network): a GUI calls them on a worker
(ui/lock_screen.py). workstation.security.session_lock.SessionLock holds the store meanwhile:
`session.store` raises SessionLocked while locked.

Revocation: when the server answers with `wipe: true`, the session stops everything, closes the
store and crypto-wipes the data directory (workstation.security.wipe), then tells listeners.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from psygnal import Signal

from local_db import audit as audit_log
from local_db import keys
from local_db.store import Store
from workstation import tracks
from workstation.auth import Auth, login, stored_identity
from workstation.changes import Changes
from workstation.config import FIRST_SYNC_HINT, Config, NeverSynced
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE
from workstation.security import lockout
from workstation.security.session_lock import SessionLock
from workstation.sync import outbox
from workstation.sync.connectivity import Connectivity, ConnectivityStatus
from workstation.sync.engine import SyncEngine, SyncProgress, SyncSummary
from workstation.sync.errors import AuthRequired, RequestRefused, SyncError, WorkstationRevoked
from workstation.sync.http import ServerClient
from workstation.sync.live import LiveFeed
from workstation.sync.scheduler import DEFAULT_INTERVAL_S, SyncScheduler

log = logging.getLogger(__name__)


class SessionClosed(RuntimeError):
    """The session was closed (logout or crypto-wipe)."""


class WorkstationSession:
    #: (reason) after the agency revoked this workstation and its data was crypto-wiped
    revoked = Signal(str)
    #: (reason) on a worker thread when the server wants the password again
    auth_required = Signal(str)
    #: (summary) on the scheduler's thread after each push asked for by request_push
    pushed = Signal(SyncSummary)

    def __init__(
        self,
        home: Path,
        store: Store,
        client: ServerClient | None,
        auth: Auth,
        connectivity: Connectivity,
        *,
        retention_days: int = 7,
        offline_reason: str | None = None,
        agency_time_zone: str = DEFAULT_AGENCY_TIME_ZONE,
    ) -> None:
        self.home = Path(home)
        self.agency_time_zone = agency_time_zone
        #: why the server login did not happen at open (None = logged in online)
        self.offline_reason = offline_reason
        self.client = client
        self.auth = auth
        self._store_lock = SessionLock(
            self.home, auth.username, auth.workstation_id, store,
            forget_tokens=auth.forget, on_unlocked=self._unlocked,
        )  # fmt: skip
        self.connectivity = connectivity
        self.retention_days = retention_days
        self.engine = SyncEngine(store, client) if client is not None else None
        self.scheduler: SyncScheduler | None = None
        self.live: LiveFeed | None = None
        self._closed = False
        self._lock = threading.Lock()
        self.wiped_reason: str | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        config: Config,
        username: str,
        password: str,
        *,
        server_url: str | None = None,
        one_time_code: str | None = None,
        client_factory: Callable[..., ServerClient] = ServerClient,
    ) -> WorkstationSession:
        """Log in (first login online; later ones work offline) and return the session."""
        home = Path(config.data_dir)
        url = server_url or config.server_url
        connectivity = Connectivity()
        client = None
        if url:
            from workstation.security.tls import InsecureTransport, from_config

            try:
                verify = from_config(url, config)  # refuses http:// to anything but loopback
            except InsecureTransport as exc:
                raise RequestRefused(str(exc), 0) from None
            client = client_factory(url, verify=verify, contact=connectivity)
        try:
            result = login(
                home,
                username,
                password,
                client,
                workstation_id=config.workstation_id or "unknown-workstation",
                one_time_code=one_time_code,
                wipe_after_failures=config.wipe_after_failures,
            )
        except BaseException:
            if client is not None:
                client.close()
            raise
        if result.online and client is not None:
            # the server records the public half of this workstation's report-signing key (verify-packet
            # asks it); a failure here is retried at the next online login and never blocks this one
            from workstation.reports.signing_key import register_quietly

            register_quietly(result.store, client)
        return cls(
            home, result.store, client, result.auth, connectivity,
            retention_days=config.retention_days, offline_reason=None if result.online else result.offline_reason,
            agency_time_zone=config.agency_time_zone,
        )  # fmt: skip

    @classmethod
    def open_offline(cls, config: Config, password: str, username: str | None = None) -> WorkstationSession:
        """Unlock the local store only, without contacting the server (offline CLI commands)."""
        home = Path(config.data_dir)
        if not keys.keyfile_exists(home):
            raise NeverSynced(f"nothing has been synced to {home} yet; {FIRST_SYNC_HINT}")
        result = login(
            home, username or "", password, None,
            workstation_id=config.workstation_id or "unknown-workstation",
            wipe_after_failures=config.wipe_after_failures,
        )  # fmt: skip
        if not username:
            # audit rows of this session carry the officer the store belongs to
            stored = stored_identity(result.store)["username"]
            if stored:
                audit_log.set_context(result.store, stored, config.workstation_id or "unknown-workstation")
                result.auth.username = stored
        return cls(
            home, result.store, None, result.auth, Connectivity(),
            retention_days=config.retention_days, offline_reason=result.offline_reason,
            agency_time_zone=config.agency_time_zone,
        )  # fmt: skip

    @property
    def store(self) -> Store:
        """The open store; raises SessionLocked while the session is locked."""
        return self._store_lock.store

    # ------------------------------------------------------------------ lock

    @property
    def locked(self) -> bool:
        return self._store_lock.locked

    @property
    def officer_name(self) -> str:
        return self.auth.username

    def lock(self, reason: str) -> None:
        """Stop what uses the store, then audit `lock`, forget the tokens and close the store.
        Blocking; never fails (a failed audit row is reported by the next one)."""
        self.stop_auto_sync()
        self.stop_live()
        self._store_lock.lock(reason)

    def unlock(self, password: str) -> None:
        """Re-open the store with `password` (lockout policy, audited `unlock`), then log in to the
        server again if it answers (offline is fine: sync asks for the password later). Blocking;
        raises WrongPassword, AccountLocked, ... with an officer-readable message."""
        self._store_lock.unlock(password)

    def release_with_code(self, code: str) -> bool:
        """A one-time administrator code releases a lockout (True when it did)."""
        return lockout.release_with_code(self.home, code)

    def _unlocked(self, store: Store, password: str) -> None:
        if self.engine is not None:
            self.engine = SyncEngine(store, self.engine.client, page_size=self.engine.page_size)
        self.live = None  # the old feed wrote to the closed store; start_live makes a new one
        if self.client is not None:
            try:
                self.auth.login(self.client, password)
            except SyncError as exc:
                log.info("unlocked offline: %s", exc)

    # ------------------------------------------------------------------ sync

    def sync_now(
        self,
        progress: Callable[[SyncProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncSummary:
        """Push then pull, now, on the calling thread (blocking)."""
        engine = self._require_engine()
        summary = engine.sync(progress, cancel)
        self._after_sync(summary)
        return summary

    def start_auto_sync(self, interval_s: float = DEFAULT_INTERVAL_S) -> SyncScheduler:
        scheduler = self._scheduler(interval_s)
        scheduler.start()
        return scheduler

    def stop_auto_sync(self) -> None:
        """Stop the scheduler's thread: automatic sync and pushes (request_push starts it again)."""
        if self.scheduler is not None:
            self.connectivity.changed.disconnect(self.scheduler.on_connectivity)
            self.scheduler.stop()
            self.scheduler = None

    def request_sync(self) -> None:
        """GUI "Sync now" while automatic sync runs: wake the scheduler thread."""
        if self.scheduler is not None:
            self.scheduler.sync_now()

    def request_push(self) -> None:
        """Send the outbox soon, on the scheduler's thread (after each officer action); without a
        server, or after close, nothing happens (the outbox keeps everything)."""
        if self.engine is None or self._closed or self.locked:
            return
        self._scheduler().request_push()

    def _scheduler(self, interval_s: float = DEFAULT_INTERVAL_S) -> SyncScheduler:
        engine = self._require_engine()
        if self.scheduler is None:
            self.scheduler = SyncScheduler(lambda: self._scheduled(engine), push=lambda: self._pushed(engine),
                                           interval_s=interval_s)
            self.connectivity.changed.connect(self.scheduler.on_connectivity)
        return self.scheduler

    # ------------------------------------------------------------------ live feed

    def start_live(self, listener: Callable[[Changes], None] | None = None) -> LiveFeed:
        if self.client is None:
            raise SessionClosed("no server: the live feed needs one")
        if self.live is None:
            self.live = LiveFeed(
                self.store, self.client, retention_days=self.retention_days, on_fatal=self._on_fatal
            )
        if listener is not None:
            self.live.changed.connect(listener)
        self.live.start()
        return self.live

    def stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()

    def track(self, participant_id: str, since: datetime, until: datetime | None = None) -> tracks.Track:
        """A participant's track for a window, fetched from the server when it answers (blocking)."""
        return tracks.track(self.store, self.client, participant_id, since, until, self.retention_days)

    # ------------------------------------------------------------------ state and decisions

    def connectivity_status(self) -> ConnectivityStatus:
        return self.connectivity.status()

    def keep_mine(self, action_id: str) -> str:
        return self.store.write(lambda s: outbox.keep_mine(s, action_id), durable=True)

    def use_server(self, action_id: str) -> None:
        self.store.write(lambda s: outbox.use_server(s, action_id), durable=True)

    def outbox(self, states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        with self.store.read_session() as session:
            return outbox.list_actions(session, states)

    def relogin(self, password: str, one_time_code: str | None = None) -> None:
        """After AuthRequired: log in to the server again (the store stays open)."""
        if self.client is None:
            raise SessionClosed("no server configured")
        self.auth.login(self.client, password, one_time_code)

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.stop_auto_sync()
        self.stop_live()
        if self.client is not None:
            self.client.close()
        self.auth.forget()
        if self.locked:
            return  # the lock already audited it and closed the store
        # (security) AU-2 logout; a failing audit write must not stop the store from closing
        with contextlib.suppress(audit_log.AuditWriteFailed):
            audit_log.audit(self.store, "logout", "workstation")
        self.store.close()

    def __enter__(self) -> WorkstationSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _require_engine(self) -> SyncEngine:
        if self._closed:
            raise SessionClosed("the session is closed")
        if self.engine is None:
            raise SessionClosed("no server configured: set server_url or pass --server")
        return self.engine

    def _scheduled(self, engine: SyncEngine) -> SyncSummary:
        summary = engine.sync()
        self._after_sync(summary)
        return summary

    def _pushed(self, engine: SyncEngine) -> SyncSummary:
        summary = engine.push_only()
        self._after_sync(summary)
        self.pushed.emit(summary)
        return summary

    def _after_sync(self, summary: SyncSummary) -> None:
        if summary.revoked:
            self._wipe(summary.error or "revoked by the agency")
        elif summary.error_kind == AuthRequired.__name__:
            self.auth_required.emit(summary.error or "")
        elif summary.ok and self.client is not None:
            # a signing key made while offline (first packet in the field) reaches the server here
            from workstation.reports.signing_key import register_if_needed

            register_if_needed(self.store, self.client)

    def _on_fatal(self, error: SyncError) -> None:
        if isinstance(error, WorkstationRevoked):
            threading.Thread(target=self._wipe, args=(str(error),), name="crypto-wipe", daemon=True).start()
        elif isinstance(error, AuthRequired):
            self.auth_required.emit(str(error))

    def _wipe(self, reason: str) -> None:
        from workstation.security.wipe import crypto_wipe

        with self._lock:
            if self.wiped_reason is not None:
                return
            self.wiped_reason = reason
        log.warning("workstation revoked: crypto-wiping %s", self.home)
        if self.scheduler is not None and threading.current_thread() is not self.scheduler._thread:
            self.stop_auto_sync()
        if self.live is not None and threading.current_thread() is not self.live._thread:
            self.stop_live()
        self._closed = True
        if self.client is not None:
            self.client.close()
        self.auth.forget()
        if not self.locked:
            self.store.close()
        crypto_wipe(self.home, reason)
        self.revoked.emit(reason)
