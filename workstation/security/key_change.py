"""Changing the password that unwraps the data key (CLI `change-password`, GUI "Change password…").

One function so both paths audit the same way: the re-wrap (local_db.keys.change_password, which keeps
the failed-unlock counter in keys.json) and a key_change audit row with its outcome. The audit row of
the attempt is written first; if it cannot be, nothing is changed (AU-5: no unaudited key change).

The current password is checked under the failed-unlock policy (workstation.security.lockout, AC-7)
before anything else: otherwise the dialog, in an unlocked session left unattended, would let anyone
guess the officer's password with no counter. A wrong one counts like a failed unlock (5 in 15 minutes
lock the workstation, the agency's wipe threshold applies), and a locked workstation refuses before
the key derivation runs (AccountLocked).
"""

from __future__ import annotations

from pathlib import Path

from local_db import audit as audit_log
from local_db.errors import WrongPassword
from local_db.keys import change_password
from workstation.security import lockout


def change_store_password(store, data_dir: Path | str, old: str, new: str) -> None:
    """Re-wrap the data key of the open `store` under `new`; raises WrongPassword, or AccountLocked
    when the workstation is locked (also by this very attempt); nothing is changed then."""
    home = Path(data_dir)
    audit_log.audit(store, "key_change", "keys.json", "attempt")
    try:
        try:
            lockout.guarded_unlock(home, old)
        except WrongPassword as exc:
            state = lockout.status(home)
            if state.locked:  # this failure reached the threshold: the caller locks the session now
                raise lockout.AccountLocked(state.reason) from exc
            raise
        change_password(home, old, new)
    except Exception as exc:
        audit_log.audit(store, "key_change", "keys.json", "failed", type(exc).__name__)
        raise
    audit_log.audit(store, "key_change", "keys.json", "ok")
