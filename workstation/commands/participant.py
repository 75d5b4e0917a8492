"""`workstation participant CASE [--at ISO] --json`: one participant's record as the core sees it.

Each zone carries its schedule, its IANA `time_zone` and `in_effect_now` from the shared rule
(workstation.rules.schedule), so the output is the same whatever the laptop's TZ. Times are UTC.
The view is audited like the window's (view_participant).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

NAME = "participant"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(NAME, help="print one participant's record (works offline)",
                                   description="The record of the participant with this case number.")
    parser.add_argument("case", help="case number (or participant id)")
    parser.add_argument("--at", help="evaluate the schedules at this ISO time (default: now)")
    parser.add_argument("--json", action="store_true", help="print as JSON (the only format)")
    parser.add_argument("--user", help="officer user name (for the audit trail)")


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat() if hasattr(value, "isoformat") else value


def run(args: argparse.Namespace) -> int:
    from sqlalchemy import or_, select

    from local_db.models import Participant
    from workstation import config as config_mod
    from workstation.cli import read_password
    from workstation.read.record import load_participant
    from workstation.rules.schedule import schedule_in_effect
    from workstation.session import WorkstationSession

    try:
        at = datetime.fromisoformat(args.at.replace("Z", "+00:00")) if args.at else datetime.now(UTC)
    except ValueError:
        print(f"workstation participant: --at {args.at!r} is not an ISO time", file=sys.stderr)
        return 2
    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    with WorkstationSession.open_offline(config, read_password(), args.user) as session:
        with session.store.read_session() as db:
            pid = db.scalar(select(Participant.id).where(
                or_(Participant.case_number == args.case, Participant.id == args.case)))
        record = load_participant(session.store, pid, agency_time_zone=config.agency_time_zone) if pid else None
    if record is None:
        print(f"workstation participant: there is no participant {args.case} in this caseload", file=sys.stderr)
        return 1
    out = {
        "id": record.id, "case_number": record.case_number, "first_name": record.first_name,
        "last_name": record.last_name, "risk_level": record.risk_level, "program": record.program,
        "address": record.address, "time_zone": record.time_zone, "evaluated_at": _iso(at),
        "devices": [{"id": d.id, "kind": d.kind, "serial": d.serial, "battery_pct": d.battery_pct,
                     "charging": d.charging, "strap": d.strap, "last_fix_time": _iso(d.last_fix_time),
                     "last_contact_at": _iso(d.last_contact_at)} for d in record.devices],
        "zones": [{"id": z.id, "name": z.name, "kind": z.kind, "shape": z.shape, "schedule": z.schedule,
                   "time_zone": z.time_zone, "in_effect_now": schedule_in_effect(z.schedule, at, z.time_zone)}
                  for z in record.zones],
        "appointments": [{"id": a.id, "kind": a.kind, "starts_at": _iso(a.starts_at), "place": a.place,
                          "status": a.status} for a in record.appointments],
        "alerts": [{"id": a.id, "kind": a.kind, "severity": a.severity, "state": a.state,
                    "opened_at": _iso(a.opened_at), "incident_id": a.incident_id} for a in record.alerts],
    }
    print(json.dumps(out, sort_keys=True))
    return 0
