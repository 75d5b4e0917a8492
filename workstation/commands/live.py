"""`workstation live --for SECONDS --user NAME [--server URL] [--json]`: run the live feed into the store.

Logs in, runs the live feed (fixes, device status, alerts) into the local store for SECONDS and
exits with what it received: the headless twin of the window's live map, for scripts and agency
tests. Only the local caseload's devices are kept (run `workstation sync` first).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

NAME = "live"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="run the live feed into the local store for a while, then exit",
        description="Log in, write live fixes and alerts into the local store for SECONDS, print what came.",
    )
    parser.add_argument("--for", dest="seconds", type=float, required=True, metavar="SECONDS",
                        help="how long to listen (seconds)")
    parser.add_argument("--server", help="server URL (default: server_url from the configuration)")
    parser.add_argument("--user", required=True, help="officer user name")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from workstation import config as config_mod
    from workstation.changes import Changes
    from workstation.cli import read_password
    from workstation.session import WorkstationSession
    from workstation.sync.errors import SyncError

    if not 0 < args.seconds <= 86_400:
        print("workstation live: --for takes 0 < SECONDS <= 86400", file=sys.stderr)
        return 2
    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    if not (args.server or config.server_url):
        print("workstation live: no server: pass --server URL or set server_url", file=sys.stderr)
        return 1
    try:
        session = WorkstationSession.open(config, args.user, read_password(), server_url=args.server)
    except SyncError as exc:
        print(f"workstation live: {exc}", file=sys.stderr)
        return 1
    devices: set[str] = set()
    #: alert id -> the incident it belongs to (its own id when the server grouped it in none)
    alerts: dict[str, str] = {}
    batches = 0

    def received(changes: Changes) -> None:
        nonlocal batches
        batches += 1
        devices.update(changes.devices)
        alerts.update((a.id, a.incident_id or a.id) for a in changes.alert_values)

    with session:
        if session.offline_reason is not None:
            print(f"workstation live: could not log in to the server: {session.offline_reason}", file=sys.stderr)
            return 1
        feed = session.start_live(received)
        connected = feed.connected.wait(min(args.seconds, 15.0))
        deadline = time.monotonic() + args.seconds
        try:
            while time.monotonic() < deadline:
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        finally:
            session.stop_live()
        events = feed.events_received
    incidents = sorted(set(alerts.values()))
    summary = {"seconds": args.seconds, "connected": connected, "events": events, "batches_written": batches,
               "devices_updated": len(devices), "alerts": sorted(alerts), "incidents": incidents}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{events} events in {args.seconds:g} s: {len(devices)} devices updated, {len(alerts)} alerts"
              + ("" if connected else " (never connected)"))
        for incident_id in incidents:
            print(f"incident {incident_id}")
    return 0 if connected else 1
