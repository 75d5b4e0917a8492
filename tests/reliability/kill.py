"""kill -9 of the sync process at random points during pull and push, then convergence.

kill_campaign() is importable (for `make reliability` campaigns) and returns a JSON-able dict:
the server runs here; tests/reliability/kill_driver.py runs in a subprocess and forks one sync
child per run, killing each after a random delay; afterwards one clean sync must converge:
local caseload == server's, every queued note applied exactly once, PRAGMA integrity_check ok.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from local_db import keys
from local_db.store import open_store_with_key
from sync_server.embedded import start_server
from tests.reliability.oracle import compare, converged
from workstation.config import Config
from workstation.session import WorkstationSession

PASSWORD = "pw"


def kill_campaign(kills: int = 50, seed: int = 1, caseload: int = 30, max_delay_s: float = 0.1,
                  tmp_dir: str | Path | None = None) -> dict[str, Any]:  # fmt: skip
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kill-campaign-", dir=tmp_dir) as tmp_name:
        tmp = Path(tmp_name)
        server = start_server(tmp_dir=tmp, officers=2, caseload=caseload, password=PASSWORD)
        try:
            home = tmp / "home"
            home.mkdir()
            config = Config(data_dir=home, server_url=server.url, workstation_id="kill-campaign")
            with WorkstationSession.open(config, "officer1", PASSWORD) as session:
                if not session.sync_now().ok:
                    raise RuntimeError("the initial sync failed")
            key = keys.unwrap_data_key(home, PASSWORD)
            env = {**os.environ, "KILL_URL": server.url, "KILL_HOME": str(home), "KILL_KEY": key.hex(),
                   "KILL_PASSWORD": PASSWORD, "KILL_KILLS": str(kills), "KILL_SEED": str(seed),
                   "KILL_MAX_DELAY_S": str(max_delay_s)}  # fmt: skip
            proc = subprocess.run(
                [sys.executable, "-m", "tests.reliability.kill_driver"],
                env=env, capture_output=True, text=True, timeout=max(120, kills * 10),
            )  # fmt: skip
            if proc.returncode != 0:
                raise RuntimeError(f"kill driver failed: {proc.stderr[-2000:]}")
            driver = json.loads(proc.stdout.strip().splitlines()[-1])
            store = open_store_with_key(home, key)
            try:
                report = compare(store, server, "off1", driver["queued"], "kill-%")
            finally:
                store.close()
        finally:
            server.stop()
    report.update(
        runs=driver["runs"], seed=seed, killed=driver["killed"], finished_before_kill=driver["finished_before_kill"],
        cursor_rewinds=driver["cursor_rewinds"], full_sync_span_s=driver["full_sync_span_s"], delta_sync_span_s=driver["delta_sync_span_s"], final_sync_ok=driver["final_sync_ok"],
        integrity_check=driver["integrity_check"], seconds=round(time.monotonic() - started, 1),
    )  # fmt: skip
    report["ok"] = bool(converged(report) and report["final_sync_ok"] and report["integrity_check"] == "ok")
    return report
