"""`workstation caseload [--search TEXT] [--limit N] [--json]`: the local caseload, offline.

Columns: case number, name, risk, device status, last fix age, open alerts.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

NAME = "caseload"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="list the local caseload (works offline)",
        description="The participants in the local store, sorted by name; --search matches words of "
        "the name, case number, address or phone.",
    )
    parser.add_argument("--search", help="words to search for")
    parser.add_argument("--limit", type=int, help="at most N rows")
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.add_argument("--user", help="officer user name (for the audit trail)")


def device_status(row: Any) -> str:
    if row.device_id is None:
        return "no device"
    # a phone app has no strap: its strap state is "not_applicable", which reads as "ok" here
    strap = row.strap if row.strap not in (None, "not_applicable") else "ok"
    parts = [f"{row.device_kind or 'device'} {strap}" if strap != "ok" else (row.device_kind or "device")]
    if row.battery_pct is not None:
        parts.append(f"{row.battery_pct}%{' charging' if row.charging else ''}")
    return ", ".join(parts)


def fix_age_s(row: Any, now: datetime) -> int | None:
    return None if row.last_fix_time is None else int((now - row.last_fix_time).total_seconds())


def human_age(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{max(seconds, 0)} s ago"


def run(args: argparse.Namespace) -> int:
    from local_db import audit as audit_log
    from local_db.queries import caseload_rows
    from local_db.timeutil import utc_now
    from workstation import config as config_mod
    from workstation.access_audit import search_target
    from workstation.cli import read_password
    from workstation.session import WorkstationSession

    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    with WorkstationSession.open_offline(config, read_password(), args.user) as session:
        store = session.store

        def read():
            with store.read_session() as db:
                return caseload_rows(db, args.search, args.limit)

        # AU-2: the whole-caseload listing and a search are both accesses to participant data; each is
        # audited first, and nothing is read if the audit row cannot be written (AccessRefused).
        event, target = ("search", search_target(args.search)) if args.search else ("view_participant", "caseload")
        rows = audit_log.audited_access(store, event, target, read, detail="cli caseload")
    now = utc_now()
    out = [
        {
            "case_number": r.case_number,
            "name": f"{r.last_name}, {r.first_name}",
            "risk": r.risk_level,
            "device_status": device_status(r),
            "last_fix_age_s": fix_age_s(r, now),
            "open_alerts": r.open_alerts,
        }
        for r in rows
    ]
    if args.json:
        print(json.dumps(out))
        return 0
    for r in out:
        print(
            f"{r['case_number']:<18} {r['name'][:32]:<32} {r['risk']:<6} {r['device_status'][:24]:<24} "
            f"{human_age(r['last_fix_age_s']):>12} {r['open_alerts']:>3} alerts"
        )
    print(f"{len(out)} participant(s)")
    return 0
