"""Logging in: the officer's password opens the local store, and (when reachable) the server.

- First login on this laptop must be online: the server checks the password, then the same
  password wraps a new random data key (local_db.keys) and the encrypted store is created.
- Later logins unlock the store offline with the password; the server login is attempted too
  and its failure (unreachable) only means "working offline".
- Tokens live in memory only (never in the store or a file); the password is not kept after
  login. A 401 is answered by one refresh with the refresh token; if that fails too the caller
  gets AuthRequired and must ask the officer for the password again (GUI: the login dialog).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.orm import Session

from local_db import keys
from local_db.models import Officer, SyncState
from local_db.store import Store
from workstation import protocol as p
from workstation.security import lockout
from workstation.security.unlock import first_store, unlock_store
from workstation.sync.apply import SYNC_STATE_ID, sync_state
from workstation.sync.errors import AuthRequired, RequestRefused, ServerFailed, SyncError
from workstation.sync.http import ServerClient
from workstation.version import app_version

__all__ = ["AuthRequired", "Auth", "LoginResult", "OfficerMismatch", "login"]

TOKEN_PATH = "/v1/auth/token"
REFRESH_PATH = "/v1/auth/refresh"


class OfficerMismatch(SyncError):
    """The store on this laptop belongs to another officer or server."""


class Auth:
    """In-memory tokens for one officer on one server; implements http.TokenSource."""

    def __init__(self, username: str, ws_id: str) -> None:
        self.username = username
        self.workstation_id = ws_id
        self.officer: p.OfficerData | None = None
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh: str | None = None
        self.expires_at = 0.0
        #: handed out by the server at this workstation's enrolment, to be kept in the store
        self.workstation_credential: str | None = None

    @property
    def logged_in(self) -> bool:
        return self._access is not None

    def access_token(self) -> str:
        with self._lock:
            if self._access is None:
                raise AuthRequired("not logged in to the server: enter the password again")
            return self._access

    def login(self, client: ServerClient, password: str, one_time_code: str | None = None) -> p.TokenResponse:
        request = p.TokenRequest(
            username=self.username,
            password=password,
            workstation_id=self.workstation_id,
            one_time_code=one_time_code,
            workstation_version=app_version(),
        )
        try:
            response = client.request(
                "POST", TOKEN_PATH, body=request.model_dump_json(exclude_none=True).encode(), authenticated=False
            )
        except RequestRefused as exc:
            if exc.status in (400, 403, 422):
                raise AuthRequired(f"login refused: {exc}") from exc
            raise
        return self._take(response.content)

    def refresh(self, client: ServerClient) -> None:
        with self._lock:
            token = self._refresh
        if token is None:
            raise AuthRequired("the server session ended: enter the password again")
        body = p.RefreshRequest(refresh_token=token).model_dump_json().encode()
        try:
            response = client.request("POST", REFRESH_PATH, body=body, authenticated=False)
        except (AuthRequired, RequestRefused) as exc:
            self.forget()
            raise AuthRequired("the server session ended: enter the password again") from exc
        self._take(response.content)

    def forget(self) -> None:
        with self._lock:
            self._access = self._refresh = None
            self.expires_at = 0.0

    def _take(self, content: bytes) -> p.TokenResponse:
        try:
            tokens = p.TokenResponse.model_validate_json(content)
        except ValidationError as exc:
            raise ServerFailed(f"the server's login answer is not valid: {exc.error_count()} problem(s)", 200) from None
        with self._lock:
            self._access, self._refresh = tokens.access_token, tokens.refresh_token
            self.expires_at = time.monotonic() + tokens.expires_in
            self.officer = tokens.officer
            if tokens.workstation_credential:
                self.workstation_credential = tokens.workstation_credential
        return tokens


@dataclass
class LoginResult:
    store: Store
    auth: Auth
    online: bool
    #: why the server login did not happen (offline login), for the status bar
    offline_reason: str | None = None
    created: bool = False


def login(
    home: Path,
    username: str,
    password: str,
    client: ServerClient | None,
    *,
    workstation_id: str,
    one_time_code: str | None = None,
    wipe_after_failures: int | None = None,
) -> LoginResult:
    """Open (or on first login create) the store and log in to the server if it is reachable.

    The store is opened through workstation.security.unlock (lockout counter, audit rows).
    Raises local_db WrongPassword/StoreCorrupt/..., the lockout errors, AuthRequired when the
    server refuses the credentials, ServerUnreachable when a first login cannot reach the
    server, OfficerMismatch when the store belongs to someone else.
    """
    home = Path(home)
    auth = Auth(username, workstation_id)
    if client is not None:
        client.tokens = auth
    if not keys.keyfile_exists(home):
        if client is None:
            raise AuthRequired("the first login on this computer needs the agency server (no server given)")
        tokens = auth.login(client, password, one_time_code)  # raises if unreachable or refused
        store = first_store(home, password, username, workstation_id, wipe_after_failures)
        try:
            store.write(lambda s: _record_officer(s, tokens.officer, client.base_url, auth), durable=True)
        except BaseException:
            store.close()
            raise
        return LoginResult(store, auth, online=True, created=True)

    try:
        store = unlock_store(home, password, username, workstation_id, event="login")
    except lockout.AccountLocked:
        # (security) AC-7 release: a locked-out workstation is released by the server at the next
        # successful online login (the server's own 5-failure lockout and MFA apply there)
        if client is None:
            raise
        auth.login(client, password, one_time_code)  # raises AuthRequired/ServerUnreachable: stays locked
        lockout.release_by_server(home, username)
        store = unlock_store(home, password, username, workstation_id, event="login")
    try:
        if client is None:
            return LoginResult(store, auth, online=False, offline_reason="no server configured")
        try:
            tokens = auth.login(client, password, one_time_code)
        except SyncError as exc:
            if not exc.retryable:
                raise
            return LoginResult(store, auth, online=False, offline_reason=str(exc))
        store.write(lambda s: _record_officer(s, tokens.officer, client.base_url, auth), durable=True)
        return LoginResult(store, auth, online=True)
    except BaseException:
        store.close()
        raise


def _record_officer(session: Session, officer: p.OfficerData, server_url: str, auth: Auth) -> None:
    state: SyncState = sync_state(session)
    if state.officer_id and state.officer_id != officer.id:
        raise OfficerMismatch(
            f"this workstation's data belongs to another officer ({state.officer_id}); "
            "it cannot be synced as " + officer.username
        )
    if state.server_url and state.server_url != server_url:
        # Same officer, server reached at another address (VPN vs office LAN): keep the data,
        # remember the address last used. The cursor is the officer's feed, not the URL's.
        pass
    state.officer_id = officer.id
    state.server_url = server_url
    if auth.workstation_credential:
        state.workstation_credential = auth.workstation_credential
    existing = session.get(Officer, officer.id)
    if existing is None:
        session.add(Officer(**officer.model_dump()))
    else:
        for key, value in officer.model_dump().items():
            setattr(existing, key, value)


def stored_identity(store: Store) -> dict[str, str | None]:
    """Officer id, username and server URL the store was synced with (for offline sessions)."""
    with store.read_session() as session:
        state = session.get(SyncState, SYNC_STATE_ID)
        officer = session.query(Officer).first()
        return {
            "officer_id": state.officer_id if state else None,
            "server_url": state.server_url if state else None,
            "username": officer.username if officer else None,
        }
