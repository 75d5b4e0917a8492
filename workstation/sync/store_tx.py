"""Small helpers for running sync work through the store's single writer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")


def without_foreign_keys(fn: Callable[[Session], T]) -> Callable[[Session], T]:
    """Wrap a Store.write() function so it runs with SQLite foreign-key checks off.

    Why: the change feed is consistent only at its end; a page may carry a device whose
    participant arrives in a later page. SQLite ignores `PRAGMA foreign_keys` inside a
    transaction, so the wrapper switches it off before the first statement, commits the work
    itself, and switches it back on before returning; the store's own commit afterwards has
    nothing left to do. Any failure rolls back and restores the pragma.
    """

    def run(session: Session) -> T:
        if session.in_transaction():
            return fn(session)  # cannot switch inside a transaction; run with checks on
        raw: Any = session.get_bind().connection.dbapi_connection  # type: ignore[union-attr]
        raw.execute("PRAGMA foreign_keys = OFF")
        try:
            result = fn(session)
            session.commit()
            return result
        finally:
            if session.in_transaction():
                session.rollback()
            raw.execute("PRAGMA foreign_keys = ON")

    return run
