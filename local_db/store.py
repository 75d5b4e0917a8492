"""The officer's local store: one SQLCipher-encrypted SQLite file, <home>/store.db.

Threads: any thread may read through `read_session()` (WAL lets readers run beside the writer;
busy_timeout absorbs the brief moments, such as a checkpoint, when SQLite still asks for a
wait). All writes go through `write()`/`submit()`, which run on the one writer thread that owns
the one writing connection, so two writers never race for the lock and "database is locked"
cannot happen inside the application. `write()` blocks the caller until the commit: never call
it from the GUI thread; use `submit()` and react to the future from a worker.

Durability: WAL with synchronous=NORMAL for ordinary commits (a power cut may lose the last
commits but never corrupts); `durable=True` commits with synchronous=FULL, for rows that must
survive a power cut once the call returns (outbox actions, audit events).

Opening: the data key is unwrapped from <home>/keys.json (local_db.keys), used as SQLCipher's
raw key (no KDF per connection), checked by reading the schema, then Alembic brings the schema
to the code's head (local_db.migrate). Every failure is a StoreError with a message for the
officer, raised before anything on disk was changed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import hmac
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import sqlcipher3.dbapi2 as sqlcipher
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DatabaseError as SADatabaseError
from sqlalchemy.orm import Session

from local_db import keys
from local_db.engine import (
    SQLITE_PLAINTEXT_HEADER,
    WRITER_FLAG,
    checkpoint,
    make_engine,
    verify_key_and_file,
)
from local_db.errors import (
    DataDirError,
    StoreCorrupt,
    StoreError,
    StoreNotFound,
    StoreTooNew,
    WrongPassword,
)
from local_db.migrate import upgrade_to_head

__all__ = [
    "DataDirError",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreNotFound",
    "StoreTooNew",
    "WrongPassword",
    "open_store",
    "open_store_with_key",
    "STORE_FILE_NAME",
    "SQLITE_PLAINTEXT_HEADER",
    "checkpoint",
]

T = TypeVar("T")

STORE_FILE_NAME = "store.db"


class Store:
    """An open store. Create with open_store()/open_store_with_key(); close() when done."""

    def __init__(self, home: Path, path: Path, engine: Engine, cache_key: bytes | None = None) -> None:
        self.home = home
        self.path = path
        self.engine = engine
        #: key for the caches kept beside the store (the map tile cache), derived from the data key so
        #: they are unreadable without the officer's password too; None once the store is closed
        self.cache_key = cache_key
        self.backup_made: str | None = None  # name of the pre-migration backup made by this open, if any
        self._queue: queue.SimpleQueue[
            tuple[Callable[[Session], Any], bool, concurrent.futures.Future[Any]] | None
        ]
        self._queue = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._writer_ready = threading.Event()
        self._writer_error: BaseException | None = None
        self._writer = threading.Thread(target=self._writer_loop, name="store-writer", daemon=True)
        self._writer.start()
        self._writer_ready.wait()
        started = cast(BaseException | None, self._writer_error)  # set by the writer thread meanwhile
        if started is not None:
            self.engine.dispose()
            raise started

    # -- reading ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading, usable on any thread; its transaction is one consistent snapshot.

        Anything written through it is rolled back: writes belong to write(). Keep it short:
        an open snapshot stops checkpoints from emptying the write-ahead log.
        """
        if self._closed:
            # (security helper) a closed store must not quietly reconnect with the key its engine
            # still holds: after lock/logout nothing may be read (AC-12)
            raise StoreError("The store is closed.")
        with Session(self.engine, expire_on_commit=False, autoflush=False) as session:
            try:
                yield session
            finally:
                session.rollback()

    # -- writing ---------------------------------------------------------------------------
    def write(self, fn: Callable[[Session], T], *, durable: bool = False) -> T:
        """Run fn(session) on the writer thread, commit, return fn's result.

        If fn raises, the transaction is rolled back and the exception re-raised here. Blocks
        until the commit is done: never call from the GUI thread (use submit()).
        """
        if threading.current_thread() is self._writer:
            raise RuntimeError("Store.write() called from inside a write: do all the work in one fn")
        return self.submit(fn, durable=durable).result()

    def submit(self, fn: Callable[[Session], T], *, durable: bool = False) -> concurrent.futures.Future[T]:
        """Queue fn for the writer thread; the future holds fn's result once committed."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._close_lock:
            if self._closed:
                raise StoreError("The store is closed.")
            self._queue.put((fn, durable, future))
        return future

    def _writer_loop(self) -> None:
        try:
            conn = self.engine.connect()
            conn.info[WRITER_FLAG] = True
        except BaseException as exc:  # noqa: BLE001 - handed to the opener, which re-raises it
            self._writer_error = exc
            self._writer_ready.set()
            return
        self._writer_ready.set()
        try:
            while (item := self._queue.get()) is not None:
                fn, durable, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    result = self._run_write(conn, fn, durable)
                except BaseException as exc:  # noqa: BLE001 - delivered to the caller through the future
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            conn.info.pop(WRITER_FLAG, None)
            conn.close()

    @staticmethod
    def _run_write(conn: Connection, fn: Callable[[Session], Any], durable: bool) -> Any:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        if durable:
            # set outside the transaction; applies to the commit below
            raw.execute("PRAGMA synchronous=FULL")
        try:
            with Session(bind=conn, expire_on_commit=False, autoflush=True) as session:
                result = fn(session)
                session.commit()
            return result
        finally:
            if conn.in_transaction():
                conn.rollback()
            if durable:
                raw.execute("PRAGMA synchronous=NORMAL")

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Finish queued writes, stop the writer thread, close every connection. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self.cache_key = None
            self._queue.put(None)
        self._writer.join()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(home: Path, password: str, *, create: bool = False) -> Store:
    """Unlock and open the store in `home`; with create=True make it if there is none yet.

    Raises WrongPassword, StoreCorrupt, StoreTooNew, DataDirError or StoreNotFound, each
    before anything on disk changed.
    """
    home = Path(home)
    check_data_dir(home)
    db_path = home / STORE_FILE_NAME
    if keys.keyfile_exists(home):
        data_key = keys.unwrap_data_key(home, password)
        if not db_path.exists() and not create:
            raise StoreNotFound(f"The data directory {home} holds a key file but no database ({db_path}).")
        return open_store_with_key(home, data_key)
    if db_path.exists():
        raise StoreCorrupt(
            f"The database {db_path} has no key file ({keys.keyfile_path(home)}) beside it, so it cannot "
            "be unlocked. Restore keys.json from a backup; nothing was changed."
        )
    if not create:
        raise StoreNotFound(f"There is no store in {home} yet.")
    preexisting = _existing(_db_files(db_path))
    data_key = keys.create_keyfile(home, password)
    try:
        return open_store_with_key(home, data_key)
    except BaseException:
        # a store that could not be made leaves nothing behind
        _remove_created((keys.keyfile_path(home), *_db_files(db_path)), preexisting)
        raise


def derive_cache_key(data_key: bytes) -> bytes:
    """A separate 256-bit key for caches (HMAC-SHA256 of the data key with a fixed label): a cache
    file never shares the database's key, and the key follows the data key through password changes."""
    return hmac.new(data_key, b"field-workstation cache key v1", hashlib.sha256).digest()


