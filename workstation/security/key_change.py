"""Changing the password that unwraps the data key (CLI `change-password`, GUI "Change password…").

One function so both paths audit the same way: the re-wrap (local_db.keys.change_password, which keeps
the failed-unlock counter in keys.json) and a key_change audit row with its outcome. The audit row of
the attempt is written first; if it cannot be, nothing is changed (AU-5: no unaudited key change).
"""

from __future__ import annotations

from pathlib import Path

from local_db import audit as audit_log
from local_db.keys import change_password


def change_store_password(store, data_dir: Path | str, old: str, new: str) -> None:
    """Re-wrap the data key of the open `store` under `new`; raises WrongPassword (nothing changed)."""
    audit_log.audit(store, "key_change", "keys.json", "attempt")
    try:
        change_password(Path(data_dir), old, new)
    except Exception as exc:
        audit_log.audit(store, "key_change", "keys.json", "failed", type(exc).__name__)
        raise
    audit_log.audit(store, "key_change", "keys.json", "ok")
