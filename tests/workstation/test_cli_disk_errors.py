"""A disk that fails under the store (EIO, ENOSPC) during a real CLI command: one clear line, a
non-zero exit, no traceback, nothing half-written, and never "damaged: restore it from the backups".

The failure is real: strace makes the kernel answer the N-th pwrite64 of the command's process
with the errno, as the reliability io campaign does, so SQLite sees exactly what a full or failing
disk gives it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from local_db import audit
from local_db.models import AuditEvent, Note, OutboxAction
from local_db.store import open_store
from workstation import cli

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")


def _counts(home: Path) -> tuple[int, int, int]:
    """Notes, their outbox rows and their `action` audit rows: written together or not at all. (The
    login's own audit row may have committed before the failure; the chain must still verify.)"""
    with open_store(home, "pw") as store, store.read_session() as db:
        assert audit.verify_chain(db).ok
        return (
            db.scalar(select(func.count()).select_from(Note)),
            db.scalar(select(func.count()).select_from(OutboxAction)),
            db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "action")),
        )


def _faulted(tmp_path: Path, env: dict[str, str], errno_name: str, when: int, *argv: str):
    log = tmp_path / f"strace-{errno_name}-{when}.log"
    proc = subprocess.run(
        ["strace", "-f", "-qq", "-o", str(log), "-e", "trace=pwrite64",
         "-e", f"inject=pwrite64:error={errno_name}:when={when}",
         sys.executable, "-m", "ui.launcher", *argv],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )  # fmt: skip
    return proc, "(INJECTED)" in log.read_text(errors="replace")


def test_a_failing_disk_is_one_clear_line_and_nothing_half_written(sync_server_factory, tmp_path, monkeypatch, capsys):
    server = sync_server_factory(caseload=3)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("WORKSTATION_HOME", str(home))
    monkeypatch.setenv("WORKSTATION_PASSWORD", "pw")
    assert cli.main(["sync", "--server", server.url, "--user", "officer1"]) == 0
    capsys.readouterr()
    case = server.seeded["officers"]["officer1"]["case_numbers"][0]
    env = {**os.environ, "WORKSTATION_HOME": str(home), "WORKSTATION_PASSWORD": "pw"}
    before = _counts(home)

    # early (opening the store: the key check, the audit row of the login) and later (the note itself)
    for errno_name, when, argv in [
        ("EIO", 1, ("note", case, "written on a failing disk")),
        ("ENOSPC", 1, ("caseload", "--search", case)),
        ("EIO", 16, ("note", case, "written on a failing disk")),
    ]:
        proc, injected = _faulted(tmp_path, env, errno_name, when, *argv)
        assert injected, f"{errno_name}@{when}: the fault was not injected"
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode != 0, (argv, proc.stdout)
        assert len(lines) == 1 and lines[0].startswith(f"workstation {argv[0]}: "), proc.stderr
        assert "Traceback" not in proc.stderr and "restore it from" not in proc.stderr, proc.stderr
        assert "disk" in lines[0], proc.stderr
        assert _counts(home) == before, f"{errno_name}@{when}: something was written after the failure"

    # the disk is fine again: the same command works
    assert cli.main(["note", case, "written once the disk works"]) == 0
    assert _counts(home) == tuple(n + 1 for n in before)
