"""Read queries over the store that return plain values (no ORM rows leave local_db this way).

caseload_rows() is the officer's whole caseload in one statement: each participant with its
primary device (the one with the newest fix), open alert count and next scheduled appointment.
Search is prefix full-text search over the participant_fts index: every word typed must start
a word of the name, case number, address or phone ("gar mar" finds "Maria Garcia").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.orm import Session

from local_db.timeutil import utc_now


@dataclass(frozen=True, slots=True)
class CaseloadRow:
    participant_id: str
    case_number: str
    first_name: str
    last_name: str
    risk_level: str
    device_id: str | None
    device_kind: str | None
    battery_pct: int | None
    charging: bool | None
    strap: str | None
    last_fix_time: datetime | None  # naive UTC, like every time in the store
    last_lat: float | None
    last_lon: float | None
    last_accuracy_m: float | None
    open_alerts: int  # alerts in state "open" (not yet acknowledged or resolved)
    next_appointment_at: datetime | None  # earliest scheduled appointment from now on (naive UTC)
    next_appointment_kind: str | None
    legal_flags: tuple[str, ...]
    address: str
    phone: str


# Window functions pick one row per participant; everything is joined once, so 7,000
# participants cost one pass over each table instead of 7,000 correlated lookups.
_CASELOAD_SQL = """
WITH primary_device AS (
    SELECT participant_id, id, kind, battery_pct, charging, strap,
           last_fix_time, last_lat, last_lon, last_accuracy_m,
           row_number() OVER (
               PARTITION BY participant_id
               ORDER BY last_fix_time IS NULL, last_fix_time DESC, id
           ) AS rank
    FROM device {device_filter}
),
open_alerts AS (
    SELECT participant_id, count(*) AS n FROM alert
    WHERE state = 'open' {alert_filter}
    GROUP BY participant_id
),
next_appointment AS (
    SELECT participant_id, starts_at, kind,
           row_number() OVER (PARTITION BY participant_id ORDER BY starts_at, id) AS rank
    FROM appointment
    WHERE status = 'scheduled' AND starts_at >= :now {appointment_filter}
)
SELECT p.id, p.case_number, p.first_name, p.last_name, p.risk_level,
       d.id, d.kind, d.battery_pct, d.charging, d.strap,
       d.last_fix_time, d.last_lat, d.last_lon, d.last_accuracy_m,
       coalesce(a.n, 0), n.starts_at, n.kind, p.legal_flags, p.address, p.phone
FROM participant AS p
LEFT JOIN primary_device AS d ON d.participant_id = p.id AND d.rank = 1
LEFT JOIN open_alerts AS a ON a.participant_id = p.id
LEFT JOIN next_appointment AS n ON n.participant_id = p.id AND n.rank = 1
{participant_filter}
ORDER BY p.last_name, p.first_name, p.case_number
{limit}
"""

# With a search, restrict every sub-query to the matching participants first, so a search
# touches only the rows it shows.
_MATCHING = "(SELECT id FROM participant WHERE rowid IN (SELECT rowid FROM participant_fts WHERE participant_fts MATCH :match))"


def fts_prefix_query(search: str) -> str | None:
    """User text -> FTS5 query where each word is a quoted prefix term; None when nothing to search.

    Quoting makes any input safe (FTS5 operators and punctuation become plain text).
    """
    words = re.findall(r"\w+", search.casefold())
    if not words:
        return None
    return " ".join(f'"{word}"*' for word in words)


def caseload_rows(
    session: Session, search: str | None = None, limit: int | None = None, *, now: datetime | None = None
) -> list[CaseloadRow]:
    """The caseload (optionally only participants matching `search`), sorted by name."""
    params: dict[str, Any] = {"now": now or utc_now()}
    match = fts_prefix_query(search) if search else None
    filters = {"device_filter": "", "alert_filter": "", "appointment_filter": "", "participant_filter": ""}
    if match is not None:
        params["match"] = match
        filters = {
            "device_filter": f"WHERE participant_id IN {_MATCHING}",
            "alert_filter": f"AND participant_id IN {_MATCHING}",
            "appointment_filter": f"AND participant_id IN {_MATCHING}",
            "participant_filter": f"WHERE p.id IN {_MATCHING}",
        }
    limit_sql = ""
    if limit is not None:
        params["limit"] = max(0, int(limit))
        limit_sql = "LIMIT :limit"
    sql = _CASELOAD_SQL.format(limit=limit_sql, **filters)
    statement = text(sql).bindparams(bindparam("now", type_=DateTime()))
    result = session.execute(statement, params)
    return [_row(values) for values in result]


def _row(values: Any) -> CaseloadRow:
    (pid, case_number, first, last, risk, dev_id, dev_kind, battery, charging, strap,
     fix_time, lat, lon, accuracy, alerts, appt_at, appt_kind, flags, address, phone) = values  # fmt: skip
    return CaseloadRow(
        participant_id=pid,
        case_number=case_number,
        first_name=first,
        last_name=last,
        risk_level=risk,
        device_id=dev_id,
        device_kind=dev_kind,
        battery_pct=battery,
        charging=None if charging is None else bool(charging),
        strap=strap,
        last_fix_time=_as_datetime(fix_time),
        last_lat=lat,
        last_lon=lon,
        last_accuracy_m=accuracy,
        open_alerts=int(alerts),
        next_appointment_at=_as_datetime(appt_at),
        next_appointment_kind=appt_kind,
        legal_flags=tuple(_json_list(flags)),
        address=address,
        phone=phone,
    )


def _as_datetime(value: Any) -> datetime | None:
    # text() results come back as the stored ISO strings; the ORM would have parsed them
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _json_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return [str(v) for v in value]


def rebuild_search_index(session: Session) -> None:
    """Rebuild participant_fts from the participant table (needed after VACUUM, which may renumber rowids)."""
    session.execute(text("INSERT INTO participant_fts(participant_fts) VALUES ('rebuild')"))
