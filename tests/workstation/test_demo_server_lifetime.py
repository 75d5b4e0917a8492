"""The demo's reference server never outlives the process that started it, even after kill -9.

Each way is tested on its own: the kernel's parent-death signal (Linux, the demo started from the main
thread), the getppid poll (the demo started from a worker thread, where the death signal is not asked
for), and the two together as `workstation --demo` runs them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_PARENT = r"""
import sys, threading, time
from workstation.demo import DemoServer
from workstation.resources import server_command

mode = sys.argv[1]
if mode == "death-signal-only":
    import subprocess, tempfile
    db = f"sqlite:///{tempfile.mkdtemp()}/server.db"
    proc = subprocess.Popen([*server_command(), "--port", "0", "--db", db, "--die-with-parent"])
    pid, tmp = proc.pid, ""
else:
    demo = DemoServer(caseload=5, simulate=False)
    if mode == "main-thread":
        demo.start()
    else:
        thread = threading.Thread(target=demo.start)
        thread.start()
        thread.join()
    pid, tmp = demo._proc.pid, demo._tmp
print(pid, tmp, flush=True)
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


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_text().split("\0")


@pytest.mark.parametrize(
    ("mode", "flags"),
    [
        ("main-thread", {"--parent-pid", "--die-with-parent"}),
        ("worker-thread", {"--parent-pid"}),
        pytest.param(
            "death-signal-only", {"--die-with-parent"},
            marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux"),
        ),
    ],
)
def test_demo_server_stops_when_its_parent_is_killed(tmp_path, mode, flags):
    env = {**os.environ, "WORKSTATION_HOME": str(tmp_path)}
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, mode], stdout=subprocess.PIPE, text=True, cwd=REPO, env=env
    )
    try:
        pid_text, _, demo_dir = parent.stdout.readline().strip().partition(" ")
        server_pid = int(pid_text)
        if mode == "death-signal-only":
            # alone, the death signal covers only a parent that dies after the prctl (DemoServer
            # passes --parent-pid too, whose first check covers the moments before)
            while "listening" not in parent.stdout.readline():
                pass
        assert _alive(server_pid)
        if Path("/proc").is_dir():
            assert {f for f in _cmdline(server_pid) if f.startswith("--") and "parent" in f} == flags
            assert ("--remove-when-orphaned" in _cmdline(server_pid)) == (mode != "death-signal-only")
        parent.send_signal(signal.SIGKILL)  # no clean-up runs in the parent
        parent.wait(10)
        deadline = time.monotonic() + 15
        while _alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server_pid), "the demo server outlived its killed parent"
        if demo_dir:  # its database and the demo's workstation home go with it
            assert not Path(demo_dir).exists()
    finally:
        parent.kill()
        parent.stdout.close()
