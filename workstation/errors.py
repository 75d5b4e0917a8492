"""The failures a front end explains to the officer, from every layer, under one name each."""

from __future__ import annotations

from local_db.errors import StoreCorrupt, WrongPassword
from workstation.security.lockout import AccountLocked, WorkstationWiped
from workstation.sync.errors import AuthRequired, MfaRequired, ServerUnreachable

__all__ = [
    "AccountLocked", "AuthRequired", "MfaRequired", "ServerUnreachable", "StoreCorrupt", "WorkstationWiped",
    "WrongPassword",
]
