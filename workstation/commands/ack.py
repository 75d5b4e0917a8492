"""`workstation ack INCIDENT_ID [--note TEXT]`: acknowledge an incident offline; prints the action ids.

The headless twin of Incident -> Acknowledge (Ctrl+K): each open alert of the incident gets an
acknowledge in the outbox, sent with the next sync (workstation.incident_actions).
"""

from __future__ import annotations

import argparse
from typing import Any

NAME = "ack"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="acknowledge an incident (works offline; sent with the next sync)",
        description="Queue an acknowledge of every open alert of INCIDENT_ID and print the action ids.",
    )
    parser.add_argument("incident_id", metavar="INCIDENT_ID")
    parser.add_argument("--note", default="", help="a note to go with the acknowledge")
    parser.add_argument("--user", help="officer user name (for the audit trail)")


def run(args: argparse.Namespace) -> int:
    from workstation.commands.incident_command import queue_incident_action
    from workstation.incident_actions import acknowledge_incident

    return queue_incident_action(NAME, args, lambda store: acknowledge_incident(store, args.incident_id, args.note))
