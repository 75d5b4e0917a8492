"""The headless commands, run in-process through workstation.cli.main against a real server."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from local_db.errors import WrongPassword
from local_db.models import AuditEvent
from local_db.store import open_store
from workstation import cli
from workstation.commands.sync import SUMMARY_KEYS
from workstation.security import lockout


@pytest.fixture
def env(tmp_path, monkeypatch):
    home = tmp_path / "cli-home"
    home.mkdir()
    monkeypatch.setenv("WORKSTATION_HOME", str(home))
    monkeypatch.setenv("WORKSTATION_PASSWORD", "pw")
    monkeypatch.delenv("WORKSTATION_SERVER_URL", raising=False)
    return home


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sync_note_outbox_caseload(sync_server_factory, env, capsys):
    server = sync_server_factory(caseload=6)
    code, out, err = run(capsys, "sync", "--server", server.url, "--user", "officer1", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert set(SUMMARY_KEYS) <= set(summary) and summary["participants"] == 6 and summary["ok"]

    case = server.seeded["officers"]["officer1"]["case_numbers"][0]
    code, out, err = run(capsys, "note", case, "phoned, no answer")
    assert code == 0, err
    action_id = out.strip()
    code, out, _ = run(capsys, "outbox", "--json")
    assert [(r["id"], r["state"]) for r in json.loads(out)] == [(action_id, "queued")]

    code, out, err = run(capsys, "sync", "--server", server.url, "--user", "officer1", "--json")
    assert code == 0, err
    assert json.loads(out)["actions_applied"] == 1
    assert server.count_notes(action_id) == 1

    code, out, _ = run(capsys, "caseload", "--json", "--limit", "4")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 4
    assert set(rows[0]) == {"case_number", "name", "risk", "device_status", "last_fix_age_s", "stale", "device_problem",
                            "open_alerts"}
    code, out, _ = run(capsys, "caseload", "--search", case)
    assert code == 0 and case in out and "1 participant(s)" in out
    with open_store(env, "pw") as store, store.read_session() as db:  # the offline note's audit row
        assert set(db.scalars(select(AuditEvent.officer).where(AuditEvent.event == "action"))) == {"officer1"}
        # AU-2: the listing and the search were audited as what they are
        searches = db.scalars(select(AuditEvent.object).where(AuditEvent.event == "search")).all()
        assert searches == [f"query:{case}"]
        assert "caseload" in db.scalars(select(AuditEvent.object).where(AuditEvent.event == "view_participant")).all()


def test_failures_are_one_clear_line_and_non_zero(sync_server_factory, env, capsys):
    code, _, err = run(capsys, "sync", "--server", "http://127.0.0.1:9", "--user", "officer1")
    assert code == 1 and "cannot reach" in err
    code, _, err = run(capsys, "sync", "--server", "http://agency.example.org", "--user", "officer1")
    assert code == 1 and "HTTPS" in err
    server = sync_server_factory(caseload=2)
    code, _, err = run(capsys, "sync", "--server", server.url, "--user", "officer1", "--json")
    assert code == 0
    code, _, err = run(capsys, "note", "NO-SUCH-CASE", "text")
    assert code == 1 and "no participant NO-SUCH-CASE" in err
    # a workstation locked after failed sign-ins: one line naming the way out, never a traceback
    for i in range(lockout.MAX_FAILURES):
        with pytest.raises(WrongPassword):
            lockout.guarded_unlock(env, f"wrong {i}")
    code, out, err = run(capsys, "caseload", "--limit", "1")
    assert code == 1 and out == "" and err.count("\n") == 1 and "locked after repeated failed sign-ins" in err


def test_device_status_reads_like_an_officer_would_say_it():
    from types import SimpleNamespace

    from workstation.read.rules import device_status

    def row(**kw):
        return SimpleNamespace(**{"device_id": "d1", "device_kind": "ankle", "strap": "ok", "battery_pct": 40,
                                  "charging": False, **kw})

    assert device_status(row()) == "ankle, 40%"
    assert device_status(row(device_kind="phone_app", strap="not_applicable", charging=True)) == "phone_app, 40% charging"
    assert device_status(row(strap="tampered", battery_pct=None)) == "ankle tampered"
    assert device_status(row(device_id=None)) == "no device"


def test_disk_errors_are_one_clear_line_not_a_traceback(capsys):
    """A disk that fills up or fails under SQLite surfaces as a DBAPI OperationalError or an OSError."""
    import errno
    import sqlite3
    from types import SimpleNamespace

    from sqlalchemy.exc import OperationalError

    from workstation.cli import EXIT_FAILED, run_command

    failures = [
        OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error")),
        OSError(errno.ENOSPC, "No space left on device"),
    ]
    for failure in failures:
        def run(_args, failure=failure):
            raise failure

        assert run_command(SimpleNamespace(NAME="sync", run=run), SimpleNamespace()) == EXIT_FAILED
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("workstation sync: disk or database error")
        assert "Traceback" not in err[0]
    assert "disk I/O error" in str(failures[0].orig)


def test_change_password_rewraps_the_key_and_is_audited(sync_server_factory, env, capsys, monkeypatch):
    server = sync_server_factory(caseload=2)
    code, _, err = run(capsys, "sync", "--server", server.url, "--user", "officer1", "--json")
    assert code == 0, err
    store_bytes = (env / "store.db").read_bytes()

    monkeypatch.setenv("WORKSTATION_NEW_PASSWORD", "short")
    code, _, err = run(capsys, "change-password")
    assert code == 1 and "at least 8 characters" in err and "Nothing was changed" in err

    monkeypatch.setenv("WORKSTATION_NEW_PASSWORD", "a-longer-passphrase")
    code, out, err = run(capsys, "change-password")
    assert code == 0, err
    assert "changed on the server and on this workstation" in out
    # the server credential changed with it: the two never diverge
    def server_login(password: str) -> int:
        return httpx.post(f"{server.url}/v1/auth/token", json={
            "username": "officer1", "password": password, "workstation_id": "ws-other"}).status_code
    assert [server_login("a-longer-passphrase"), server_login("pw")] == [200, 401]
    assert (env / "store.db").read_bytes()[:4096] == store_bytes[:4096]  # the database was not re-encrypted

    code, _, err = run(capsys, "caseload")  # WORKSTATION_PASSWORD is still the old one
    assert code == 1 and "Wrong password" in err
    monkeypatch.setenv("WORKSTATION_PASSWORD", "a-longer-passphrase")
    code, out, err = run(capsys, "caseload")
    assert code == 0 and "2 participant(s)" in out
    with open_store(env, "a-longer-passphrase") as store, store.read_session() as db:
        outcomes = db.scalars(select(AuditEvent.outcome).where(AuditEvent.event == "key_change")).all()
    assert outcomes == ["attempt", "ok"]

    # offline, nothing changes anywhere and the officer is told why
    server.stop()
    monkeypatch.setenv("WORKSTATION_NEW_PASSWORD", "yet-another-passphrase")
    code, _, err = run(capsys, "change-password")
    assert code == 1 and "needs the agency server" in err and "Nothing was changed" in err
    code, out, err = run(capsys, "caseload")
    assert code == 0, err


def test_a_newcomer_syncs_into_a_new_home_and_unsynced_homes_say_so(sync_server_factory, tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setenv("WORKSTATION_PASSWORD", "pw")
    monkeypatch.delenv("WORKSTATION_SERVER_URL", raising=False)
    never = tmp_path / "never-synced"
    never.mkdir()
    monkeypatch.setenv("WORKSTATION_HOME", str(never))
    for command in (["caseload"], ["outbox"], ["note", "CHI-1", "text"]):
        code, out, err = run(capsys, *command)
        assert code == 1 and out == "", command
        assert err.count("\n") == 1 and "nothing has been synced" in err and "workstation sync" in err, err
    missing = tmp_path / "a" / "new" / "home"
    monkeypatch.setenv("WORKSTATION_HOME", str(missing))
    code, _, err = run(capsys, "caseload")
    assert code == 1 and err.count("\n") == 1 and "does not exist" in err and not missing.exists()

    server = sync_server_factory(caseload=3)
    code, _, err = run(capsys, "sync", "--server", server.url, "--user", "officer1", "--json")
    assert code == 0, err
    assert missing.is_dir() and missing.stat().st_mode & 0o777 == 0o700


def test_control_characters_from_the_server_never_reach_the_terminal(capsys):
    from workstation.terminal import safe_output, strip_controls

    hostile = "Ana\x1b]0;pwned\x07 Ruiz\x1b[2J\r\u202eevil\x9b31m"
    assert strip_controls(hostile) == "Ana]0;pwned Ruiz[2Jevil31m"
    with safe_output():
        print(f"name: {hostile}\tok")
    out, _ = capsys.readouterr()
    assert out == "name: Ana]0;pwned Ruiz[2Jevil31m\tok\n"
