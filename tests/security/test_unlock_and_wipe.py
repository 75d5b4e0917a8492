"""Unlock through the lockout into a real store; rollback detection; crypto-wipe verified."""

from __future__ import annotations

import shutil

import pytest
import sqlcipher3.dbapi2 as sqlcipher
from sqlalchemy import select

from local_db.errors import StoreError, WrongPassword
from local_db.keys import keyfile_path, unwrap_data_key
from local_db.models import AuditEvent, Participant
from local_db.store import open_store
from workstation.security import lockout, unlock, wipe

PASSWORD = "correct horse battery staple"
CANARY = "Zebulon Quackenbush"


def _events(store) -> list[tuple[str, str]]:
    with store.read_session() as session:
        return [(r.event, r.outcome) for r in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars()]


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    store = unlock.first_store(home, PASSWORD, "officer.a", "ws-1")
    store.close()
    return home


def test_failures_reach_the_audit_chain_once_at_the_next_unlock(home) -> None:
    for guess in ("guess one", "guess two"):
        with pytest.raises(WrongPassword):
            unlock.unlock_store(home, guess, "officer.a", "ws-1")
    store = unlock.unlock_store(home, PASSWORD, "officer.a", "ws-1")
    try:
        assert _events(store) == [
            ("login", "ok"),
            ("unlock_failed", "failure"),
            ("unlock_failed", "failure"),
            ("unlock", "ok"),
        ]
    finally:
        store.close()
    store = unlock.unlock_store(home, PASSWORD, "officer.a", "ws-1")
    try:
        assert [e for e, _ in _events(store)].count("unlock_failed") == 2, "flushed exactly once"
    finally:
        store.close()


def test_a_rolled_back_key_file_is_refused_after_the_right_password(home, tmp_path) -> None:
    old_copy = tmp_path / "keys.old.json"
    shutil.copy(keyfile_path(home), old_copy)
    unlock.unlock_store(home, PASSWORD, "officer.a", "ws-1").close()  # the DB records attempts=1
    shutil.copy(old_copy, keyfile_path(home))  # replay the older key file (attempts=0)
    with pytest.raises(unlock.UnlockRefused, match="older copy"):
        unlock.unlock_store(home, PASSWORD, "officer.a", "ws-1")
    assert lockout.status(home).locked
    with pytest.raises(lockout.AccountLocked):
        unlock.unlock_store(home, PASSWORD, "officer.a", "ws-1")
    lockout.release_by_server(home, "officer.a")
    store = unlock.unlock_store(home, PASSWORD, "officer.a", "ws-1")
    try:
        events = [e for e, _ in _events(store)]
        assert "lockout_tamper" in events and events[-2:] == ["lockout_released", "unlock"]
    finally:
        store.close()


def test_crypto_wipe_leaves_nothing_the_old_password_can_open(home, tmp_path) -> None:
    store = unlock.unlock_store(home, PASSWORD, "officer.a", "ws-1")
    store.write(
        lambda s: s.add(
            Participant(id="P-1", case_number="C-1", first_name="Zebulon", last_name="Quackenbush", officer_id="o")
        ),
        durable=True,
    )
    store.close()
    stolen_copy = tmp_path / "stolen.db"
    shutil.copy(home / "store.db", stolen_copy)  # someone copied the database before the wipe
    webengine = tmp_path / "webengine"
    (webengine / "Cache").mkdir(parents=True)
    (webengine / "Cache" / "data_0").write_bytes(b"cached")

    report = wipe.crypto_wipe(home, "revoked by the agency server", keyfile_path(home), extra_dirs=[webengine])
    assert report.key_files_destroyed == 1 and report.files_deleted >= 2
    assert [p.name for p in home.iterdir()] == [wipe.NOTICE_NAME]
    assert list(webengine.iterdir()) == []
    assert "revoked" in wipe.wipe_notice(home).message()

    # the old password opens nothing: no key file, no store ...
    with pytest.raises(StoreError):
        unwrap_data_key(home, PASSWORD)
    with pytest.raises(StoreError):
        open_store(home, PASSWORD)
    # ... and the stolen copy cannot be opened with it either (the key was random, not derived)
    conn = sqlcipher.connect(str(stolen_copy))
    try:
        conn.execute(f"PRAGMA key = '{PASSWORD}'")
        with pytest.raises(sqlcipher.DatabaseError, match="not a database"):
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        conn.close()
    assert CANARY.split()[1].encode() not in stolen_copy.read_bytes()
