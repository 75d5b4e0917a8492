"""Changing the officer's password (CLI `change-password`, GUI "Change password…"): one operation on
both ends, so the password the server accepts and the one that unwraps the local data key never
diverge (a divergence failed the next online login both ways and locked the account).

Order: the current password is checked locally, then the server changes its credential
(POST /v1/auth/password), then the data key is re-wrapped (local_db.keys.change_password, which keeps
the failed-unlock counter in keys.json). If the re-wrap fails after the server changed, the server is
set back to the old password. Online only: without a server session nothing is changed
(PasswordChangeNeedsServer). One function so both paths audit the same way: a key_change row of the
attempt first (if it cannot be written nothing is changed: AU-5), then `ok` or `failed`.

The current password is checked under the failed-unlock policy (workstation.security.lockout, AC-7)
before anything else: otherwise the dialog, in an unlocked session left unattended, would let anyone
guess the officer's password with no counter. A wrong one counts like a failed unlock (5 in 15 minutes
lock the workstation, the agency's wipe threshold applies), and a locked workstation refuses before
the key derivation runs (AccountLocked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local_db import audit as audit_log
from local_db.errors import WrongPassword
from local_db.keys import change_password
from local_db.store import Store
from workstation.protocol import PasswordChangeRequest
from workstation.security import lockout
from workstation.sync.errors import SyncError

PASSWORD_PATH = "/v1/auth/password"


class PasswordChangeNeedsServer(SyncError):
    """No server session: the password is not changed anywhere (it would diverge from the server's)."""


def change_store_password(store: Store, data_dir: Path | str, old: str, new: str, server: Any = None) -> None:
    """Change the password on the server (`server`: a logged-in workstation.sync.http.ServerClient) and
    re-wrap the data key of the open `store` under `new`. Raises PasswordChangeNeedsServer, WrongPassword,
    AccountLocked when the workstation is locked (also by this very attempt), or the server's SyncError;
    nothing is changed then."""
    home = Path(data_dir)
    tokens = getattr(server, "tokens", None)
    if server is None or tokens is None or not tokens.logged_in:
        raise PasswordChangeNeedsServer(
            "changing the password needs the agency server (this session is offline); nothing was changed"
        )
    audit_log.audit(store, "key_change", "keys.json", "attempt")
    try:
        try:
            lockout.guarded_unlock(home, old)
        except WrongPassword as exc:
            state = lockout.status(home)
            if state.locked:  # this failure reached the threshold: the caller locks the session now
                raise lockout.AccountLocked(state.reason) from exc
            raise
        _change_on_server(server, old, new)
        try:
            change_password(home, old, new)
        except BaseException:
            _change_on_server(server, new, old)  # put the server back: the two must not diverge
            raise
    except Exception as exc:
        audit_log.audit(store, "key_change", "keys.json", "failed", type(exc).__name__)
        raise
    audit_log.audit(store, "key_change", "keys.json", "ok")


def _change_on_server(server: Any, current: str, new: str) -> None:
    body = PasswordChangeRequest(current_password=current, new_password=new).model_dump_json().encode()
    server.post_json(PASSWORD_PATH, body)
