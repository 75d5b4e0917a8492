"""Driver-level SQL for the hot paths (fix ingestion, change-feed appends), on SQLite and PostgreSQL.

SQLAlchemy Core spends ~20 us per row building parameters for executemany; at 10,000+ fixes/s across four
statements that is most of the budget. These helpers hand plain tuples to the DB-API cursor instead.
SQL is written with `?` placeholders and the same ON CONFLICT syntax both engines accept. Bulk inserts
(positions) go through `copy_rows`: PostgreSQL's COPY, several times cheaper per row than INSERT.

Sequence numbers (change-feed seq, position id) come from the `counter` table, allocated in blocks with
`UPDATE ... RETURNING` inside the writer's transaction. On PostgreSQL the row lock on the counter also
makes concurrent writers commit in seq order, so a reader never sees seq N+1 before N (a cursor that
skipped N would lose it); on SQLite the process-wide write lock gives the same order.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


class Raw:
    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.postgres = connection.dialect.name == "postgresql"
        self.dbapi = connection.connection.dbapi_connection

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def fetchall(self, text: str, params: Sequence[Any] = ()) -> list[tuple]:
        cursor = self.dbapi.cursor()
        try:
            cursor.execute(self.sql(text), tuple(params))
            return cursor.fetchall()
        finally:
            cursor.close()

    def executemany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        cursor = self.dbapi.cursor()
        try:
            if self.postgres:
                from psycopg2.extras import execute_batch

                execute_batch(cursor, self.sql(text), rows, page_size=1000)
            else:
                cursor.executemany(text, rows)
        finally:
            cursor.close()

    def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows (datetimes as naive UTC): COPY on PostgreSQL, executemany INSERT on SQLite."""
        if not rows:
            return
        if not self.postgres:
            dt_param = self.dt_param
            self.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({self.placeholders(len(columns))})",
                [[dt_param(v) if isinstance(v, datetime) else v for v in row] for row in rows],
            )
            return
        text = "".join("\t".join(map(_copy_text, row)) + "\n" for row in rows)
        cursor = self.dbapi.cursor()
        try:
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO(text))
        finally:
            cursor.close()

    # Values crossing the driver boundary in the storage conventions SQLAlchemy uses for these columns.
    def dt_param(self, value: datetime | None) -> Any:
        if value is None or self.postgres:
            return value
        text = value.isoformat(" ")
        return text if value.microsecond else text + ".000000"

    @staticmethod
    def dt_value(value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(value)

    @staticmethod
    def json_value(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def placeholders(self, n: int) -> str:
        return ",".join(["?"] * n)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat(" ")
    return repr(value) if isinstance(value, float) else str(value)


def allocate(raw: Raw, name: str, n: int) -> int:
    """Reserve n consecutive numbers of counter `name`; returns the first."""
    (end,) = raw.fetchall("UPDATE counter SET value = value + ? WHERE name = ? RETURNING value", (n, name))[0]
    return end - n + 1
