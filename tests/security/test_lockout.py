"""Failed-unlock lockout against a real key file (real PBKDF2 cost, no shortcuts)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from local_db.errors import StoreNotFound, WrongPassword
from local_db.keys import create_keyfile, keyfile_path, unwrap_data_key
from workstation.security import lockout
from workstation.security.wipe import NOTICE_NAME, wipe_notice

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    create_keyfile(home, PASSWORD)
    lockout.initialise(home)
    return home


class CountingUnwrap:
    """The real unwrap, counted: shows whether the KDF ran."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, home, password):
        self.calls += 1
        return unwrap_data_key(home, password)


def wrong_password(_home, _password):
    """Stands in for a KDF run that fails, where the KDF's cost is not what a test is about
    (the real unwrap is used in the tests that count KDF runs and in the wipe test)."""
    raise WrongPassword("Wrong password. Nothing was changed.")


def _fail(home, n: int, start: datetime = T0, step: timedelta = timedelta(seconds=30), unwrap=wrong_password):
    for i in range(n):
        with pytest.raises(WrongPassword):
            lockout.guarded_unlock(home, f"wrong {i}", now=start + i * step, unwrap=unwrap)


def test_correct_password_unlocks_and_resets_the_count(home) -> None:
    _fail(home, 4)
    key = lockout.guarded_unlock(home, PASSWORD, now=T0 + timedelta(minutes=3))
    assert key == unwrap_data_key(home, PASSWORD)
    state = lockout.status(home)
    assert state.failures == [] and not state.locked and state.attempts == 5
    _fail(home, 4, start=T0 + timedelta(minutes=4))
    assert not lockout.status(home).locked


def test_five_failures_in_15_minutes_lock_and_the_sixth_is_refused_without_the_kdf(home) -> None:
    unwrap = CountingUnwrap()
    _fail(home, 5, unwrap=unwrap)  # the real KDF with wrong passwords
    assert unwrap.calls == 5
    state = lockout.status(home)
    assert state.locked and "5 failed attempts within 15 minutes" in state.reason
    with pytest.raises(lockout.AccountLocked) as info:
        lockout.guarded_unlock(home, PASSWORD, now=T0 + timedelta(minutes=3), unwrap=unwrap)
    assert unwrap.calls == 5, "a locked workstation must not run the KDF"
    assert "administrator" in str(info.value)
    # still locked hours later: only an administrator releases it (CJIS v5.9.5 AC-7)
    with pytest.raises(lockout.AccountLocked):
        lockout.guarded_unlock(home, PASSWORD, now=T0 + timedelta(days=2), unwrap=unwrap)
    events = [e["event"] for e in lockout.status(home).pending_audit]
    assert events.count("unlock_failed") == 5 and events.count("lockout") == 1
    assert events.count("unlock_refused") == 2


def test_failures_spread_over_more_than_15_minutes_do_not_lock_until_ten(home) -> None:
    _fail(home, 9, step=timedelta(minutes=4))
    assert not lockout.status(home).locked
    _fail(home, 1, start=T0 + timedelta(hours=2))
    state = lockout.status(home)
    assert state.locked and "10 consecutive" in state.reason


def test_the_lock_survives_a_restart_and_cannot_be_reset_by_deleting_or_editing(home) -> None:
    _fail(home, 5)
    # "restart": nothing is held in memory; state is read from disk each time
    assert lockout.status(home).locked
    path = keyfile_path(home)
    record = json.loads(path.read_text())

    # 1) editing the section without a valid tag: fail closed
    record["lockout"]["body"]["locked"] = False
    record["lockout"]["body"]["failures"] = []
    path.write_text(json.dumps(record))
    with pytest.raises(lockout.AccountLocked, match="tampered"):
        lockout.guarded_unlock(home, PASSWORD, now=T0 + timedelta(hours=1))

    # 2) removing the section entirely: fail closed, and the attempt counter never goes down
    attempts = lockout.status(home).attempts
    record = json.loads(path.read_text())
    del record["lockout"]
    path.write_text(json.dumps(record))
    with pytest.raises(lockout.AccountLocked, match="missing"):
        lockout.guarded_unlock(home, PASSWORD, now=T0 + timedelta(hours=1))
    assert lockout.status(home).attempts >= 1

    # 3) deleting keys.json deletes the only wrapped data key: nothing can be unlocked at all
    path.unlink()
    with pytest.raises(StoreNotFound, match="nothing on this workstation can be unlocked"):
        lockout.guarded_unlock(home, PASSWORD)
    assert attempts >= 6


