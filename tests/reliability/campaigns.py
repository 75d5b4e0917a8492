"""Reliability campaigns: crash, network, I/O, fuzz and disk canary. Each prints one JSON object.

    python -m tests.reliability.campaigns --all            # full sizes (`make reliability`)
    python -m tests.reliability.campaigns crash fuzz       # some of them
    python -m tests.reliability.campaigns --all --bounded  # the small versions `make test` runs

Everything is real: the reference server runs as its own process (`python -m sync_server`) on a
loopback port with a SQLite file, the client is our sync engine over a real encrypted store in
its own process, and faults are real signals (SIGKILL), real syscall failures (strace fault
injection) and real bytes on a real socket. The oracle is the set of action ids the officer
recorded and the server's own database, compared after a final clean sync.

The client worker (`--client-worker`) opens the store with a data key handed over in the
environment instead of the password: this harness kills clients hundreds of times, and every
kill during the password's KDF would count as a failed unlock under the lockout policy (by
design, see workstation/security/lockout.py). The unlock path has its own tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
PASSWORD = "campaign password 1"
USER = "officer1"
WORKSTATION = "ws-campaign"
ENTITIES = ("participant", "device", "zone", "appointment", "alert", "note")

#: full sizes (`make reliability`) and the bounded versions run inside `make test`
FULL: dict[str, dict[str, int]] = {
    "crash": {"kills": 1000},
    "network": {"lost_acks": 500, "rounds": 60},
    "io": {"points": 200},
    # >= 100,000 cases in all; pages cost ~10 ms each (a real pull into a real store), pings ~0.1 ms
    "fuzz": {"pages": 40_000, "pings": 60_000, "mbtiles": 2_000},
    "canary": {},
}
BOUNDED: dict[str, dict[str, int]] = {
    "crash": {"kills": 3},
    "network": {"lost_acks": 2, "rounds": 4},
    "io": {"points": 2},
    "fuzz": {"pages": 300, "pings": 2_000, "mbtiles": 30},
    "canary": {},
}
#: the figures that must be zero in every campaign that reports them
MUST_BE_ZERO = ("lost", "duplicated", "integrity_failures", "state_mismatches", "crashes", "partial_writes",
                "canary_hits", "plaintext_databases", "partial_saves", "silent_failures", "outbox_not_done")  # fmt: skip


# =========================================================================== shared harness


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


class Launched:
    """A started process (from a plain subprocess or forked by the zygote)."""

    def __init__(self, pid: int, out: Path, reap: Callable[[float | None], int | None]) -> None:
        self.pid, self.out, self._reap = pid, out, reap
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._reap(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None:
            self.returncode = self._reap(timeout)
        return self.returncode

    def kill(self) -> bool:
        """SIGKILL; True if it was still running."""
        if self.poll() is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.wait(30)
        return True

    def output(self) -> str:
        try:
            return self.out.read_text(errors="replace")
        except OSError:
            return ""


class Zygote:
    """Forks client and server processes from one process that has already imported everything.

    Starting Python and importing SQLAlchemy, pydantic, httpx, FastAPI... takes about a second; a
    fork of a warm process takes milliseconds, so a campaign can afford a thousand real SIGKILLs.
    The forked child is an ordinary process running the same code a fresh one would (`client`
    runs client_worker, `server` runs sync_server's main); only the import step is shared.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._count = 0
        self._exits: dict[int, int] = {}
        self._cond = threading.Condition()
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [PY, "-m", "tests.reliability.campaigns", "--zygote"],
            cwd=ROOT, env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"READY":
            raise RuntimeError("the zygote did not start")
        self._pids: dict[int, int] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            kind, *rest = raw.decode().split()
            with self._cond:
                if kind == "PID":
                    self._pids[int(rest[0])] = int(rest[1])
                elif kind == "EXIT":
                    self._exits[int(rest[0])] = int(rest[1])
                self._cond.notify_all()

    def spawn(self, argv: list[str], env: dict[str, str]) -> Launched:
        with self._lock:
            self._count += 1
            token = self._count
            out = self.workdir / f"proc-{token}.out"
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps({"token": token, "argv": argv, "env": env, "out": str(out)}) + "\n").encode())
            self.proc.stdin.flush()
            with self._cond:
                self._cond.wait_for(lambda: token in self._pids, timeout=30)
                pid = self._pids.pop(token)
        return Launched(pid, out, lambda timeout, pid=pid: self._reap(pid, timeout))

    def _reap(self, pid: int, timeout: float | None) -> int | None:
        with self._cond:
            self._cond.wait_for(lambda: pid in self._exits, timeout=timeout)
            return self._exits.get(pid)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(30)
        self._reader.join(5)


