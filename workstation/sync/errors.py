"""What can go wrong talking to the agency server, sorted by what the caller should do next.

`retryable` errors (network, TLS, 5xx) leave everything as it was and are retried later with
backoff; the others need a person (a password, an administrator) or a fixed server.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class; `str(error)` is a sentence an officer can read."""

    retryable = False


class ServerUnreachable(SyncError):
    """The request did not complete: connection refused/reset, timeout, TLS failure, cut body."""

    retryable = True


class ServerFailed(SyncError):
    """The server answered 5xx (or 429): it is up but could not serve us right now."""

    retryable = True

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class AuthRequired(SyncError):
    """The session is no longer valid (401 after a refresh attempt): ask for the password again."""


class MfaRequired(AuthRequired):
    """The password was right and the account needs a one-time code (none given, or `invalid`: a wrong,
    expired or already used one): ask the officer for the code from their authenticator."""

    def __init__(self, message: str, invalid: bool = False) -> None:
        super().__init__(message)
        self.invalid = invalid


class WorkstationRevoked(SyncError):
    """The server revoked this workstation (ErrorBody.wipe): local key material was destroyed."""


class RequestRefused(SyncError):
    """A 4xx other than 401: the request itself is wrong; retrying the same request will not help."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class PageRejected(SyncError):
    """A change page failed validation; nothing of it was applied and the cursor did not move."""

    def __init__(self, message: str, cursor: int) -> None:
        super().__init__(message)
        self.cursor = cursor


class SyncCancelled(SyncError):
    """The caller asked to stop; everything applied so far is kept."""
