"""Network faults between the workstation and the server, then convergence.

fault_campaign() (importable, returns a JSON-able dict): the real client syncs through
FaultProxy (delays, cut bodies, resets, answers dropped after the server committed) while
notes are queued and the server's caseload changes; then the faults stop, one clean sync runs,
and the server must equal the oracle: every queued note exactly once, nothing else, and the
local caseload equal to the server's.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from local_db.models import Participant
from sync_server.embedded import start_server
from tests.reliability.fault_proxy import FaultProxy, no_keepalive_transport, random_policy
from tests.reliability.oracle import compare, converged
from workstation import actions
from workstation.config import Config
from workstation.session import WorkstationSession
from workstation.sync.http import ServerClient

PASSWORD = "pw"


def fault_campaign(rounds: int = 12, seed: int = 1, caseload: int = 12, fault_rate: float = 0.6,
                   tmp_dir: str | Path | None = None) -> dict[str, Any]:  # fmt: skip
    started = time.monotonic()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="fault-campaign-", dir=tmp_dir) as tmp_name:
        tmp = Path(tmp_name)
        server = start_server(tmp_dir=tmp, officers=1, caseload=caseload, password=PASSWORD)
        proxy = FaultProxy(server.url, random_policy(seed, rate=fault_rate))
        try:
            home = tmp / "home"
            home.mkdir()
            config = Config(data_dir=home, server_url=proxy.url, workstation_id="fault-campaign")

            def client_factory(url: str, **kwargs: Any) -> ServerClient:
                # short timeouts: a delayed answer must not stall the campaign
                return ServerClient(url, timeout=httpx.Timeout(2.0), transport=no_keepalive_transport(), **kwargs)

            proxy.enabled = False
            session = WorkstationSession.open(config, "officer1", PASSWORD, client_factory=client_factory)
            try:
                assert session.sync_now().ok
                proxy.enabled = True
                queued: list[str] = []
                outcomes = {"ok": 0, "failed": 0}
                for round_no in range(rounds):
                    with session.store.read_session() as db:
                        cases = list(db.scalars(select(Participant.case_number)))
                    for k in range(rng.randint(1, 6)):
                        queued.append(actions.add_note(session.store, rng.choice(cases), f"fault-{round_no}-{k}"))
                    if rng.random() < 0.3:
                        server.touch_participants(0.3, seed=seed * 1000 + round_no)
                    summary = session.sync_now()
                    outcomes["ok" if summary.ok else "failed"] += 1
                proxy.enabled = False
                final = session.sync_now()
                report = compare(session.store, server, "off1", queued, "fault-%")
            finally:
                session.close()
        finally:
            proxy.close()
            server.stop()
    report.update(
        rounds=rounds, seed=seed, faults=dict(proxy.counts), syncs_ok=outcomes["ok"],
        syncs_failed=outcomes["failed"], final_sync_ok=final.ok, seconds=round(time.monotonic() - started, 1),
    )  # fmt: skip
    report["ok"] = bool(converged(report) and final.ok)
    return report
