"""`workstation caseload [--search TEXT] [--limit N] [--json]`: the local caseload, offline.

Columns: case number, name, risk, device status, last fix age (and whether it is stale), open
alerts; --json adds device_problem. Rows and rules come from workstation.read, as in the GUI.
"""

from __future__ import annotations

import argparse
import json
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


def human_age(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{max(seconds, 0)} s ago"


def run(args: argparse.Namespace) -> int:
    from local_db.timeutil import utc_now
    from workstation import config as config_mod
    from workstation.cli import read_password
    from workstation.read.caseload import list_caseload
    from workstation.read.rules import device_status, display_name, fix_age_s, has_device_problem, is_stale
    from workstation.session import WorkstationSession

    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    with WorkstationSession.open_offline(config, read_password(), args.user) as session:
        rows = list_caseload(session.store, args.search, args.limit)
    now = utc_now()
    out: list[dict[str, Any]] = [
        {
            "case_number": r.case_number,
            "name": display_name(r),
            "risk": r.risk_level,
            "device_status": device_status(r),
            "last_fix_age_s": fix_age_s(r, now),
            "stale": is_stale(r, now),
            "device_problem": has_device_problem(r, now),
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
            f"{human_age(r['last_fix_age_s']):>12}{' stale' if r['stale'] else '      '} {r['open_alerts']:>3} alerts"
        )
    print(f"{len(out)} participant(s)")
    return 0
