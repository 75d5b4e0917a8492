"""`workstation incidents [--all | --view VIEW] [--kind K] [--risk R] [--age A] [--json]`: the
triage queue as the window shows it, offline.

By default what needs the officer (open or acknowledged, needing action), in queue order: due time
(overdue first), then severity, risk and recency (workstation.incidents.rank_key); --all adds the
incidents not needing action yet and those closed in the last 24 hours (auto-resolved included);
--view auto_resolved_today lists what cleared by itself today. The filters are the window's
(workstation.triage_queue), and combine.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from workstation.triage_queue import AGES, KINDS, RISKS, VIEWS

NAME = "incidents"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(NAME, help="print the triage queue (works offline)",
                                   description="The incidents in the local store, most urgent first.")
    parser.add_argument("--all", action="store_true", help="every incident, not only those needing action "
                        "(the same as --view all)")
    parser.add_argument("--view", choices=tuple(VIEWS), default=None, help="which list (default needs_action)")
    parser.add_argument("--kind", action="append", choices=tuple(KINDS), default=[],
                        help="only incidents of this family (repeat for several)")
    parser.add_argument("--risk", action="append", choices=tuple(RISKS), default=[],
                        help="only participants of this risk level (repeat for several)")
    parser.add_argument("--age", choices=tuple(AGES), default="any",
                        help="hour: opened in the last hour; today: on the agency's day; older: over a day ago")
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.add_argument("--user", help="officer user name (for the audit trail)")


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat() + "Z"


def run(args: argparse.Namespace) -> int:
    from local_db.timeutil import utc_now
    from workstation import config as config_mod
    from workstation.cli import read_password
    from workstation.read.caseload import load_caseload
    from workstation.session import WorkstationSession
    from workstation.triage_queue import QueueClock, QueueFilter, queue

    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    now = utc_now()
    with WorkstationSession.open_offline(config, read_password(), args.user) as session:
        snapshot = load_caseload(session.store, now, agency_time_zone=config.agency_time_zone)
    cases = {r.participant_id: (r.case_number, f"{r.last_name}, {r.first_name}") for r in snapshot.rows}
    view = args.view or ("all" if args.all else "needs_action")
    queue_filter = QueueFilter(age=args.age, kinds=frozenset(args.kind), risks=frozenset(args.risk))
    listed = queue(snapshot.incidents, view, queue_filter, QueueClock.at(now, config.agency_time_zone))
    out = [
        {
            "id": i.id, "case_number": cases.get(i.participant_id, ("", ""))[0],
            "name": cases.get(i.participant_id, ("", ""))[1], "title": i.title, "summary": i.summary,
            "severity": i.severity, "risk": i.risk_level,
            "state": "auto_resolved" if i.auto_resolved else i.state, "needs_action": i.needs_action,
            "due_at": _iso(i.due_at), "overdue": i.overdue(now), "opened_at": _iso(i.opened_at),
            "last_alert_at": _iso(i.last_at), "alerts": [a.id for a in i.alerts], "pending": i.pending,
            "resolved_by": i.resolved_by, "resolved_at": _iso(i.resolved_at), "resolution": i.resolution,
            "family": i.family,
            # an outage names every participant whose device fell silent
            "participants": [cases.get(p, ("", ""))[0] for p in i.participant_ids],
        }
        for i in listed
    ]
    if args.json:
        print(json.dumps(out))
        return 0
    for r in out:
        due = ("OVERDUE " if r["overdue"] else "due ") + str(r["due_at"] or "-")
        if r["state"] == "auto_resolved":  # when and why it cleared, not a deadline
            due = f"at {r['resolved_at']}"
        name = str(r["name"])[:28]
        why = f" ({r['resolution']})" if r["state"] == "auto_resolved" else ""
        print(f"{r['case_number']:<18} {name:<28} {r['severity']:<8} {r['state']:<13} {due:<30} {r['summary']}{why}")
    print(f"{len(out)} incident(s)")
    return 0