def zygote_main() -> int:
    """The zygote process: import everything once, then fork a child per request on stdin."""
    import selectors

    import local_db.store  # noqa: F401 - preloading is the point
    import sync_server.__main__  # noqa: F401
    import sync_server.app  # noqa: F401
    import workstation.auth  # noqa: F401
    import workstation.security.audit_upload  # noqa: F401
    import workstation.sync.engine  # noqa: F401

    out = sys.stdout.buffer
    out.write(b"READY\n")
    out.flush()
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin.buffer, selectors.EVENT_READ)
    stdin = sys.stdin.buffer
    children = 0
    while True:
        ready = selector.select(timeout=0.02)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            children -= 1
            out.write(f"EXIT {pid} {os.waitstatus_to_exitcode(status)}\n".encode())
            out.flush()
        if not ready:
            continue
        line = stdin.readline()
        if not line:
            break
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                fd = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.environ.update(request["env"])
                argv = request["argv"]
                if argv[0] == "server":
                    code = sync_server.__main__.main(argv[1:])
                else:
                    code = client_worker(argv[1])
            except BaseException:  # noqa: BLE001 - the child reports and exits, never returns to the loop
                import traceback

                traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        children += 1
        out.write(f"PID {request['token']} {pid}\n".encode())
        out.flush()
    while children:
        os.wait()
        children -= 1
    return 0


class Subprocesses:
    """Plain process starts (used where a wrapper such as strace must start the process)."""

    def __init__(self, workdir: Path, prefix: list[str] | None = None) -> None:
        self.workdir, self.prefix = workdir, prefix or []
        self._count = 0

    def spawn(self, argv: list[str], env: dict[str, str]) -> Launched:
        self._count += 1
        out = self.workdir / f"sub-{self._count}.out"
        if argv[0] == "server":
            cmd = [PY, "-m", "sync_server", *argv[1:]]
        else:
            cmd = [PY, "-m", "tests.reliability.campaigns", "--client-worker", argv[1]]
        with open(out, "wb") as handle:
            proc = subprocess.Popen([*self.prefix, *cmd], cwd=ROOT, env=env, stdout=handle, stderr=handle)

        def reap(timeout: float | None) -> int | None:
            try:
                return proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return None

        return Launched(proc.pid, out, reap)


