"""Engine, sessions and the single-writer rule for the server database.

SQLite allows one writer; a deferred transaction that read first and then tries to write can fail with
SQLITE_BUSY without waiting. So on SQLite every write transaction takes one process-wide lock (the
reference server is one process); PostgreSQL relies on its own row locks and constraints.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from sync_server.models import Base, ChangeLog, Counter, Position, Setting
from sync_server.zones import ZoneCache, install_triggers
from workstation.rules.incidents import DEFAULT_RESPONSE_TIME
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE, time_zone

AGENCY_TIME_ZONE_ENV = "SYNC_SERVER_AGENCY_TIME_ZONE"

ADMIN_KEY_HASH = "admin_key_sha256"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def utcnow() -> datetime:
    """Naive UTC, the storage convention of every DateTime column."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    if not value.utcoffset():  # already UTC (what devices send): skip the conversion
        return value.replace(tzinfo=None)
    return value.astimezone(UTC).replace(tzinfo=None)


def default_db_url() -> str:
    return f"sqlite:///{Path.cwd() / 'sync_server.db'}"


class Database:
    def __init__(self, url: str, agency_time_zone: str | None = None) -> None:
        self.url = url
        #: "now" of the device rules (fix receipt, silence, escalation, auto-resolution): the wall clock,
        #: or a simulated one (sync_server.simulated_day plays a day at high speed through the real server)
        self.clock: Callable[[], datetime] = utcnow
        #: zones and schedules without their own time zone are read in this one (configuration:
        #: --agency-time-zone or SYNC_SERVER_AGENCY_TIME_ZONE); an unknown name stops the server
        self.agency_time_zone = agency_time_zone or os.environ.get(AGENCY_TIME_ZONE_ENV) or DEFAULT_AGENCY_TIME_ZONE
        time_zone(self.agency_time_zone)
        #: response deadline per incident severity (agency configuration: --response-times)
        self.response_times: dict[str, timedelta] = dict(DEFAULT_RESPONSE_TIME)
        #: how long after a curfew begins someone still out becomes a violation (agency configuration:
        #: --curfew-grace; rules.schedule.zone_rule_binds)
        self.curfew_grace = timedelta(0)
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = threading.RLock() if self.is_sqlite else None
        self.zone_cache = ZoneCache(self.agency_time_zone)

    def now(self) -> datetime:
        """The device rules' current time, naive UTC (see `clock`)."""
        return self.clock()

    def create_schema(self) -> None:
        Base.metadata.create_all(self.engine)
        with self.write() as session:
            # The admin key is kept only as its SHA-256 (a database copy must not yield it); a database
            # from before that has it in clear: hash it and drop the clear copy.
            clear = session.get(Setting, "admin_key")
            if session.get(Setting, ADMIN_KEY_HASH) is None:
                key = clear.value if clear is not None else secrets.token_urlsafe(24)
                session.add(Setting(name=ADMIN_KEY_HASH, value=key_digest(key)))
            if clear is not None:
                session.delete(clear)
            for name, column in (
                ("change", ChangeLog.seq), ("position", Position.id), ("zones", None), ("credentials", None),
            ):
                if session.get(Counter, name) is None:
                    start = session.scalar(select(func.max(column))) if column is not None else 0
                    session.add(Counter(name=name, value=start or 0))
            session.flush()
            install_triggers(session.connection())

    def new_admin_key(self) -> str:
        """Replace the admin key; the new key is returned once and only its digest is stored."""
        key = secrets.token_urlsafe(32)
        self.set_setting(ADMIN_KEY_HASH, key_digest(key))
        return key

    def setting(self, name: str) -> str | None:
        with self.read() as session:
            return session.scalar(select(Setting.value).where(Setting.name == name))

    def set_setting(self, name: str, value: str) -> None:
        with self.write() as session:
            session.merge(Setting(name=name, value=value))

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any exception."""
        if self._write_lock is None:
            with self.sessions.begin() as session:
                yield session
            return
        with self._write_lock, self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API connection
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode is durable against application crashes, and a power loss can only lose
    # the last transactions, which clients resend (actions are idempotent by id).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
