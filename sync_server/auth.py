"""Passwords, lockout, bearer tokens and workstation revocation.

Passwords: scrypt (n=2**14, r=8, p=1, 16-byte salt), stored as `scrypt$n$r$p$salt$hash`.
Lockout: 5 failed attempts within 15 minutes lock the account (423) until `sync-server unlock USER`.
Tokens: random opaque strings; the database keeps only their SHA-256, with kind, officer, workstation and
expiry. A revoked workstation gets 403 with ErrorBody.wipe = true on every request, including login.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sync_server.db import Database, utcnow
from sync_server.models import LoginFailure, Officer, SessionToken, Workstation

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)


class AuthError(Exception):
    def __init__(self, status: int, error: str, detail: str = "", wipe: bool = False) -> None:
        super().__init__(detail or error)
        self.status, self.error, self.detail, self.wipe = status, error, detail, wipe


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, expected = stored.split("$")
        digest = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest.hex(), expected)


# A fixed hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = hash_password("not-a-user", salt=b"\0" * 16)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    officer_id: str
    username: str
    workstation_id: str


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    officer: Officer


def check_workstation(session: Session, workstation_id: str) -> None:
    ws = session.get(Workstation, workstation_id)
    if ws is not None and ws.revoked_at is not None:
        raise AuthError(403, "workstation_revoked", "this workstation was revoked; wipe local data", wipe=True)


def login(
    session: Session, username: str, password: str, workstation_id: str, access_ttl_s: int, refresh_ttl_s: int
) -> IssuedTokens | AuthError:
    """Verify credentials and issue a token pair.

    A wrong password is *returned* as an AuthError rather than raised, so the caller's transaction still
    commits the recorded failure (raising would roll the failure count back).
    """
    check_workstation(session, workstation_id)
    officer = session.scalar(select(Officer).where(Officer.username == username))
    if officer is None:
        verify_password(password, _DUMMY_HASH)
        raise AuthError(401, "invalid_credentials", "wrong username or password")
    if officer.locked:
        raise AuthError(423, "account_locked", "too many failed logins; an administrator must unlock it")
    if not verify_password(password, officer.password_hash):
        now = utcnow()
        session.add(LoginFailure(officer_id=officer.id, at=now))
        session.flush()
        recent = session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.officer_id == officer.id, LoginFailure.at > now - FAILURE_WINDOW)
        )
        if recent >= MAX_FAILURES:
            officer.locked = True
            return AuthError(423, "account_locked", "too many failed logins; an administrator must unlock it")
        return AuthError(401, "invalid_credentials", "wrong username or password")
    session.execute(delete(LoginFailure).where(LoginFailure.officer_id == officer.id))
    ws = session.get(Workstation, workstation_id)
    if ws is None:
        session.add(Workstation(id=workstation_id, officer_id=officer.id, first_seen=utcnow()))
    else:
        ws.officer_id = officer.id
    return _issue(session, officer, workstation_id, access_ttl_s, refresh_ttl_s)


def refresh(session: Session, refresh_token: str, access_ttl_s: int, refresh_ttl_s: int) -> IssuedTokens:
    """Rotate a refresh token: the old one stops working, a new pair is issued."""
    row = session.get(SessionToken, _digest(refresh_token))
    if row is None or row.kind != "refresh" or row.expires_at <= utcnow():
        raise AuthError(401, "invalid_token", "refresh token is invalid or expired")
    check_workstation(session, row.workstation_id)
    officer = session.get(Officer, row.officer_id)
    if officer is None or officer.locked:
        raise AuthError(401, "invalid_token", "account is not available")
    session.delete(row)
    return _issue(session, officer, row.workstation_id, access_ttl_s, refresh_ttl_s)


def _issue(session: Session, officer: Officer, workstation_id: str, access_ttl_s: int, refresh_ttl_s: int):
    now = utcnow()
    # Housekeeping at the natural moment: this officer's expired tokens can never be used again.
    session.execute(delete(SessionToken).where(SessionToken.officer_id == officer.id, SessionToken.expires_at < now))
    access, refresh_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add_all(
        [
            SessionToken(
                digest=_digest(access),
                kind="access",
                officer_id=officer.id,
                workstation_id=workstation_id,
                expires_at=now + timedelta(seconds=access_ttl_s),
            ),
            SessionToken(
                digest=_digest(refresh_token),
                kind="refresh",
                officer_id=officer.id,
                workstation_id=workstation_id,
                expires_at=now + timedelta(seconds=refresh_ttl_s),
            ),
        ]
    )
    return IssuedTokens(access, refresh_token, access_ttl_s, officer)


def authenticate(session: Session, authorization: str | None) -> Caller:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AuthError(401, "missing_token", "send Authorization: Bearer <access token>")
    token = authorization[7:].strip()
    row = session.execute(
        select(SessionToken.kind, SessionToken.expires_at, SessionToken.workstation_id, Officer.id, Officer.username)
        .join(Officer, Officer.id == SessionToken.officer_id)
        .where(SessionToken.digest == _digest(token))
    ).first()
    if row is None or row.kind != "access":
        raise AuthError(401, "invalid_token", "access token is invalid")
    if row.expires_at <= utcnow():
        raise AuthError(401, "token_expired", "access token expired; refresh it")
    check_workstation(session, row.workstation_id)
    return Caller(officer_id=row.id, username=row.username, workstation_id=row.workstation_id)


def stream_denial(db: Database, authorization: str | None) -> str | None:
    """Why a long-lived response (the live stream) authorised with `authorization` must end now, or None.

    The same check as every request (authenticate), so a stream ends for exactly the reasons a request
    would be refused; its error code is the reason. Fails closed when the database cannot answer.
    """
    try:
        with db.read() as session:
            authenticate(session, authorization)
    except AuthError as exc:
        return exc.error
    except SQLAlchemyError:
        return "database_unavailable"
    return None


def revoke_workstation(session: Session, workstation_id: str) -> bool:
    """Mark a workstation revoked (creating the record if it never logged in). Returns True if newly revoked."""
    ws = session.get(Workstation, workstation_id)
    if ws is None:
        session.add(Workstation(id=workstation_id, officer_id=None, first_seen=utcnow(), revoked_at=utcnow()))
        return True
    if ws.revoked_at is not None:
        return False
    # Tokens stay in place on purpose: the next request with one must get the wipe answer, not a 401.
    ws.revoked_at = utcnow()
    return True


def unlock(session: Session, username: str) -> bool:
    officer = session.scalar(select(Officer).where(Officer.username == username))
    if officer is None:
        return False
    officer.locked = False
    session.execute(delete(LoginFailure).where(LoginFailure.officer_id == officer.id))
    return True
