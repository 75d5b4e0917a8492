"""Errors of the local store. Every message is meant to be shown to an officer as it is:
it says what is wrong and what to do, and never contains key material or the password."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every store failure; str(error) is the officer-readable message."""


class WrongPassword(StoreError):
    """The password does not unwrap the data key (nothing was changed)."""


class StoreCorrupt(StoreError):
    """The database or key file is damaged, truncated, or not an encrypted store of ours."""


class StoreTooNew(StoreError):
    """The database was written by a newer version of the application."""


class DataDirError(StoreError):
    """The data directory is missing, not a directory, unwritable or read-only."""


class StoreNotFound(StoreError):
    """There is no store in the data directory yet (open with create=True to make one)."""
