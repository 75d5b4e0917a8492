"""`sync-server receive | rules | api`: one process per cluster role (docs/scaling.md).

    sync-server receive --db URL --nats URL [--host H] [--port N] [--partitions P]
    sync-server rules   --db URL --nats URL --index I --count N [--partitions P] [--response-times T]
                        [--curfew-grace MINUTES]
    sync-server api     --db URL --nats URL [--host H] [--port N] [--heartbeat S] [--watchdog S] [--response-times T]

Every process of one cluster must be given the same --partitions (rules workers also the same --count:
a rules worker takes slot --index if it is free, else any free one, else stands by to take over the
slot of a worker that dies; sync_server.cluster.slots). Each prints one JSON line when it is
ready ({"listening": URL, "role": ...} or the rules worker's {"role": "rules", ...}) and stops
cleanly on SIGTERM. The database schema is created (or completed) by whichever process comes first.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys

from sqlalchemy import text

from sync_server.agency import add_agency_arguments, agency_settings
from sync_server.cluster import broker
from sync_server.db import Database

ROLES = ("receive", "rules", "api")


def _parser(role: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"sync-server {role}")
    p.add_argument("--db", required=True, help="SQLAlchemy URL of the PostgreSQL database")
    p.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS server URL (JetStream enabled)")
    p.add_argument("--partitions", type=int, default=broker.DEFAULT_PARTITIONS,
                   help="device partitions of the FIXES stream (the same for every process of a cluster)")
    if role == "rules":
        p.add_argument("--index", type=int, default=0,
                       help="the slot (0 .. count-1) to take if free; else any free one, else stand by")
        p.add_argument("--count", type=int, default=1, help="slots: rules workers holding partitions at once")
        p.add_argument("--max-messages", type=int, default=256, help="FIXES messages per transaction at most")
    else:
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    if role in ("rules", "api"):  # the rules workers raise incidents, the API worker's watchdog escalates them
        add_agency_arguments(p, curfew_grace=role == "rules")
    if role == "api":
        p.add_argument("--heartbeat", type=float, default=10.0, help="seconds between /v1/live heartbeats")
        p.add_argument("--watchdog", type=float, default=None,
                       help="check for silent devices every N seconds (give it to one API worker only)")
    return p


def prepare_database(url: str) -> Database:
    """Open the database and create missing tables; concurrent starters take turns (advisory lock)."""
    db = Database(url)
    if db.is_sqlite:
        db.create_schema()
        return db
    with db.engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(1919)"))
        try:
            db.create_schema()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(1919)"))
            connection.commit()
    return db


def main(argv: list[str]) -> int:
    role = argv[0]
    parser = _parser(role)
    args = parser.parse_args(argv[1:])
    try:
        agency = agency_settings(args)
    except ValueError as exc:
        parser.error(str(exc))
    db = prepare_database(args.db)
    agency.apply(db)
    try:
        if role == "rules":
            from sync_server.cluster.rules import RulesWorker, run_worker

            run_worker(RulesWorker(db, args.nats, args.index, args.count, args.partitions, args.max_messages))
            return 0
        return _serve(role, args, db)
    finally:
        db.dispose()


def _serve(role: str, args: argparse.Namespace, db: Database) -> int:
    import uvicorn

    from sync_server.app import ServerOptions, create_app
    from sync_server.gc_tuning import tune_for_serving

    if role == "receive":
        from sync_server.cluster.receiver import BrokerIngest

        app = create_app(db, ingest=BrokerIngest(db, args.nats, args.partitions), serve="ingest")
    else:
        from sync_server.cluster.live_feed import BrokerLive

        options = ServerOptions(heartbeat_s=args.heartbeat, watchdog_s=args.watchdog)
        app = create_app(db, hub=BrokerLive(args.nats), options=options, serve="api")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)  # connections wait in the backlog until the app is up: the line below is true
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2, access_log=False,
    ))
    tune_for_serving()
    print(json.dumps({"listening": f"http://{host}:{port}", "role": role}), flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
