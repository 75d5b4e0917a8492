"""Rules-worker slots: which worker applies which partitions, and fencing one that lost its slot.

A cluster of N rules workers has N slots; slot s owns the FIXES partitions p with p % N == s. A worker
holds a slot by a PostgreSQL session advisory lock taken on a connection of its own, which does nothing
else. The lock goes the moment that session ends: the worker was killed (its socket closes with it) or
its machine or network went away (PostgreSQL's TCP keepalives, set short on that session, end it). A
standby worker, polling the free slots every POLL_S, then takes the slot over at the database's
position: no waiting for a supervisor to restart the dead process, and a slow worker (a loaded machine,
a long round) keeps its slot, since only the end of its session frees it.

Fencing: taking a slot bumps its epoch in `cluster_slot`, and every round of the holder reads its epoch
in the round's own transaction, FOR SHARE. A takeover therefore waits for a commit in flight and reads
the applied positions after it, and a worker that lost its slot without noticing (paused, cut off from
the database while its other connections lived) fails its next commit instead of applying a second
time what the new holder applies.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sync_server.db import Database, utcnow
from sync_server.models import ClusterSlot

POLL_S = 0.1  # a standby's check for a free slot: one indexed lock attempt per slot
#: advisory-lock namespace of the rules slots (the other int is the slot number)
_LOCK_SPACE = 0x52554C45
_TRY_LOCK = "SELECT pg_try_advisory_lock(%s, %s)"  # driver SQL: a standby runs it 10 times a second
#: the lock session's keepalives: a vanished machine frees its slot in about idle + interval x count s
_KEEPALIVES = {"tcp_keepalives_idle": 5, "tcp_keepalives_interval": 2, "tcp_keepalives_count": 3}


class Fenced(Exception):
    """The slot was taken over: this worker must not commit for it any more."""


def owned_partitions(slot: int, count: int, partitions: int) -> list[int]:
    return [p for p in range(partitions) if p % count == slot]


class SlotLease:
    """This worker's hold on at most one slot of `count`."""

    def __init__(self, db: Database, count: int) -> None:
        if db.is_sqlite:
            raise ValueError("rules workers need PostgreSQL (slots are PostgreSQL advisory locks)")
        self.db, self.count = db, count
        self.holder = f"{socket.gethostname()}:{id(self)}"
        self.slot: int | None = None
        self.epoch = 0
        self._connection: Connection | None = None

    def claim(self, preferred: int) -> int | None:
        """Take the first free slot from `preferred` on; None when every slot is held (stand by)."""
        if self.slot is not None:
            return self.slot
        try:
            connection = self._lock_connection()
            for k in range(self.count):
                slot = (preferred + k) % self.count
                if connection.exec_driver_sql(_TRY_LOCK, (_LOCK_SPACE, slot)).scalar():
                    self.slot, self.epoch = slot, self._bump(slot)
                    return slot
        except DBAPIError:  # the database is away: stand by until it is back
            self.release()
        return None

    def wait_for_slot(self, preferred: int, halt: threading.Event, standing_by: Callable[[], None]) -> int | None:
        """claim(), or else call `standing_by` and try again every POLL_S until a slot is free (then
        return it) or `halt` is set (None). A thread of its own: a standby costs ~1 ms of CPU a second."""
        slot = self.claim(preferred)
        if slot is None:
            standing_by()
        while slot is None and not halt.wait(POLL_S):
            slot = self.claim(preferred)
        return slot

    def _lock_connection(self) -> Connection:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._connection = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            for name, value in _KEEPALIVES.items():
                self._connection.exec_driver_sql(f"SET {name} = {int(value)}")
        return self._connection

    def _bump(self, slot: int) -> int:
        """A new epoch for `slot`: waits for a round of the previous holder that is committing."""
        with self.db.write() as session:
            epoch = session.scalar(
                update(ClusterSlot).where(ClusterSlot.slot == slot)
                .values(epoch=ClusterSlot.epoch + 1, holder=self.holder, claimed_at=utcnow())
                .returning(ClusterSlot.epoch)
            )
            if epoch is None:
                session.add(ClusterSlot(slot=slot, epoch=1, holder=self.holder, claimed_at=utcnow()))
                epoch = 1
        return epoch

    def check(self, session: Session) -> None:
        """In a round's transaction, before it writes: raise Fenced if the slot changed hands."""
        current = None if self.slot is None else session.scalar(
            select(ClusterSlot.epoch).where(ClusterSlot.slot == self.slot).with_for_update(read=True)
        )
        if current is None or current != self.epoch:
            raise Fenced(f"slot {self.slot} epoch {self.epoch} is now epoch {current}")

    def release(self) -> None:
        """Give the slot up by ending the lock's session (it may already be gone)."""
        self.slot = None
        if self._connection is not None:
            self._connection.invalidate()  # closes the session: back in the pool, it would keep the lock
            self._connection.close()
            self._connection = None