def open_store_with_key(home: Path, data_key: bytes) -> Store:
    """Open the store in `home` with an already unwrapped data key (creates the file if absent)."""
    home = Path(home)
    check_data_dir(home)
    db_path = home / STORE_FILE_NAME
    existed = db_path.exists()
    preexisting = _existing(_db_files(db_path))
    if existed:
        _check_file_header(db_path)
    else:
        _create_private_file(db_path)
    engine = make_engine(db_path, data_key)
    try:
        verify_key_and_file(engine, db_path)
        backup = upgrade_to_head(engine, db_path, home)
        store = Store(home, db_path, engine, cache_key=derive_cache_key(data_key))
    except BaseException as exc:
        engine.dispose()
        if not existed:  # an existing file's -wal/-shm are SQLite's to clean up on close
            _remove_created(_db_files(db_path), preexisting)
        failure = _disk_failure(exc)
        if failure is not None:
            raise DataDirError(
                f"The database {db_path} could not be read or written ({failure}): the disk is full, "
                "read-only, failing or was removed; the file is not damaged. Nothing was changed; "
                "free space or check the disk, then try again."
            ) from None
        if isinstance(exc, SADatabaseError | sqlcipher.DatabaseError):
            raise StoreCorrupt(
                f"The database {db_path} is damaged ({_sqlite_reason(exc)}). Nothing was changed; "
                f"restore it from {home / 'backups'} or re-sync this workstation."
            ) from None
        raise
    store.backup_made = backup
    return store


def check_data_dir(home: Path) -> None:
    """DataDirError unless `home` is an existing, writable directory on a writable file system."""
    if not home.exists():
        raise DataDirError(f"The data directory {home} does not exist.")
    if not home.is_dir():
        raise DataDirError(f"The data directory {home} is not a directory.")
    read_only_fs = hasattr(os, "statvfs") and bool(os.statvfs(home).f_flag & os.ST_RDONLY)
    if read_only_fs or not os.access(home, os.W_OK | os.X_OK):
        raise DataDirError(f"The data directory {home} is read-only; the store needs to write there.")
    mode = home.stat().st_mode
    if not stat.S_ISDIR(mode):
        raise DataDirError(f"The data directory {home} is not a directory.")


def _db_files(db_path: Path) -> tuple[Path, ...]:
    return (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm"))


def _existing(paths: tuple[Path, ...]) -> set[Path]:
    return {path for path in paths if os.path.lexists(path)}


def _remove_created(paths: tuple[Path, ...], preexisting: set[Path]) -> None:
    """Delete the files among `paths` that this open created (never anything that was there)."""
    for path in paths:
        if path not in preexisting and path.is_file():
            path.unlink(missing_ok=True)


def _create_private_file(db_path: Path) -> None:
    # SQLite gives -wal and -shm the main file's mode, so owner-only here covers all three.
    try:
        os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise DataDirError(f"Cannot create the database {db_path}: {exc.strerror}.") from None


def _check_file_header(db_path: Path) -> None:
    try:
        with open(db_path, "rb") as fh:
            head = fh.read(len(SQLITE_PLAINTEXT_HEADER))
    except OSError as exc:
        raise DataDirError(f"Cannot read the database {db_path}: {exc.strerror}.") from None
    if head == SQLITE_PLAINTEXT_HEADER:
        raise StoreCorrupt(
            f"The database {db_path} is not encrypted; refusing to use it. Nothing was changed."
        )
    if len(head) == 0:
        raise StoreCorrupt(f"The database {db_path} is empty (0 bytes). Nothing was changed.")


# SQLite primary result codes that say the disk failed, not that the file is damaged:
# SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN
_DISK_FAILURE_CODES = frozenset({8, 10, 13, 14})


def _disk_failure(exc: BaseException) -> str | None:
    """SQLite's message when `exc` is a disk failure (a transient EIO or a full disk must not be
    reported as a damaged database to restore from backup), else None."""
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _DISK_FAILURE_CODES:
        return str(orig)
    return None


def _sqlite_reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    reason = str(orig) if orig is not None else str(exc)
    if "not a database" in reason:
        return "it cannot be decrypted: damaged, truncated, or not made with this key file"
    return reason
