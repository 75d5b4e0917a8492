"""A password change checks the current password under the failed-unlock policy (AC-7): the dialog of
an unlocked session is not a way around the counter."""

from __future__ import annotations

import functools

import pytest
from sqlalchemy import select

from local_db.errors import WrongPassword
from local_db.keys import unwrap_data_key
from local_db.models import AuditEvent
from local_db.store import open_store
from workstation.auth import Auth
from workstation.security import lockout
from workstation.security.key_change import change_store_password as change_password_everywhere
from workstation.sync.http import ServerClient

PASSWORD = "correct horse battery staple"


@pytest.fixture
def server_client(sync_server):
    """A ServerClient logged in as officer1 (the change is online only)."""
    client = ServerClient(sync_server.url)
    client.tokens = Auth("officer1", "ws-key-change")
    client.tokens.login(client, "pw")
    yield client
    client.close()


def test_wrong_current_passwords_count_and_lock_the_workstation(tmp_path, server_client) -> None:
    home = tmp_path / "home"
    home.mkdir()
    store = open_store(home, PASSWORD, create=True)
    lockout.initialise(home)
    change_store_password = functools.partial(change_password_everywhere, server=server_client)
    try:
        for i in range(lockout.MAX_FAILURES - 1):
            with pytest.raises(WrongPassword):
                change_store_password(store, home, f"guess {i}", "a-new-passphrase")
        assert not lockout.status(home).locked
        with pytest.raises(lockout.AccountLocked):  # the failure that reaches the threshold says so
            change_store_password(store, home, "one more guess", "a-new-passphrase")
        assert lockout.status(home).locked

        attempts = lockout.status(home).attempts
        with pytest.raises(lockout.AccountLocked):  # even the right password is refused, and counted
            change_store_password(store, home, PASSWORD, "a-new-passphrase")
        assert lockout.status(home).attempts == attempts + 1
        unwrap_data_key(home, PASSWORD)  # nothing was changed

        with store.read_session() as db:
            rows = db.execute(
                select(AuditEvent.outcome, AuditEvent.detail).where(AuditEvent.event == "key_change")
            ).all()
        assert rows[-2:] == [("attempt", ""), ("failed", "AccountLocked")]
        assert rows.count(("failed", "WrongPassword")) == lockout.MAX_FAILURES - 1
        assert rows.count(("failed", "AccountLocked")) == 2
    finally:
        store.close()
