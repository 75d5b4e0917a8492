"""`workstation selftest` and the CLI around it: exit 0 only when the encrypted store works
and nothing on disk is plaintext; every kind of bad input is one clear message, a non-zero
exit, and no change on disk."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_db import keys
from local_db.engine import make_engine
from tests.fixtures.store import run_with_read_only_dir
from workstation import cli
from workstation.commands import COMMANDS

PLAINTEXT = b"SQLite format 3\x00"
WORKSTATION_SCRIPT = Path(sys.executable).parent / "workstation"


def _snapshot(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


def _selftest(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path, password: str):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WORKSTATION_HOME", str(home))
    monkeypatch.setenv("WORKSTATION_PASSWORD", password)
    code = cli.main(["selftest", "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def _failed(report: dict) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}


def test_selftest_creates_then_reopens_the_store(monkeypatch, capsys, store_home: Path, store_password: str) -> None:
    code, report, _ = _selftest(monkeypatch, capsys, store_home, store_password)
    assert code == 0 and report["ok"] is True
    assert {c["name"] for c in report["checks"]} == {
        "data_dir", "open_store", "write_read_back", "cipher", "cipher_integrity", "files_encrypted",
    }  # fmt: skip
    assert report["cipher_version"].startswith("4.")
    assert "created a new store" in str(report["checks"])
    for path in store_home.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(PLAINTEXT), path

    code, report, _ = _selftest(monkeypatch, capsys, store_home, store_password)
    assert code == 0 and "opened the existing store" in str(report["checks"])


def test_selftest_fails_on_a_plaintext_database_anywhere_in_the_home(
    monkeypatch, capsys, store_home: Path, store_password: str
) -> None:
    assert _selftest(monkeypatch, capsys, store_home, store_password)[0] == 0
    (store_home / "backups").mkdir()
    (store_home / "backups" / "leak.db").write_bytes(PLAINTEXT + b"\x00" * 100)
    code, report, _ = _selftest(monkeypatch, capsys, store_home, store_password)
    assert code == 1
    assert "backups/leak.db" in _failed(report)["files_encrypted"]


def test_wrong_password(monkeypatch, capsys, store_home: Path, store_password: str) -> None:
    assert _selftest(monkeypatch, capsys, store_home, store_password)[0] == 0
    before = _snapshot(store_home)
    code, report, _ = _selftest(monkeypatch, capsys, store_home, "not it")
    assert code == 1
    assert _failed(report) == {"open_store": "Wrong password. Nothing was changed."}
    assert _snapshot(store_home) == before


def test_corrupt_and_truncated_database(monkeypatch, capsys, store_home: Path, store_password: str) -> None:
    assert _selftest(monkeypatch, capsys, store_home, store_password)[0] == 0
    db = store_home / "store.db"
    for damaged in (os.urandom(db.stat().st_size), db.read_bytes()[:1000]):
        db.write_bytes(damaged)
        before = _snapshot(store_home)
        code, report, _ = _selftest(monkeypatch, capsys, store_home, store_password)
        assert code == 1
        assert "is damaged" in _failed(report)["open_store"]
        assert _snapshot(store_home) == before


def test_database_from_a_newer_version(monkeypatch, capsys, store_home: Path, store_password: str) -> None:
    assert _selftest(monkeypatch, capsys, store_home, store_password)[0] == 0
    engine = make_engine(store_home / "store.db", keys.unwrap_data_key(store_home, store_password))
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099_future'")
    engine.dispose()
    before = _snapshot(store_home)
    code, report, _ = _selftest(monkeypatch, capsys, store_home, store_password)
    assert code == 1
    assert "newer version" in _failed(report)["open_store"]
    assert _snapshot(store_home) == before


def test_missing_data_dir(monkeypatch, capsys, tmp_path: Path, store_password: str) -> None:
    code, report, _ = _selftest(monkeypatch, capsys, tmp_path / "typo", store_password)
    assert code == 1
    assert _failed(report) == {"data_dir": f"The data directory {tmp_path / 'typo'} does not exist."}
    assert not (tmp_path / "typo").exists()


def test_no_password_and_no_terminal(monkeypatch, capsys, store_home: Path) -> None:
    monkeypatch.setenv("WORKSTATION_HOME", str(store_home))
    monkeypatch.delenv("WORKSTATION_PASSWORD", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # not a terminal: nobody to prompt
    assert cli.main(["selftest"]) == 1
    assert "WORKSTATION_PASSWORD" in capsys.readouterr().err
    assert list(store_home.iterdir()) == []


def test_registry_and_help(capsys) -> None:
    assert "selftest" in cli.subcommand_names() == COMMANDS
    for name in COMMANDS:
        module = cli.command_module(name)
        assert module.NAME == name and callable(module.register) and callable(module.run)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    assert "selftest" in capsys.readouterr().out


@pytest.mark.skipif(not WORKSTATION_SCRIPT.exists(), reason="console script not installed (pip install -e .)")
def test_console_script_selftest_in_a_fresh_home(tmp_path: Path) -> None:
    """The done-criterion command, as a user (or the installer's smoke test) runs it."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "WORKSTATION_HOME": str(home), "WORKSTATION_PASSWORD": "x"}
    result = subprocess.run(
        [str(WORKSTATION_SCRIPT), "selftest"], env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed." in result.stdout
    db_files = [p for p in home.rglob("*") if p.is_file() and p.name != "keys.json"]
    assert db_files and all(not p.read_bytes().startswith(PLAINTEXT) for p in db_files)


@pytest.mark.skipif(not WORKSTATION_SCRIPT.exists(), reason="console script not installed (pip install -e .)")
def test_console_script_read_only_data_dir(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "WORKSTATION_HOME": str(home), "WORKSTATION_PASSWORD": "x"}
    result = run_with_read_only_dir(home, [str(WORKSTATION_SCRIPT), "selftest"], env=env)
    assert result.returncode == 1
    assert "read-only" in result.stdout
    assert list(home.iterdir()) == []


def test_extra_checks_are_merged_and_a_crashing_one_fails_the_run(
    monkeypatch, capsys, store_home: Path, store_password: str
) -> None:
    """The way ui.launcher adds the map page check."""
    from workstation.commands import selftest as selftest_command

    monkeypatch.setenv("WORKSTATION_HOME", str(store_home))
    monkeypatch.setenv("WORKSTATION_PASSWORD", store_password)
    args = cli.build_parser().parse_args(["selftest", "--json"])

    def crash() -> dict:
        raise RuntimeError("no GPU today")

    passing = ("map_page", lambda: {"ok": True, "leaflet_version": "1.9.4", "error": None})
    assert selftest_command.run(args, extra_checks=[passing]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["checks"][-1] == {
        "name": "map_page", "ok": True, "detail": "leaflet_version=1.9.4", "data": {"leaflet_version": "1.9.4"},
    }  # fmt: skip

    assert selftest_command.run(args, extra_checks=[passing, ("map_page", crash)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert _failed(report) == {"map_page": "RuntimeError: no GPU today"}
