"""`workstation sync --server URL --user NAME [--json]`: log in if needed, push the outbox, pull.

Exit 0 when everything was sent and received; 1 with a one-line reason otherwise (whatever was
applied before the failure is kept, and the next run resumes from there).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

NAME = "sync"
SUMMARY_KEYS = (
    "participants", "devices", "changes_applied", "actions_sent", "actions_applied",
    "actions_conflict", "actions_rejected", "bytes_down", "bytes_up", "seconds",
)  # fmt: skip


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="sync with the agency server (push queued actions, pull the caseload)",
        description="Log in to the server (the first login creates the encrypted local store), send "
        "queued actions, then bring the caseload up to date. Password from WORKSTATION_PASSWORD or a prompt.",
    )
    parser.add_argument("--server", help="server URL (default: server_url from the configuration)")
    parser.add_argument("--user", required=True, help="officer user name")
    parser.add_argument("--one-time-code", help="one-time code, where the agency requires one")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from workstation import config as config_mod
    from workstation.cli import read_password
    from workstation.session import WorkstationSession
    from workstation.sync.errors import SyncError

    config = config_mod.load_config(home=config_mod.ensure_data_dir(create=True))
    if not (args.server or config.server_url):
        print("workstation sync: no server: pass --server URL or set server_url", file=sys.stderr)
        return 1
    try:
        session = WorkstationSession.open(
            config, args.user, read_password(), server_url=args.server, one_time_code=args.one_time_code
        )
    except SyncError as exc:
        print(f"workstation sync: {exc}", file=sys.stderr)
        return 1
    with session:
        if session.offline_reason is not None:
            print(f"workstation sync: could not log in to the server: {session.offline_reason}", file=sys.stderr)
            return 1
        summary = session.sync_now()
    data = summary.as_json()
    if args.json:
        print(json.dumps({key: data[key] for key in SUMMARY_KEYS} | {"ok": summary.ok, "error": summary.error}))
    else:
        print(
            f"{summary.participants} participants, {summary.devices} devices; "
            f"{summary.changes_applied} changes received, {summary.actions_sent} actions sent "
            f"({summary.actions_applied} applied, {summary.actions_conflict} conflicts, "
            f"{summary.actions_rejected} rejected); {summary.bytes_down} bytes down, {summary.bytes_up} up, "
            f"{summary.seconds:.1f} s"
        )
    if summary.audit_chain_break:
        # AU-9: a break is reported, never hidden (the sync itself went through)
        print(f"workstation sync: audit trail: {summary.audit_chain_break}", file=sys.stderr)
    if not summary.ok:
        print(f"workstation sync: stopped: {summary.error}", file=sys.stderr)
        return 1
    return 0
