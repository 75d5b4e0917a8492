"""The one way a password becomes an open store: lockout policy, key unwrap, cross-check, audit.

Login and the lock screen both call `unlock_store`; `first_store` makes the store at enrolment
with its lockout section. Nothing else should call local_db.store.open_store with a password,
because that would bypass the failed-unlock counter.
"""

from __future__ import annotations

from pathlib import Path

from local_db import audit as audit_log
from local_db.store import Store, open_store, open_store_with_key
from workstation.security import lockout


class UnlockRefused(Exception):
    """The password was right but the key file failed the cross-check (rolled back)."""


def first_store(home: Path, password: str, officer: str, workstation_id: str, wipe_after: int | None = None) -> Store:
    """Create the store and key file at enrolment, with a fresh lockout section."""
    store = open_store(home, password, create=True)
    try:
        lockout.initialise(home, wipe_after)
        return _after_unlock(home, store, officer, workstation_id, "login")
    except BaseException:
        store.close()
        raise


def unlock_store(home: Path, password: str, officer: str, workstation_id: str, event: str = "unlock") -> Store:
    """Open the store with `password` under the lockout policy.

    Raises lockout.AccountLocked, local_db.errors.WrongPassword, lockout.WorkstationWiped,
    UnlockRefused, or a StoreError. On success the pending lockout events are in the audit chain,
    followed by an `event` row ("login" or "unlock").
    """
    key = lockout.guarded_unlock(home, password)
    store = open_store_with_key(home, key)
    del key
    try:
        return _after_unlock(home, store, officer, workstation_id, event)
    except BaseException:
        store.close()
        raise


def _after_unlock(home: Path, store: Store, officer: str, workstation_id: str, event: str) -> Store:
    audit_log.set_context(store, officer, workstation_id)
    ok = store.write(lambda s: lockout.cross_check(home, s, officer, workstation_id), durable=True)
    lockout.after_cross_check(home, ok)
    if not ok:
        raise UnlockRefused(
            "The key file on this workstation was replaced by an older copy, so it was locked. "
            "Sign in online or ask your administrator for a one-time code."
        )
    with store.read_session() as session:
        report = audit_log.verify_chain(session)
    audit_log.report_break(store, report)  # verify on open: a break is recorded, then uploaded
    audit_log.audit(store, event, "workstation")
    return store
