"""UTC conversions at the edges of the store.

The store keeps timezone-naive UTC datetimes (SQLite has no time zone type). Code outside
local_db works with aware datetimes; these helpers are the only place the two meet.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


def utc_now() -> datetime:
    """Now, as the store keeps it: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


@overload
def to_db(moment: datetime) -> datetime: ...
@overload
def to_db(moment: None) -> None: ...
def to_db(moment: datetime | None) -> datetime | None:
    """Aware datetime (any zone) -> naive UTC for a column. Naive input is taken as UTC already."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def from_db(moment: datetime | None) -> datetime | None:
    """Naive UTC from a column -> aware UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
