"""The SQLCipher engine under the store: how a connection is keyed and configured.

Every new connection gets the raw data key (`PRAGMA key = "x'<hex>'"`: no KDF per connection),
foreign keys, synchronous=NORMAL and a busy timeout. The driver runs in autocommit mode so that
SQLAlchemy's "begin" event decides how each transaction starts: the writer connection takes the
write lock up front (BEGIN IMMEDIATE), readers take a deferred snapshot.
"""

from __future__ import annotations

from pathlib import Path

import sqlcipher3.dbapi2 as sqlcipher
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from local_db import keys
from local_db.errors import StoreCorrupt

SQLITE_PLAINTEXT_HEADER = b"SQLite format 3\x00"
#: How long a connection waits for a lock before SQLite reports busy (only other processes can
#: hold it for long: inside the app there is one writer).
BUSY_TIMEOUT_S = 30.0
#: Connection.info flag of the writer thread's connection.
WRITER_FLAG = "field_workstation_writer"


def make_engine(db_path: Path, data_key: bytes) -> Engine:
    if len(data_key) != keys.DATA_KEY_BYTES:
        raise ValueError("the data key must be 32 bytes")
    # SQLCipher raw key syntax: no PBKDF2 per connection, the key is used as is.
    key_pragma = f"PRAGMA key = \"x'{data_key.hex()}'\""

    def connect() -> sqlcipher.Connection:
        conn = sqlcipher.connect(
            str(db_path), timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
        )
        try:
            # SQLCipher otherwise logs every failed page decryption to stderr; the StoreError
            # raised for it is the one message the officer should see.
            conn.execute("PRAGMA cipher_log_level = NONE")
            conn.execute(key_pragma)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    engine = create_engine(
        f"sqlite:///{db_path}",
        module=sqlcipher,
        creator=connect,
        poolclass=QueuePool,
        pool_size=4,
        max_overflow=8,
        pool_pre_ping=False,
    )

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # The driver runs in autocommit mode (isolation_level=None) so that SQLAlchemy, not the
        # driver, decides where transactions start. The writer takes the write lock up front
        # (IMMEDIATE): a deferred upgrade can fail with "busy" without waiting.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(WRITER_FLAG) else "BEGIN")
        # Foreign keys are checked at commit: the models declare no relationships, so the ORM
        # does not order a flush parent-first, and a transaction is what must be consistent.
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")

    return engine


def verify_key_and_file(engine: Engine, db_path: Path) -> None:
    """Read the schema (fails on a wrong key or a damaged first page), switch on WAL, and check
    the file holds every page the database claims (a truncated copy otherwise opens fine)."""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("SELECT count(*) FROM sqlite_master").fetchone()
        mode = raw.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreCorrupt(f"Cannot switch {db_path} to WAL mode (got {mode!r}).")
        page_size = int(raw.execute("PRAGMA page_size").fetchone()[0])
    size = db_path.stat().st_size
    if size % page_size != 0:
        raise StoreCorrupt(f"The database {db_path} is truncated ({size} bytes). Nothing was changed.")


def checkpoint(engine: Engine) -> None:
    """Fold the write-ahead log into the main file and empty it (outside any transaction, which
    would otherwise pin a snapshot and stop the checkpoint short)."""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