def test_server_release_at_online_login(home) -> None:
    _fail(home, 5)
    lockout.release_by_server(home, "officer.a", now=T0 + timedelta(hours=1))
    assert lockout.guarded_unlock(home, PASSWORD, now=T0 + timedelta(hours=1, seconds=1))
    assert [e["event"] for e in lockout.status(home).pending_audit][-1] == "lockout_released"


def test_one_time_admin_code_releases_once(home) -> None:
    codes = lockout.issue_release_codes(home, count=3)
    assert len(set(codes)) == 3 and all(len(c.replace("-", "")) == 16 for c in codes)
    assert "release_hashes" in json.loads(keyfile_path(home).read_text())["lockout"]["body"]
    assert codes[0] not in keyfile_path(home).read_text()
    _fail(home, 5)
    assert not lockout.release_with_code(home, "AAAA-BBBB-CCCC-DDDD")
    assert lockout.status(home).locked
    assert lockout.release_with_code(home, codes[1].lower().replace("-", " "))
    assert lockout.guarded_unlock(home, PASSWORD)
    _fail(home, 5)
    assert not lockout.release_with_code(home, codes[1]), "a code works once"
    assert lockout.release_with_code(home, codes[2])


def test_a_kill_during_the_kdf_still_counts_the_attempt(home) -> None:
    def killed(_home, _password):
        raise KeyboardInterrupt  # the process dies while PBKDF2 runs

    with pytest.raises(KeyboardInterrupt):
        lockout.guarded_unlock(home, "guess", now=T0, unwrap=killed)
    state = lockout.status(home)
    assert state.attempts == 1 and len(state.failures) == 1


def test_agency_wipe_threshold_crypto_wipes_after_n_failures(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    create_keyfile(home, PASSWORD)
    lockout.initialise(home, wipe_after=7)
    (home / "store.db").write_bytes(b"encrypted pages")
    _fail(home, 5, unwrap=unwrap_data_key)
    with pytest.raises(lockout.AccountLocked):
        lockout.guarded_unlock(home, PASSWORD, now=T0 + timedelta(minutes=5))
    with pytest.raises(lockout.WorkstationWiped) as info:
        lockout.guarded_unlock(home, PASSWORD, now=T0 + timedelta(minutes=6))
    assert "erased" in str(info.value)
    assert sorted(p.name for p in home.iterdir()) == [NOTICE_NAME]
    assert "failed sign-in" in wipe_notice(home).reason
    with pytest.raises(Exception):  # noqa: B017 - any error: there is no key left to unwrap
        unwrap_data_key(home, PASSWORD)


def test_restoring_an_old_key_file_is_caught_by_the_attempt_counter(home, tmp_path) -> None:
    backup = tmp_path / "keys.backup.json"
    shutil.copy(keyfile_path(home), backup)
    lockout.guarded_unlock(home, PASSWORD)
    state = lockout.status(home)
    assert state.attempts == 1
    # the encrypted DB remembers attempts=1 (see cross_check tests); the backup says 0
    shutil.copy(backup, keyfile_path(home))
    assert lockout.status(home).attempts == 0


def test_the_server_releases_a_locked_workstation_at_the_next_online_login(sync_server, tmp_path) -> None:
    from workstation.auth import login
    from workstation.sync.errors import AuthRequired
    from workstation.sync.http import ServerClient

    home = tmp_path / "laptop"
    home.mkdir()
    with ServerClient(sync_server.url) as client:
        login(home, "officer1", "pw", client, workstation_id="ws-release").store.close()
    _fail(home, 5)
    with pytest.raises(lockout.AccountLocked):  # offline: only an administrator can release it
        login(home, "officer1", "pw", None, workstation_id="ws-release")
    with ServerClient(sync_server.url) as client:
        with pytest.raises(AuthRequired):  # a wrong password online releases nothing
            login(home, "officer1", "not the password", client, workstation_id="ws-release")
        assert lockout.status(home).locked
        result = login(home, "officer1", "pw", client, workstation_id="ws-release")
    try:
        assert result.online and not lockout.status(home).locked
    finally:
        result.store.close()
