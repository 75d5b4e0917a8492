"""`workstation outbox [--json]`: the queued actions with their states (oldest first)."""

from __future__ import annotations

import argparse
import json
from typing import Any

NAME = "outbox"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="list the actions waiting for, or answered by, the server",
        description="Every action in the local outbox: queued, sending, done, conflict, rejected, discarded.",
    )
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.add_argument("--state", action="append", help="only these states (repeatable)")
    parser.add_argument("--user", help="officer user name (for the audit trail)")


def run(args: argparse.Namespace) -> int:
    from workstation import config as config_mod
    from workstation.cli import read_password
    from workstation.session import WorkstationSession

    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    with WorkstationSession.open_offline(config, read_password(), args.user) as session:
        rows = session.outbox(tuple(args.state) if args.state else None)
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    if not rows:
        print("the outbox is empty")
    for row in rows:
        problem = f"  ({row['last_error']})" if row["last_error"] else ""
        print(f"{row['seq']:>6}  {row['state']:<9} {row['kind']:<24} {row['target']:<20} {row['id']}{problem}")
    return 0
