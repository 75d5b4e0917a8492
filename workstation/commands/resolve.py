"""`workstation resolve INCIDENT_ID --note TEXT [--resolution KIND]`: resolve an incident offline.

The headless twin of Incident -> Resolve (Ctrl+E), with the same rules: a tamper incident is not
resolved without a note. Prints the action ids; they are sent with the next sync.
"""

from __future__ import annotations

import argparse
from typing import Any

NAME = "resolve"
RESOLUTIONS = ("resolved", "false_alarm", "device_fault", "participant_contacted")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="resolve an incident (works offline; sent with the next sync)",
        description="Queue a resolve of every unresolved alert of INCIDENT_ID and print the action ids.",
    )
    parser.add_argument("incident_id", metavar="INCIDENT_ID")
    parser.add_argument("--note", required=True, help="what was found and done (required for tamper incidents)")
    parser.add_argument("--resolution", choices=RESOLUTIONS, default="resolved")
    parser.add_argument("--user", help="officer user name (for the audit trail)")


def run(args: argparse.Namespace) -> int:
    from workstation.commands.incident_command import queue_incident_action
    from workstation.incident_actions import resolve_incident

    return queue_incident_action(
        NAME, args, lambda store: resolve_incident(store, args.incident_id, args.note, args.resolution)
    )
