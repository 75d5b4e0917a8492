"""`sync-server` / `python -m sync_server`: the reference server's command line.

    sync-server [--host H] [--port N] [--db URL] [--seed --officers N --caseload M --password P
                [--random-seed S]] [--simulate] [--speed X] [--watchdog SECONDS]
                [--parent-pid PID] [--die-with-parent] [--remove-when-orphaned DIR]
    sync-server unlock USER [--db URL]
    sync-server disable USER [--db URL] / sync-server enable USER [--db URL]
    sync-server mfa enrol USER [--db URL] / sync-server mfa remove USER [--db URL]
    sync-server revoke-workstation WORKSTATION_ID [--db URL]
    sync-server keys [--db URL]              prints {"gateways": [...]} (their keys are shown once, when made)
    sync-server admin-key [--db URL]         makes a new admin key and prints it (the server keeps its hash)
    sync-server device-key SERIAL [--db URL] gives the device a new key and prints it (the old one stops working)
    sync-server enrol-device SERIAL CASE_NUMBER [--kind K] [--gateway NAME] [--db URL]   prints its key once
    sync-server gateway add NAME [--db URL]  creates a vendor gateway (or re-keys it) and prints its key
    sync-server gateway assign NAME SERIAL... [--db URL]   lets the gateway report for these devices
    sync-server openapi [--write]            prints (or writes sync_server/openapi.json)
    sync-server receive | rules | api ...    a role of the scaled-out cluster (sync_server/cluster/roles.py)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sync_server.agency import add_agency_arguments, agency_settings
from sync_server.db import Database, default_db_url
from workstation.rules.schedule import is_time_zone

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
#: sub-commands that name an officer by user name
USER_COMMANDS = ("unlock", "disable", "enable")
DEVICE_COMMANDS = ("device-key", "enrol-device", "gateway")
ADMIN_COMMANDS = (*USER_COMMANDS, "mfa", "revoke-workstation", "keys", "admin-key", "openapi", *DEVICE_COMMANDS)
#: the seeded officers' password, so it need not appear in argv (ps, shell history)
SEED_PASSWORD_ENV = "SYNC_SERVER_SEED_PASSWORD"


def openapi_text() -> str:
    from sync_server.app import create_app

    db = Database("sqlite://")  # never touched: building the schema needs no database
    return json.dumps(create_app(db).openapi(), indent=1, sort_keys=True) + "\n"


def _serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sync-server",
        description="Field Workstation reference sync server",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="administration (unlock, revoke-workstation and keys take --db URL):\n"
        "  sync-server unlock USER                 release an account locked after failed logins\n"
        "  sync-server disable USER                stop everything of an officer at once: logins, tokens, streams\n"
        "  sync-server enable USER                 restore a disabled officer\n"
        "  sync-server mfa enrol USER              require a TOTP code at login; prints the otpauth URI\n"
        "  sync-server mfa remove USER             stop requiring it\n"
        "  sync-server revoke-workstation ID       the workstation is told to wipe at its next request\n"
        "  sync-server keys                        list the gateways as JSON (keys are shown once, when made)\n"
        "  sync-server admin-key                   replace the admin key; prints the new one, once\n"
        "  sync-server device-key SERIAL           give a device a new key and print it\n"
        "  sync-server enrol-device SERIAL CASE    add a device to a participant and print its key once\n"
        "  sync-server gateway add NAME            create a vendor gateway and print its key\n"
        "  sync-server gateway assign NAME SERIAL...  let a gateway report for these devices\n"
        "  sync-server openapi [--write]           print (or write sync_server/openapi.json)\n"
        "cluster roles (docs/scaling.md):\n"
        "  sync-server receive | rules | api --db URL --nats URL ...",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--db", default=None, help="SQLAlchemy URL (default: sqlite file ./sync_server.db)")
    p.add_argument("--seed", action="store_true", help="create officers and caseloads (idempotent)")
    p.add_argument("--officers", type=int, default=2)
    p.add_argument("--caseload", type=int, default=50)
    p.add_argument("--password", default=None,
                   help=f"password of every seeded officer (the demo's); prefer ${SEED_PASSWORD_ENV} or "
                   "--password-stdin, which keep it out of the process list")
    p.add_argument("--password-stdin", action="store_true", help="read the seeded officers' password from stdin")
    p.add_argument("--docs", action="store_true", help="serve the interactive API pages /docs and /redoc")
    p.add_argument("--random-seed", type=int, default=1)
    p.add_argument("--todays-visits", type=int, default=0, metavar="N",
                   help="with --seed: give each officer's first N participants (up to 8) an appointment today")
    add_agency_arguments(p)
    p.add_argument("--agency-time-zone", default=None, metavar="IANA_ZONE",
                   help="time zone of zones and schedules that name none (default: "
                        "$SYNC_SERVER_AGENCY_TIME_ZONE, else America/Chicago)")
    p.add_argument("--device-credentials", default=None, metavar="FILE",
                   help="with --seed: write serial,key (CSV) of every seeded device; keys of devices seeded "
                   "before are replaced, so the file holds every valid key")
    p.add_argument("--max-future", type=float, default=60.0, metavar="SECONDS",
                   help="refuse fixes dated more than this after their receipt (default 60)")
    p.add_argument("--max-past", type=float, default=7 * 24.0, metavar="HOURS",
                   help="refuse fixes dated more than this before their receipt (default 168 = 7 days)")
    p.add_argument("--simulate", action="store_true", help="run the device simulator")
    p.add_argument("--speed", type=float, default=1.0, help="simulated time runs this many times faster")
    p.add_argument("--watchdog", type=float, default=None,
                   help="check for silent devices and missed check-ins every N seconds (on with --simulate)")
    p.add_argument("--heartbeat", type=float, default=10.0, help="seconds between /v1/live heartbeats")
    p.add_argument("--parent-pid", type=int, default=None,
                   help="stop when this process (the demo's GUI) is gone, even if it was killed (polled)")
    p.add_argument("--die-with-parent", action="store_true",
                   help="Linux: the kernel stops us when the thread that started us exits (PR_SET_PDEATHSIG)")
    p.add_argument("--remove-when-orphaned", default=None, metavar="DIR",
                   help="with --parent-pid: delete DIR when stopping because the parent is gone (the demo's temp dir)")
    return p


def die_with_parent(parent_pid: int | None, death_signal: bool, interval_s: float = 1.0) -> None:
    """SIGTERM ourselves once the process that started us is gone, even if it was killed (kill -9).

    A kill -9 of the demo's GUI runs none of its clean-up, and a server left running would keep a
    port, a seeded database and the simulator's CPU. Two ways, both ending in SIGTERM, whose handler
    (main) stops the server cleanly, or unwinds a seeding still under way:

    - `death_signal` (Linux): prctl(PR_SET_PDEATHSIG) asks the kernel to send SIGTERM the moment the
      parent dies. Set here in the child rather than in a preexec_fn, which is unsafe in a parent that
      has threads (Qt's). The kernel sends it when the *thread* that spawned us exits, so the parent
      asks for it only from its main thread (workstation.demo.DemoServer.start).
    - `parent_pid` (everywhere): poll getppid() every `interval_s`; once we have been reparented the
      parent is gone. Also covers a parent that died before the prctl took effect.
    """
    if death_signal and sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0) != 0:
            print(json.dumps({"warning": f"prctl(PR_SET_PDEATHSIG) failed: errno {ctypes.get_errno()}"}), flush=True)
    if parent_pid is None:
        return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        print(json.dumps({"stopping": f"parent process {parent_pid} is gone"}), flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _db(url: str | None) -> Database:
    db = Database(url or default_db_url())
    db.create_schema()
    return db


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ADMIN_COMMANDS:
        return _admin(argv)
    if argv and argv[0] in ("receive", "rules", "api"):
        from sync_server.cluster import roles

        return roles.main(argv)
    args = _serve_parser().parse_args(argv)
    if args.password_stdin:
        args.password = sys.stdin.readline().rstrip("\r\n")
    args.password = args.password or os.environ.get(SEED_PASSWORD_ENV)
    if args.seed and not args.password:
        print(f"sync-server: --seed needs a password: ${SEED_PASSWORD_ENV}, --password-stdin or --password",
              file=sys.stderr)
        return 2
    if args.device_credentials and not args.seed:
        print("sync-server: --device-credentials needs --seed", file=sys.stderr)
        return 2
    if args.max_future < 0 or args.max_past <= 0:
        print("sync-server: --max-future must be >= 0 and --max-past > 0", file=sys.stderr)
        return 2
    if args.speed <= 0:
        print("sync-server: --speed must be positive", file=sys.stderr)
        return 2
    try:
        args.agency = agency_settings(args)
    except ValueError as exc:
        print(f"sync-server: {exc}", file=sys.stderr)
        return 2
    if args.agency_time_zone is not None and not is_time_zone(args.agency_time_zone):
        print(f"sync-server: --agency-time-zone {args.agency_time_zone!r} is not an IANA time zone", file=sys.stderr)
        return 2

    stop, serving = threading.Event(), threading.Event()

    def on_signal(*_: object) -> None:
        if not serving.is_set():
            raise SystemExit(1)  # still seeding: unwind now, through the clean-up below
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    # before seeding, which can take a while: a parent killed meanwhile must not leave us running
    die_with_parent(args.parent_pid, args.die_with_parent)
    try:
        return _serve(args, stop, serving)
    finally:
        if args.remove_when_orphaned and args.parent_pid is not None and os.getppid() != args.parent_pid:
            # the demo's GUI was killed and cannot remove its temporary directory (this server's
            # database and log, the demo's workstation home) as it does when it stops normally
            shutil.rmtree(args.remove_when_orphaned, ignore_errors=True)


def _serve(args: argparse.Namespace, stop: threading.Event, serving: threading.Event) -> int:
    from sync_server.app import ServerOptions
    from sync_server.embedded import EmbeddedServer
    from sync_server.gc_tuning import tune_for_serving

    watchdog = args.watchdog if args.watchdog is not None else (30.0 if args.simulate else None)
    server = EmbeddedServer(
        args.db or default_db_url(),
        host=args.host,
        port=args.port,
        # The simulator runs the silence check itself; the app's watchdog covers real trackers.
        options=ServerOptions(
            heartbeat_s=args.heartbeat, watchdog_s=None if args.simulate else watchdog, docs=args.docs,
            max_future_s=args.max_future, max_past_s=args.max_past * 3600.0,
        ),
        simulate=args.simulate,
        speed=args.speed,
        agency_time_zone=args.agency_time_zone,
    )
    args.agency.apply(server.db)
    if args.seed:
        summary = server.seed(args.officers, args.caseload, args.password, args.random_seed, args.todays_visits)
        if args.device_credentials:
            summary["device_credentials"] = _write_credentials(server, args.officers, Path(args.device_credentials))
        print(json.dumps({"seeded": summary}), flush=True)
    server.start()
    tune_for_serving()
    serving.set()
    print(json.dumps({"listening": server.url, "simulate": args.simulate}), flush=True)
    stop.wait()
    server.stop()
    return 0


def _write_credentials(server: object, officers: int, path: Path) -> str:
    """serial,key of every device of officers 1..N: the keys seeding just made, new ones for the rest."""
    from sqlalchemy import select

    from sync_server import device_keys
    from sync_server.models import Device, Participant

    with server.db.write() as session:
        serials = list(session.scalars(
            select(Device.serial).join(Participant, Participant.id == Device.participant_id)
            .where(Participant.officer_id.in_([f"off{k}" for k in range(1, officers + 1)])).order_by(Device.serial)
        ))
        known = server.device_keys
        known.update(device_keys.issue_device_keys(session, [s for s in serials if s not in known]))
    server.refresh_keys()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # secrets: owner only
    with os.fdopen(fd, "w", newline="") as out:
        out.write("serial,key\n")
        out.writelines(f"{serial},{known[serial]}\n" for serial in serials)
    return str(path)


def _device_admin(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog=f"sync-server {argv[0]}")
    p.add_argument("--db", default=None)
    if argv[0] == "device-key":
        p.add_argument("serial")
    elif argv[0] == "enrol-device":
        p.add_argument("serial")
        p.add_argument("case_number")
        p.add_argument("--kind", choices=["ankle", "wrist", "phone_app"], default="phone_app")
        p.add_argument("--interval", type=int, default=60, help="seconds between reports the device is set to")
        p.add_argument("--gateway", default=None, help="vendor gateway allowed to report for it")
    else:
        p.add_argument("action", choices=["add", "assign"])
        p.add_argument("name")
        p.add_argument("serials", nargs="*")
    args = p.parse_args(argv[1:])

    from sqlalchemy import select

    from sync_server import device_keys
    from sync_server.caseload import record
    from sync_server.db import utcnow
    from sync_server.models import Device, Gateway, Participant

    db = _db(args.db)
    try:
        with db.write() as session:
            if argv[0] == "device-key":
                issued = device_keys.issue_device_keys(session, [args.serial])
                if not issued:
                    print(json.dumps({"error": f"no device {args.serial}"}))
                    return 1
                print(json.dumps({"serial": args.serial, "key": issued[args.serial]}))
                return 0
            if argv[0] == "enrol-device":
                participant = session.scalar(select(Participant).where(Participant.case_number == args.case_number))
                if participant is None or session.scalar(select(Device.id).where(Device.serial == args.serial)):
                    print(json.dumps({"error": f"no participant {args.case_number}" if participant is None
                                      else f"device {args.serial} exists already"}))
                    return 1
                device = Device(
                    id=f"d-{args.serial}"[:64], participant_id=participant.id, kind=args.kind, serial=args.serial,
                    strap="not_applicable" if args.kind == "phone_app" else "ok", expected_interval_s=args.interval,
                    rule_state={}, gateway=args.gateway,
                )
                session.add(device)
                record(session, "device", device, participant.officer_id)
                key = device_keys.issue_device_keys(session, [args.serial])[args.serial]
                print(json.dumps({"serial": args.serial, "key": key, "participant": args.case_number}))
                return 0
            if args.action == "add":
                key = device_keys.add_gateway(session, args.name, utcnow())
                print(json.dumps({"gateway": args.name, "key": key}))
                return 0
            if session.get(Gateway, args.name) is None:
                print(json.dumps({"error": f"no gateway {args.name}"}))
                return 1
            assigned = device_keys.assign_devices(session, args.name, args.serials)
            print(json.dumps({"gateway": args.name, "assigned": assigned}))
            return 0 if assigned == len(set(args.serials)) else 1
    finally:
        db.dispose()


def _admin(argv: list[str]) -> int:
    if argv[0] in DEVICE_COMMANDS:
        return _device_admin(argv)
    p = argparse.ArgumentParser(prog=f"sync-server {argv[0]}")
    if argv[0] == "mfa":
        p.add_argument("action", choices=("enrol", "remove"))
    if argv[0] in (*USER_COMMANDS, "mfa", "revoke-workstation"):
        p.add_argument("name")
    if argv[0] == "openapi":
        p.add_argument("--write", action="store_true", help=f"write {OPENAPI_PATH}")
    else:
        p.add_argument("--db", default=None)
    args = p.parse_args(argv[1:])
    if argv[0] == "openapi":
        text = openapi_text()
        if args.write:
            OPENAPI_PATH.write_text(text)
        else:
            sys.stdout.write(text)
        return 0

    from sqlalchemy import select

    from sync_server import auth
    from sync_server.models import Gateway

    db = _db(args.db)
    try:
        if argv[0] == "keys":
            with db.read() as session:
                print(json.dumps({"gateways": sorted(session.scalars(select(Gateway.name)))}))
            return 0
        if argv[0] == "admin-key":
            print(json.dumps({"admin_key": db.new_admin_key()}))
            return 0
        with db.write() as session:
            if argv[0] == "mfa":
                return _mfa(session, args.action, args.name)
            if argv[0] in USER_COMMANDS:
                if argv[0] == "unlock":
                    found = auth.unlock(session, args.name)
                else:
                    found = auth.set_disabled(session, args.name, disabled=argv[0] == "disable")
                done = {"unlock": "unlocked", "disable": "disabled", "enable": "enabled"}[argv[0]]
                print(json.dumps({done: args.name} if found else {"error": f"no user {args.name}"}))
                return 0 if found else 1
            newly = auth.revoke_workstation(session, args.name)
            print(json.dumps({"revoked": args.name, "newly_revoked": newly}))
            return 0
    finally:
        db.dispose()


def _mfa(session: Any, action: str, username: str) -> int:
    from sync_server import auth

    if action == "enrol":
        uri = auth.enrol_mfa(session, username)
        # the URI holds the secret: it goes to the officer's authenticator (as a QR code) and nowhere else
        print(json.dumps({"mfa_enrolled": username, "otpauth": uri} if uri else {"error": f"no user {username}"}))
        return 0 if uri else 1
    found = auth.remove_mfa(session, username)
    print(json.dumps({"mfa_removed": username} if found else {"error": f"no user {username}"}))
    return 0 if found else 1


if __name__ == "__main__":
    raise SystemExit(main())
