"""Run the reference server inside another process: tests, benchmarks, `workstation --demo`, scripts.

`start_server(...)` returns a running EmbeddedServer (real uvicorn on a loopback port, in a background
thread) with helpers to inspect and change server state the way an agency back office would.
`stop()` shuts uvicorn down, stops the simulator and joins every thread it started.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select, text

from sync_server import caseload, device_keys
from sync_server.app import ServerOptions, create_app
from sync_server.db import Database, utcnow
from sync_server.ingest import check_silence, ingest_fixes
from sync_server.live import LiveHub
from sync_server.models import Device, Note, Officer, Participant
from sync_server.seeder import seed
from sync_server.simulator import Simulator
from workstation.protocol import GatewayFix, IngestResult

EMBEDDED_GATEWAY = "embedded"


class EmbeddedServer:
    def __init__(
        self,
        db_url: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        options: ServerOptions | None = None,
        simulate: bool = False,
        speed: float = 1.0,
        agency_time_zone: str | None = None,
    ) -> None:
        self.db_url = db_url
        self.db = Database(db_url, agency_time_zone)
        self.db.create_schema()
        self.hub = LiveHub()
        self.options = options or ServerOptions()
        self.host, self._requested_port = host, port
        self.seeded: dict[str, Any] = {}
        self._admin_key: str | None = None
        #: serial -> key of the devices this object seeded or re-keyed (keys are stored only hashed)
        self.device_keys: dict[str, str] = {}
        #: the key of gateway "embedded", assigned every seeded device (set by seed)
        self.gateway_key = ""
        self.app: Any = None
        self.simulator = Simulator(self.db, self.hub, speed=speed) if simulate else None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    def seed(self, officers: int, caseload: int, password: str, random_seed: int = 1,
             todays_visits: int = 0) -> dict[str, Any]:
        self.seeded = seed(self.db, officers, caseload, password, random_seed, todays_visits,
                           device_keys=self.device_keys)
        with self.db.read() as session:
            serials = list(session.scalars(select(Device.serial)))
        self.gateway_key = self.add_gateway(EMBEDDED_GATEWAY, serials)
        return self.seeded

    def start(self, timeout_s: float = 20.0) -> EmbeddedServer:
        app = self.app = create_app(self.db, self.hub, self.options)
        config = uvicorn.Config(
            app, host=self.host, port=self._requested_port, log_level="warning", lifespan="on",
            timeout_graceful_shutdown=2, access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sync-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("sync server did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        if self.simulator is not None:
            self.simulator.start()
        return self

    def stop(self) -> None:
        if self.simulator is not None:
            self.simulator.stop()
        self.hub.close()  # ends open /v1/live streams so uvicorn can finish its graceful shutdown
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
            if self._thread.is_alive():
                raise RuntimeError("sync server thread did not stop")
        self.db.dispose()

    def __enter__(self) -> EmbeddedServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ back-office helpers
    def add_gateway(self, name: str, serials: list[str]) -> str:
        """Create (or re-key) a vendor gateway allowed these devices; returns its key."""
        with self.db.write() as session:
            key = device_keys.add_gateway(session, name, utcnow())
            device_keys.assign_devices(session, name, serials)
        self.refresh_keys()
        return key

    def rotate_device_key(self, serial: str) -> str:
        with self.db.write() as session:
            key = device_keys.issue_device_keys(session, [serial])[serial]
        self.device_keys[serial] = key
        self.refresh_keys()
        return key

    def refresh_keys(self) -> None:
        """Make a running server see key changes now rather than at its next periodic refresh."""
        if self.app is not None:
            self.app.state.keys.refresh()

    @property
    def admin_key(self) -> str:
        """A fresh admin key on first use (the server keeps only its digest), as `sync-server admin-key`."""
        if self._admin_key is None:
            self._admin_key = self.db.new_admin_key()
        return self._admin_key

    def admin_revoke(self, workstation_id: str) -> dict[str, Any]:
        """Revoke through the real admin endpoint."""
        response = httpx.post(
            f"{self.url}/v1/admin/revoke-workstation",
            json={"workstation_id": workstation_id},
            headers={"X-Admin-Key": self.admin_key},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def _officer_id(self, session: Any, officer: str) -> str:
        found = session.scalar(select(Officer.id).where((Officer.id == officer) | (Officer.username == officer)))
        if found is None:
            raise LookupError(f"no officer {officer}")
        return found

    def reassign(self, case_number: str, to_officer: str) -> None:
        """Move a participant to another officer (username like 'officer2' or officer id)."""
        with self.db.write() as session:
            pid = session.scalar(select(Participant.id).where(Participant.case_number == case_number))
            if pid is None:
                raise LookupError(f"no participant {case_number}")
            caseload.reassign(session, pid, self._officer_id(session, to_officer))

    def touch_participants(self, fraction: float, seed: int = 0) -> int:
        """Change a fraction of all participants (new phone numbers), making a delta for the next pull."""
        with self.db.write() as session:
            return caseload.touch_participants(session, fraction, seed)

    def ingest(self, fixes: list[GatewayFix]) -> IngestResult:
        """Feed fixes through the same ingestion path as the HTTP endpoints (as gateway "embedded")."""
        return ingest_fixes(self.db, fixes, self.hub, via=f"gateway:{EMBEDDED_GATEWAY}")

    def check_silence(self) -> int:
        return check_silence(self.db, self.hub)

    def query(self, sql: str, **params: Any) -> list[tuple]:
        """Run read-only SQL against the server database (inspection in tests)."""
        with self.db.read() as session:
            return [tuple(r) for r in session.execute(text(sql), params)]

    def count_notes(self, note_id: str | None = None) -> int:
        with self.db.read() as session:
            stmt = select(func.count()).select_from(Note)
            if note_id is not None:
                stmt = stmt.where(Note.id == note_id)
            return session.scalar(stmt)


def start_server(
    db_url: str | None = None,
    *,
    tmp_dir: str | Path | None = None,
    officers: int = 1,
    caseload: int = 20,
    password: str = "pw",
    random_seed: int = 1,
    simulate: bool = False,
    speed: float = 1.0,
    agency_time_zone: str | None = None,
    **options: Any,
) -> EmbeddedServer:
    """Seed (officers > 0) and start a server; the database defaults to a fresh SQLite file in tmp_dir.

    Extra keyword arguments are ServerOptions fields (access_ttl_s, heartbeat_s, max_body_bytes, ...).
    """
    if db_url is None:
        if tmp_dir is None:
            raise ValueError("give db_url or tmp_dir")
        db_url = f"sqlite:///{Path(tmp_dir) / 'sync_server.db'}"
    server = EmbeddedServer(
        db_url, options=ServerOptions(**options), simulate=simulate, speed=speed, agency_time_zone=agency_time_zone
    )
    if officers > 0:
        server.seed(officers, caseload, password, random_seed)
    return server.start()
