"""`workstation --demo`: a reference server with a seeded caseload and the device simulator,
running as a child process on a free loopback port with its database in a temporary
directory, plus a temporary WORKSTATION_HOME unless the caller set one. Everything is removed
when the demo stops (context manager, also on exceptions).

The server is a separate process (not a thread in the GUI process) so its seeding, simulator
and request handling never compete with the GUI thread for the GIL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from workstation.config import HOME_ENV
from workstation.resources import server_command

DEMO_USER = "officer1"
DEMO_PASSWORD = "demo-field-2026"
DEMO_CASELOAD = 7000
START_TIMEOUT_S = 90.0


class DemoError(RuntimeError):
    """The demo server could not be started; the message says why."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoServer:
    caseload: int = DEMO_CASELOAD
    password: str = DEMO_PASSWORD
    random_seed: int = 7
    simulate: bool = True
    #: simulated time runs this many times faster (1 = real time)
    speed: float = 1.0
    port: int = 0
    url: str = ""
    home: Path | None = None
    _tmp: Path | None = field(default=None, repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _own_home: bool = field(default=False, repr=False)
    _old_home: str | None = field(default=None, repr=False)

    def start(self) -> DemoServer:
        self._tmp = Path(tempfile.mkdtemp(prefix="fw-demo-"))
        self.port = self.port or free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            *server_command(), "--host", "127.0.0.1", "--port", str(self.port),
            "--db", f"sqlite:///{self._tmp / 'server.db'}", "--seed", "--officers", "1",
            "--caseload", str(self.caseload), "--password", self.password, "--random-seed", str(self.random_seed),
            "--todays-visits", "8",  # the officer's day: visits, an office check-in and a court hearing today
            # the server stops by itself if this process is killed, and removes what it would have
            "--parent-pid", str(os.getpid()), "--remove-when-orphaned", str(self._tmp),
        ]
        if threading.current_thread() is threading.main_thread():
            # PR_SET_PDEATHSIG fires when the spawning *thread* exits: only the main thread lives as
            # long as the process (from a worker thread the --parent-pid poll alone stops it)
            args.append("--die-with-parent")
        if self.simulate:
            args += ["--simulate", "--speed", str(self.speed)]
        log_file = open(self._tmp / "server.log", "wb")  # noqa: SIM115 - closed with the process
        try:
            self._proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, cwd=self._tmp)
        finally:
            log_file.close()
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self._old_home = os.environ.get(HOME_ENV)
        if self._old_home:
            self.home = Path(self._old_home)
        else:
            self.home = self._tmp / "home"
            self.home.mkdir(mode=0o700)
            os.environ[HOME_ENV] = str(self.home)
            self._own_home = True
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise DemoError(f"the demo server exited with code {self._proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise DemoError(f"the demo server did not answer on {self.url} within {START_TIMEOUT_S:.0f} s")

    def log_tail(self, lines: int = 20) -> str:
        if self._tmp is None or not (self._tmp / "server.log").exists():
            return ""
        return "\n".join((self._tmp / "server.log").read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server, remove its database and the temporary home (idempotent)."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(5)
            self._proc = None
        if self._own_home:
            os.environ.pop(HOME_ENV, None)
            self._own_home = False
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def demo_server(**kwargs: Any) -> Iterator[DemoServer]:
    server = DemoServer(**kwargs)
    with server:
        yield server
