"""`workstation note CASE_NUMBER TEXT`: queue a note offline; prints the action id.

The note is in the participant's local timeline at once (pending) and reaches the server with
the next sync, exactly once.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

NAME = "note"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="add a note to a participant (works offline; sent with the next sync)",
        description="Queue a note for CASE_NUMBER in the local outbox and print its action id.",
    )
    parser.add_argument("case_number", metavar="CASE_NUMBER")
    parser.add_argument("text", metavar="TEXT")
    parser.add_argument("--user", help="officer user name (for the audit trail)")


def run(args: argparse.Namespace) -> int:
    from workstation import actions
    from workstation import config as config_mod
    from workstation.cli import read_password
    from workstation.session import WorkstationSession

    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    with WorkstationSession.open_offline(config, read_password(), args.user) as session:
        try:
            action_id = actions.add_note(session.store, args.case_number, args.text)
        except actions.ActionInvalid as exc:
            print(f"workstation note: {exc}", file=sys.stderr)
            return 1
    print(action_id)
    return 0
