"""The demo's reference server never outlives the process that started it, even after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_PARENT = r"""
import sys, time
from workstation.demo import DemoServer
demo = DemoServer(caseload=5, simulate=False).start()
print(demo._proc.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def test_demo_server_stops_when_its_parent_is_killed(tmp_path):
    env = {**os.environ, "WORKSTATION_HOME": str(tmp_path)}
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)
    try:
        server_pid = int(parent.stdout.readline())
        assert _alive(server_pid)
        parent.send_signal(signal.SIGKILL)  # no clean-up runs in the parent
        parent.wait(10)
        deadline = time.monotonic() + 15
        while _alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server_pid), "the demo server outlived its killed parent"
    finally:
        parent.kill()
        parent.stdout.close()
