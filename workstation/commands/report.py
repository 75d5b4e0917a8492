"""`workstation report packet CASE --from ISO --to ISO --out FILE.pdf` and `workstation report day DATE --out FILE.pdf`.

Both work offline, from the local store only. The evidence packet (workstation.reports) is sealed with
this workstation's key; an `export` audit row is committed before the file is written, and the
command refuses (exit 1, nothing written) when it cannot be. The track map is drawn from the tile
store by the renderer the launcher hands in (ui.launcher: the core may not import maps); without
one the packet says the map is not available and lists the positions all the same.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAME = "report"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="write an evidence packet or a daily activity report as a sealed PDF (works offline)",
        description="Generate a court-ready PDF from the local store; check it with `workstation verify-packet`.",
    )
    kinds = parser.add_subparsers(dest="report_kind", metavar="KIND", required=True)
    packet = kinds.add_parser(
        "packet",
        help="evidence packet of one participant and time window",
        description="Header, participant, devices, zones, map of the track, positions with provenance, "
        "incidents and alerts, notes/contacts/visits, integrity; sealed with this workstation's key.",
    )
    packet.add_argument("case_number", metavar="CASE")
    packet.add_argument("--from", dest="start", required=True, metavar="ISO", help="window start, e.g. 2026-12-01T00:00-06:00")
    packet.add_argument("--to", dest="end", required=True, metavar="ISO", help="window end")
    packet.add_argument("--tz", help="IANA time zone to print times in (default: the participant's, from their zones)")
    packet.add_argument("--out", required=True, type=Path, metavar="FILE.pdf")
    packet.add_argument("--user", help="officer user name (for the audit trail)")
    day = kinds.add_parser("day", help="the officer's daily activity report",
                           description="Visits, contacts, check-ins, incidents handled and the outbox still pending.")
    day.add_argument("date", metavar="DATE", help="YYYY-MM-DD")
    day.add_argument("--tz", help="IANA time zone of the day (default: agency_time_zone)")
    day.add_argument("--out", required=True, type=Path, metavar="FILE.pdf")
    day.add_argument("--user", help="officer user name (for the audit trail)")


def run(args: argparse.Namespace, map_renderer_factory: Callable[..., Any] | None = None) -> int:
    from workstation import config as config_mod
    from workstation.cli import read_password
    from workstation.reports import export, window
    from workstation.reports.contents import ParticipantNotHeld
    from workstation.session import WorkstationSession

    out: Path = args.out
    if not out.parent.is_dir():
        print(f"workstation report: the folder {out.parent} does not exist", file=sys.stderr)
        return 1
    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    with WorkstationSession.open_offline(config, read_password(), args.user) as session:
        identity = export.Identity(
            officer_username=session.auth.username, workstation_id=config.workstation_id or "unknown-workstation",
            agency=config.agency_name, retention_days=config.retention_days, agency_time_zone=config.agency_time_zone,
        )
        try:
            if args.report_kind == "day":
                span = window.day_window(args.date, args.tz or config.agency_time_zone)
            else:
                zone = args.tz or export.packet_zone(session.store, args.case_number, identity)
                span = window.parse_window(args.start, args.end, zone)
        except window.WindowInvalid as exc:
            print(f"workstation report: {exc}", file=sys.stderr)
            return 2
        if args.report_kind == "day":
            report = export.generate_day_report(session.store, span, identity)
        else:
            renderer = map_renderer_factory(session.home, session.store.cache_key) if map_renderer_factory else None
            try:
                report = export.generate_packet(session.store, args.case_number, span, identity, map_renderer=renderer)
            except ParticipantNotHeld as exc:
                print(f"workstation report: {exc}", file=sys.stderr)
                return 1
            finally:
                if renderer is not None and hasattr(renderer, "close"):
                    renderer.close()
        export.export_report(session.store, report, out, via=f"cli report {args.report_kind}")
    print(f"{out}: {report.summary}; packet {report.packet_id}; manifest SHA-256 {report.manifest_sha256}")
    return 0
