"""A participant's track on demand: fetched from the server for a window, kept in the store.

The live feed holds only the fixes this laptop received while it ran; the track a curfew check
needs (last night's) is on the server. `track()` asks the server for the window (GET
/v1/participants/{case}/track?since=&until=), stores the positions in the encrypted store within
the retention period (older fixes are not kept: the purge would remove them anyway), then reads the
window from the store. Without the server it shows what the store holds and says so.

Blocking (network, store): call from a worker, never the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from local_db.models import Participant, Position
from local_db.store import Store
from local_db.timeutil import to_db, utc_now
from workstation import protocol as p
from workstation.sync.errors import SyncError
from workstation.sync.http import ServerClient
from workstation.sync.rows import position_row

#: Most fixes one answer may hold (the server's own limit); a longer window is cut, and says so.
SERVER_LIMIT = 50_000
#: Most points handed to the map for one track.
SHOWN_LIMIT = 20_000


class PointDetail(NamedTuple):
    """What the store knows of one track point beyond where and when: its provenance."""

    accuracy_m: float
    flags: tuple[str, ...]  # workstation.protocol.PositionFlag
    via: str  # "osmand", "gateway:NAME", "simulator"; "" when the server did not say
    received_at: datetime | None  # naive UTC


@dataclass(frozen=True)
class Track:
    participant_id: str
    since: datetime  # naive UTC, as stored
    until: datetime
    points: tuple[tuple[float, float, datetime], ...]  # (lat, lon, naive UTC fix time)
    #: the server's track was fetched for the window (False: offline or refused; what is held is shown)
    fetched: bool
    #: why not fetched, in words (empty when fetched)
    problem: str = ""
    #: one per point, in the same order
    details: tuple[PointDetail, ...] = ()

    def map_positions(self) -> list[dict[str, Any]]:
        """The points as the map's track layer takes them (maps.layers.track_payload)."""
        return [
            {"lat": lat, "lon": lon, "fix_time": t.isoformat() + "Z", "accuracy_m": d.accuracy_m,
             "flags": list(d.flags), "via": d.via,
             "received_at": d.received_at.isoformat() + "Z" if d.received_at else None}
            for (lat, lon, t), d in zip(self.points, self.details, strict=True)
        ]


def default_since(now: datetime, zone: tzinfo) -> datetime:
    """Yesterday 18:00 in `zone` (the evening a curfew check starts from), as naive UTC."""
    local = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(zone)
    evening = datetime.combine(local.date() - timedelta(days=1), time(18, 0), tzinfo=zone)
    return to_db(evening)


def fetch(store: Store, client: ServerClient, participant_id: str, since: datetime, until: datetime,
          retention_days: int) -> int:
    """Fetch the window from the server into the store; returns the positions received.

    Raises SyncError (offline, refused, invalid answer) having stored nothing."""
    with store.read_session() as session:
        case_number = session.scalar(select(Participant.case_number).where(Participant.id == participant_id))
    if case_number is None:
        raise SyncError("this participant is no longer on this caseload")
    body = client.get_json(
        f"/v1/participants/{case_number}/track",
        params={"since": _wire(since), "until": _wire(until)},
    )
    try:
        positions = p.TrackResponse.model_validate(body).positions
    except ValidationError as exc:
        raise SyncError(f"the server's track was not valid: {exc.errors()[0].get('msg', 'invalid')}") from None
    cutoff = utc_now() - timedelta(days=retention_days)
    rows = [position_row(fix) for fix in positions if fix.participant_id == participant_id]
    rows = [row for row in rows if row["fix_time"] >= cutoff]
    if rows:
        def write(session: Session) -> None:
            for start in range(0, len(rows), 2_000):
                session.execute(sqlite_insert(Position).on_conflict_do_nothing(index_elements=["id"]),
                                rows[start:start + 2_000])

        store.write(write)
    return len(positions)


def held(
    store: Store, participant_id: str, since: datetime, until: datetime
) -> tuple[tuple[tuple[float, float, datetime], ...], tuple[PointDetail, ...]]:
    """The positions the store holds for the window, oldest first: ((lat, lon, t), ...) and their details."""
    with store.read_session() as session:
        rows = session.execute(
            select(Position.lat, Position.lon, Position.fix_time, Position.accuracy_m, Position.flags, Position.via,
                   Position.received_at)
            .where(Position.participant_id == participant_id, Position.fix_time >= since, Position.fix_time < until)
            .order_by(Position.fix_time)
            .limit(SHOWN_LIMIT)
        ).all()
    points = tuple((lat, lon, t) for lat, lon, t, *_ in rows)
    details = tuple(
        PointDetail(accuracy or 0.0, tuple(str(f) for f in flags or ()), via or "", received)
        for *_, accuracy, flags, via, received in rows
    )
    return points, details


def track(store: Store, client: ServerClient | None, participant_id: str, since: datetime, until: datetime | None = None,
          retention_days: int = 7) -> Track:
    """Fetch (when a server is there) and read the window [since, until) (naive UTC; until: now)."""
    until = until or utc_now() + timedelta(minutes=1)
    problem = ""
    if client is None:
        problem = "offline"
    else:
        try:
            count = fetch(store, client, participant_id, since, until, retention_days)
            if count >= SERVER_LIMIT:
                problem = f"the server sent its first {SERVER_LIMIT:,} fixes of the window only"
        except SyncError as exc:
            problem = str(exc) or "the server could not be reached"
    points, details = held(store, participant_id, since, until)
    return Track(participant_id, since, until, points, fetched=not problem or problem.startswith("the server sent"),
                 problem=problem, details=details)


def describe(result: Track, when: str) -> str:
    """One line for the officer: what the map shows and, offline, that it is only what is held.
    `when` is the window's start as the officer reads it (local time)."""
    n = len(result.points)
    what = f"{n:,} fix{'es' if n != 1 else ''} since {when}"
    if result.fetched:
        return f"Track: {what} from the server." + (f" Note: {result.problem}." if result.problem else "")
    return f"Track not fetched ({result.problem}): showing what this laptop holds, {what}."


def _wire(value: datetime) -> str:
    return value.isoformat() + ("Z" if value.tzinfo is None else "")