class ServerProcess:
    """The reference server (`sync_server` main) on a fixed loopback port and SQLite file."""

    def __init__(self, workdir: Path, launcher: Any, officers: int = 1, caseload: int = 40) -> None:
        self.db_path = workdir / "server.db"
        self.db_url = f"sqlite:///{self.db_path}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.launcher = launcher
        self.proc: Launched | None = None
        self._seed = ["--seed", "--officers", str(officers), "--caseload", str(caseload), "--password", PASSWORD]

    def start(self) -> None:
        import httpx

        args = ["server", "--port", str(self.port), "--db", self.db_url, *self._seed]
        self._seed = []  # seeding is idempotent, but once is enough
        self.proc = self.launcher.spawn(args, _env())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sync server exited: {self.proc.output()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.02)
        raise RuntimeError("sync server did not come up")

    def kill(self) -> bool:
        """SIGKILL; True if it was running."""
        return self.proc is not None and self.proc.kill()

    def ensure_running(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            if self.proc.wait(15) is None:
                self.proc.kill()

    def db(self):
        from sync_server.db import Database

        return Database(self.db_url)


class Client:
    """The officer's laptop: a data directory with an encrypted store, and its data key."""

    def __init__(self, workdir: Path, server: ServerProcess) -> None:
        self.home = workdir / "client"
        self.home.mkdir()
        self.server = server
        from workstation.auth import login
        from workstation.security import lockout
        from workstation.sync.http import ServerClient

        with ServerClient(server.url) as http:
            login(self.home, USER, PASSWORD, http, workstation_id=WORKSTATION).store.close()
        self.key_hex = lockout.guarded_unlock(self.home, PASSWORD).hex()

    def env(self, url: str | None = None, **extra: str) -> dict[str, str]:
        return _env(
            CAMPAIGN_HOME=str(self.home),
            CAMPAIGN_KEY=self.key_hex,
            CAMPAIGN_URL=url or self.server.url,
            **extra,
        )

    @contextlib.contextmanager
    def store(self) -> Iterator[Any]:
        from local_db.store import open_store_with_key

        store = open_store_with_key(self.home, bytes.fromhex(self.key_hex))
        try:
            yield store
        finally:
            store.close()

    def worker(self, launcher: Any = None, *, url: str | None = None, mode: str = "sync", timeout: float = 120,
               **extra: str) -> tuple[int, dict[str, Any], str]:
        proc = self.start_worker(launcher, url=url, mode=mode, **extra)
        code = proc.wait(timeout)
        if code is None:
            proc.kill()
            code = -9
        text = proc.output()
        return code, _last_json(text), text

    def start_worker(self, launcher: Any = None, *, url: str | None = None, mode: str = "sync", **extra: str) -> Launched:
        return (launcher or self.server.launcher).spawn(["client", mode], self.env(url, **extra))

    def clean_sync(self, attempts: int = 5) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for _ in range(attempts):
            self.server.ensure_running()
            code, result, _err = self.worker()
            if code == 0:
                return result
            time.sleep(0.2)
        raise RuntimeError(f"a clean sync kept failing: {result}")

    def record_notes(self, count: int, rng: random.Random) -> list[str]:
        """Officer actions (each writes its note and outbox row in one durable transaction)."""
        from sqlalchemy import select

        from local_db.models import Participant
        from workstation import actions

        with self.store() as store:
            with store.read_session() as s:
                pids = sorted(s.scalars(select(Participant.id)))
            return [actions.add_note(store, rng.choice(pids), f"campaign note {uuid.uuid4()}") for _ in range(count)]


def _last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                return json.loads(line)
    return {}


def client_worker(mode: str) -> int:
    """One client process: open the store with the handed-over key, then sync (or record a note)."""
    from local_db.store import open_store_with_key

    home = Path(os.environ["CAMPAIGN_HOME"])
    try:
        store = open_store_with_key(home, bytes.fromhex(os.environ["CAMPAIGN_KEY"]))
    except Exception as exc:  # noqa: BLE001 - reported like the app reports it
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    try:
        if mode == "note":
            from local_db.models import Participant
            from workstation import actions

            with store.read_session() as s:
                pid = s.query(Participant.id).order_by(Participant.id).first()[0]
            action_id = actions.add_note(store, pid, os.environ.get("CAMPAIGN_NOTE", "io campaign note"))
            print(json.dumps({"ok": True, "action_id": action_id}), flush=True)
            return 0
        from workstation.auth import Auth
        from workstation.security.audit_upload import upload_audit
        from workstation.sync.engine import SyncEngine
        from workstation.sync.http import ServerClient

        with ServerClient(os.environ["CAMPAIGN_URL"], timeout=float(os.environ.get("CAMPAIGN_TIMEOUT", "10"))) as http:
            auth = Auth(USER, WORKSTATION)
            http.tokens = auth
            auth.login(http, PASSWORD)
            print("PHASE sync", flush=True)
            engine = SyncEngine(
                store, http, page_size=int(os.environ.get("CAMPAIGN_PAGE", "5")),
                batch_size=int(os.environ.get("CAMPAIGN_BATCH", "2")),
            )  # fmt: skip
            summary = engine.sync(lambda pr: print(f"PHASE {pr.phase}", flush=True))
            if summary.ok:
                upload_audit(store, http)
        print(json.dumps({"ok": summary.ok, "error": summary.error}), flush=True)
        return 0 if summary.ok else 1
    except Exception as exc:  # noqa: BLE001 - the officer sees this message; the test checks it is there
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    finally:
        store.close()


# =========================================================================== oracle checks


def _local_rows(store: Any) -> dict[str, set[tuple[str, int]]]:
    from sqlalchemy import text

    with store.read_session() as s:
        return {e: {(r[0], r[1]) for r in s.execute(text(f"SELECT id, version FROM {e}"))} for e in ENTITIES}


def _server_rows(server: ServerProcess, officer_id: str = "off1") -> dict[str, set[tuple[str, int]]]:
    from sqlalchemy import text

    db = server.db()
    try:
        with db.read() as s:
            out = {
                "participant": {
                    (r[0], r[1])
                    for r in s.execute(text("SELECT id, version FROM participant WHERE officer_id = :o"), {"o": officer_id})
                }
            }
            for e in ENTITIES[1:]:
                out[e] = {
                    (r[0], r[1])
                    for r in s.execute(
                        text(
                            f"SELECT c.id, c.version FROM {e} c JOIN participant p ON p.id = c.participant_id "
                            "WHERE p.officer_id = :o"
                        ),
                        {"o": officer_id},
                    )
                }
            return out
    finally:
        db.dispose()


def _server_scalar(server: ServerProcess, sql: str, **params: Any) -> Any:
    from sqlalchemy import text

    db = server.db()
    try:
        with db.read() as s:
            return s.execute(text(sql), params).scalar()
    finally:
        db.dispose()


def check_outcome(client: Client, server: ServerProcess, action_ids: list[str]) -> dict[str, int]:
    """After a final clean sync: lost/duplicated actions, integrity, local == server."""
    from sqlalchemy import text

    lost = duplicated = 0
    for action_id in action_ids:
        applied = _server_scalar(server, "SELECT count(*) FROM applied_action WHERE id = :i", i=action_id)
        notes = _server_scalar(server, "SELECT count(*) FROM note WHERE id = :i", i=action_id)
        lost += int(applied == 0 or notes == 0)
        duplicated += int(applied > 1 or notes > 1)
    # every campaign note text is unique: more than one server note with it is a double application
    duplicated += int(
        _server_scalar(
            server,
            "SELECT count(*) FROM (SELECT text FROM note WHERE text LIKE 'campaign note %' "
            "GROUP BY text HAVING count(*) > 1)",
        )
        or 0
    )
    integrity = 0
    with client.store() as store:
        with store.read_session() as s:
            integrity += int(s.execute(text("PRAGMA integrity_check")).scalar() != "ok")
            integrity += len(s.execute(text("PRAGMA foreign_key_check")).all())
            not_done = s.execute(text("SELECT count(*) FROM outbox_action WHERE state != 'done'")).scalar()
        local = _local_rows(store)
    integrity += int(_server_scalar(server, "PRAGMA integrity_check") != "ok")
    remote = _server_rows(server)
    mismatches = sum(len(local[e] ^ remote[e]) for e in ENTITIES)
    return {
        "lost": lost,
        "duplicated": duplicated,
        "integrity_failures": integrity,
        "state_mismatches": mismatches,
        "outbox_not_done": int(not_done or 0),
    }


def _touch_server(server: ServerProcess, fraction: float, seed: int) -> None:
    from sync_server import caseload

    db = server.db()
    try:
        with db.write() as s:
            caseload.touch_participants(s, fraction, seed)
    finally:
        db.dispose()


# =========================================================================== crash


@contextlib.contextmanager
def _world(prefix: str, caseload: int = 40) -> Iterator[tuple[Path, ServerProcess, Client]]:
    """A temp dir, a zygote, a seeded server process and an enrolled, synced client."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        workdir = Path(tmp)
        zygote = Zygote(workdir)
        server = ServerProcess(workdir, zygote, caseload=caseload)
        try:
            server.start()
            client = Client(workdir, server)
            client.clean_sync()
            yield workdir, server, client
        finally:
            server.stop()
            zygote.close()


def crash(kills: int, seed: int = 1) -> dict[str, Any]:
    """SIGKILL the client or the server at random points while the client pushes and pulls."""
    rng = random.Random(seed)
    started = time.monotonic()
    counts = {"client_kills": 0, "server_kills": 0, "during_push": 0, "during_pull": 0, "missed": 0}
    recorded: list[str] = []
    cycles = 0
    timing = {"sync_s": 0.3}  # running estimate of how long a sync takes, to aim the kills inside it
    with _world("campaign-crash-") as (_workdir, server, client):
        while counts["client_kills"] + counts["server_kills"] < kills:
            cycles += 1
            recorded += client.record_notes(rng.randint(1, 3), rng)
            _touch_server(server, 0.4, cycles)
            # several kills in a row: each restart resumes a sync the previous kill interrupted
            for _ in range(rng.randint(1, 3)):
                server.ensure_running()
                victim = "server" if rng.random() < 0.3 else "client"
                killed, phase = _kill_during_sync(client, server, victim, rng, timing)
                if killed:
                    counts[f"{victim}_kills"] += 1
                    counts[f"during_{phase}"] += 1
                else:
                    counts["missed"] += 1
        client.clean_sync()
        outcome = check_outcome(client, server, recorded)
    return {
        "campaign": "crash",
        "kills": counts["client_kills"] + counts["server_kills"],
        **counts,
        "cycles": cycles,
        "actions": len(recorded),
        **outcome,
        "seconds": round(time.monotonic() - started, 1),
    }


def _phase(proc: Launched) -> str:
    lines = [line[6:] for line in proc.output().splitlines() if line.startswith("PHASE ")]
    return lines[-1] if lines else ""


def _kill_during_sync(
    client: Client, server: ServerProcess, victim: str, rng: random.Random, timing: dict[str, float]
) -> tuple[bool, str]:
    """Start a client sync; once it reports push/pull progress, SIGKILL the victim a random moment later."""
    proc = client.start_worker()
    deadline = time.monotonic() + 30
    while _phase(proc) not in ("push", "pull") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    in_sync_at = time.monotonic()
    killed = False
    phase = ""
    if proc.poll() is None:
        time.sleep(rng.uniform(0.0, timing["sync_s"]))
        phase = _phase(proc)
        killed = proc.kill() if victim == "client" else (proc.poll() is None and server.kill())
    if proc.wait(60) is None:
        proc.kill()
    if not killed:  # it finished first: aim shorter next time
        timing["sync_s"] = max(0.02, 0.8 * (time.monotonic() - in_sync_at))
    else:
        timing["sync_s"] = min(2.0, timing["sync_s"] * 1.1)
    if victim == "server":
        server.ensure_running()
    return killed, phase if phase in ("push", "pull") else "push"


# =========================================================================== I/O faults


def io(points: int, seed: int = 1) -> dict[str, Any]:
    """strace fault injection: EIO and ENOSPC at the N-th pwrite64 of a save and of a sync."""
    import shutil

    if shutil.which("strace") is None:
        return {"campaign": "io", "error": "strace is not installed (apt-get install strace)"}
    rng = random.Random(seed)
    started = time.monotonic()
    totals = {
        "runs": 0,
        "faults_injected": 0,
        "errors_shown": 0,
        "absorbed": 0,
        "silent_failures": 0,
        "partial_saves": 0,
        "tracebacks": 0,
    }
    recorded: list[str] = []
    with _world("campaign-io-") as (workdir, server, client):
        # a save writes a few pages, a sync many: spread the injection points over both
        save_points = list(range(1, max(1, points // 10) + 1))
        sync_points = sorted(rng.sample(range(1, 300), k=min(max(1, points // 2), 299)))
        for errno_name in ("EIO", "ENOSPC"):
            for when in save_points:
                text = f"campaign note {uuid.uuid4()}"
                outcome = _faulted(workdir, client, "note", errno_name, when, CAMPAIGN_NOTE=text)
                _tally(totals, outcome)
                if outcome["ok"]:
                    recorded.append(outcome["action_id"])
                totals["partial_saves"] += _half_saved(client, text)
            for when in sync_points:
                recorded += client.record_notes(1, rng)
                _touch_server(server, 0.3, when)
                _tally(totals, _faulted(workdir, client, "sync", errno_name, when))
        client.clean_sync()
        outcome = check_outcome(client, server, recorded)
    return {
        "campaign": "io",
        **totals,
        "actions": len(recorded),
        **outcome,
        "seconds": round(time.monotonic() - started, 1),
    }


def _faulted(workdir: Path, client: Client, mode: str, errno_name: str, when: int, **extra: str) -> dict[str, Any]:
    log_path = workdir / "strace.log"
    prefix = [
        "strace", "-f", "-qq", "-o", str(log_path),
        "-e", "trace=pwrite64",
        "-e", f"inject=pwrite64:error={errno_name}:when={when}",
    ]  # fmt: skip
    code, result, output = client.worker(Subprocesses(workdir, prefix), mode=mode, timeout=180, **extra)
    injected = "(INJECTED)" in log_path.read_text(errors="replace")
    log_path.unlink(missing_ok=True)
    return {
        "ok": code == 0 and bool(result.get("ok")),
        "error": result.get("error") or "",
        "injected": injected,
        "traceback": "Traceback" in output,
        "action_id": result.get("action_id"),
    }


def _tally(totals: dict[str, int], outcome: dict[str, Any]) -> None:
    totals["runs"] += 1
    totals["tracebacks"] += int(outcome["traceback"])
    if not outcome["injected"]:
        return
    totals["faults_injected"] += 1
    if outcome["ok"]:
        totals["absorbed"] += 1  # the failed write was retried or not needed; the run still succeeded
    elif outcome["error"]:
        totals["errors_shown"] += 1
    else:
        totals["silent_failures"] += 1


def _half_saved(client: Client, text: str) -> int:
    """1 when the note and its outbox row are not both present or both absent."""
    from sqlalchemy import text as sql

    with client.store() as store, store.read_session() as s:
        notes = s.execute(sql("SELECT id FROM note WHERE text = :t"), {"t": text}).scalars().all()
        outbox = s.execute(
            sql("SELECT count(*) FROM outbox_action WHERE json_extract(payload, '$.text') = :t"), {"t": text}
        ).scalar()
    return int(len(notes) != outbox or len(notes) > 1)


# =========================================================================== network faults


def network(lost_acks: int, rounds: int, seed: int = 1) -> dict[str, Any]:
    """The sync-engine helper's fault campaign (tests/reliability/faults.py: FaultProxy delays,
    cut bodies, resets and answers dropped after the server committed = lost acks), run in
    chunks of `rounds` rounds until at least `lost_acks` lost acks were injected."""
    from tests.reliability.faults import fault_campaign

    started = time.monotonic()
    totals = {"chunks": 0, "rounds": 0, "faults_injected": 0, "lost_ack_injections": 0, "actions": 0, "lost": 0,
              "duplicated": 0, "state_mismatches": 0, "syncs_failed_under_faults": 0}  # fmt: skip
    faults: dict[str, int] = {}
    while totals["lost_ack_injections"] < lost_acks:
        report = fault_campaign(rounds=rounds, seed=seed * 1000 + totals["chunks"], fault_rate=0.6)
        totals["chunks"] += 1
        totals["rounds"] += report["rounds"]
        for kind, count in report["faults"].items():
            faults[kind] = faults.get(kind, 0) + count
        totals["faults_injected"] += sum(c for k, c in report["faults"].items() if k != "pass")
        totals["lost_ack_injections"] += report["faults"].get("drop", 0)
        totals["actions"] += report["actions_queued"]
        totals["lost"] += report["actions_missing"]
        totals["duplicated"] += report["actions_duplicated"] + report["unexpected_notes"]
        totals["state_mismatches"] += int(not report["caseload_equal"]) + report["outbox_not_done"]
        totals["state_mismatches"] += int(not report["final_sync_ok"])
        totals["syncs_failed_under_faults"] += report["syncs_failed"]
    return {"campaign": "network", **totals, "faults": faults, "seconds": round(time.monotonic() - started, 1)}


# =========================================================================== fuzz


def fuzz(pages: int, pings: int, mbtiles: int, seed: int = 1) -> dict[str, Any]:
    """Generated and mutated inputs through the real parsers; a crash is any unexpected exception."""
    from tests.reliability import fuzzers

    started = time.monotonic()
    results = [
        fuzzers.fuzz_change_pages(pages, seed),
        fuzzers.fuzz_osmand(pings, seed),
        fuzzers.fuzz_mbtiles(mbtiles, seed),
    ]
    return {
        "campaign": "fuzz",
        "cases": sum(r["cases"] for r in results),
        "crashes": sum(r["crashes"] for r in results),
        "partial_writes": sum(r.get("partial_writes", 0) for r in results),
        "by_target": {r["target"]: r for r in results},
        "seconds": round(time.monotonic() - started, 1),
    }


# =========================================================================== disk canary


def canary(seed: int = 1) -> dict[str, Any]:
    """A full workflow with a canary participant, then logout: the canary must be nowhere on disk."""
    started = time.monotonic()
    name = f"Quillfeather{random.Random(seed).randrange(16**8):08x}"
    case_number = f"CAN-{random.Random(seed + 1).randrange(10**9):09d}"
    with tempfile.TemporaryDirectory(prefix="campaign-canary-") as tmp:
        workdir = Path(tmp)
        scanned = workdir / "laptop"  # HOME, XDG dirs, TMPDIR and the data dir of the workflow
        scanned.mkdir()
        server = ServerProcess(workdir, Subprocesses(workdir), caseload=12)
        server.start()
        try:
            _plant_canary(server, name, case_number)
            env = _env(
                HOME=str(scanned),
                XDG_DATA_HOME=str(scanned / ".local/share"),
                XDG_CACHE_HOME=str(scanned / ".cache"),
                XDG_CONFIG_HOME=str(scanned / ".config"),
                XDG_RUNTIME_DIR=str(scanned / "run"),
                TMPDIR=str(scanned / "tmp"),
                WORKSTATION_HOME=str(scanned / "data"),
                CAMPAIGN_URL=server.url,
                CAMPAIGN_CANARY=name,
                CAMPAIGN_CASE=case_number,
            )
            for sub in ("tmp", "data", "run"):
                (scanned / sub).mkdir(mode=0o700)
            proc = subprocess.run(
                [PY, "-m", "tests.reliability.canary_workflow"], cwd=ROOT, env=env, capture_output=True, timeout=300
            )
            workflow = _last_json(proc.stdout.decode(errors="replace"))
            if proc.returncode != 0:
                workflow.setdefault("error", proc.stderr.decode(errors="replace")[-1500:])
        finally:
            server.stop()
        hits, files = _scan(scanned, [name, case_number])
        # SC-28: no unencrypted SQLite database anywhere (the tile cache was one until it got the cache key);
        # positive control: the server's database beside the scanned directory is one
        plaintext = _plaintext_databases(scanned)
        plaintext_control = len(_plaintext_databases(workdir)) - len(plaintext)
        # positive control: the scanner must find the canary where it legitimately is (the server)
        control_hits, _ = _scan(workdir, [name])
    result = {
        "campaign": "canary",
        "canary_hits": len(hits),
        "plaintext_databases": len(plaintext),
        "positive_control_files": len(control_hits) - len(hits),
        "files_scanned": files,
        "hit_files": hits[:20],
        "plaintext_database_files": plaintext[:20],
        "workflow": workflow,
        "seconds": round(time.monotonic() - started, 1),
    }
    if proc.returncode != 0 or not workflow.get("canary_synced") or min(result["positive_control_files"], plaintext_control) < 1:
        result["error"] = "the workflow did not complete, so a zero would mean nothing"
    return result


def _plant_canary(server: ServerProcess, name: str, case_number: str) -> None:
    from sync_server.caseload import record
    from sync_server.models import Participant

    db = server.db()
    try:
        with db.write() as s:
            row = s.get(Participant, "p0100001")
            row.first_name, row.last_name, row.case_number = "Canary", name, case_number
            row.version += 1
            record(s, "participant", row)
    finally:
        db.dispose()


def _plaintext_databases(root: Path) -> list[str]:
    return [
        str(path.relative_to(root)) for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and path.read_bytes()[:16] == b"SQLite format 3\x00"
    ]


def _scan(root: Path, needles: list[str]) -> tuple[list[str], int]:
    patterns = []
    for needle in needles:
        patterns += [needle.encode(), needle.encode("utf-16-le"), needle.lower().encode(), needle.upper().encode()]
    hits, files = [], 0
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        files += 1
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if any(p in data for p in patterns):
            hits.append(str(path.relative_to(root)))
    return hits, files


# =========================================================================== command line

CAMPAIGNS: dict[str, Callable[..., dict[str, Any]]] = {
    "crash": crash,
    "network": network,
    "io": io,
    "fuzz": fuzz,
    "canary": canary,
}


def run(name: str, bounded: bool = False, seed: int = 1) -> dict[str, Any]:
    sizes = (BOUNDED if bounded else FULL)[name]
    return CAMPAIGNS[name](**sizes, seed=seed)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--client-worker"]:
        return client_worker(argv[1] if len(argv) > 1 else "sync")
    if argv[:1] == ["--zygote"]:
        return zygote_main()
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.campaigns", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help=f"campaigns to run: {', '.join(CAMPAIGNS)}")
    parser.add_argument("--all", action="store_true", help="run every campaign")
    parser.add_argument("--bounded", action="store_true", help="the small sizes `make test` uses")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    names = list(CAMPAIGNS) if args.all else args.names
    # faults make the client log every failed sync; the JSON summaries are the output here
    logging.basicConfig(level=logging.CRITICAL)
    if not names:
        parser.error("name a campaign or pass --all")
    unknown = [n for n in names if n not in CAMPAIGNS]
    if unknown:
        parser.error(f"unknown campaign(s): {', '.join(unknown)}")
    failed = False
    for name in names:
        try:
            result = run(name, args.bounded, args.seed)
        except Exception as exc:  # noqa: BLE001 - one broken campaign must not hide the others' figures
            result = {"campaign": name, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)
        failed |= bool(result.get("error")) or any(result.get(k, 0) for k in MUST_BE_ZERO)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
