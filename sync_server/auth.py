"""Passwords, lockout, bearer tokens and workstation revocation.

Passwords: scrypt (n=2**14, r=8, p=1, 16-byte salt), stored as `scrypt$n$r$p$salt$hash`.
Lockout (CJIS AC-7): 5 failed logins within 15 minutes block *password logins* for 30 minutes (or until
`sync-server unlock USER`); sessions already established keep refreshing, so guessing cannot cut an
officer off. Wrong password, unknown user, locked or disabled account: one identical 401.
Tokens: random opaque strings; the database keeps only their SHA-256, with kind, officer, workstation,
expiry and family (one per password login; refresh tokens rotate, and a reused one revokes its family).
A revoked workstation gets 403 with ErrorBody.wipe = true on every request, including login.
A disabled officer (`sync-server disable USER`) gets nothing at all until enabled again.
MFA (optional per officer, `sync-server mfa enrol USER`): TOTP (sync_server.totp) after the password;
401 mfa_required without a code, mfa_invalid for a wrong or replayed one (counted like a wrong password).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sync_server import totp
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
    #: the token family of the caller's session (one password login and its refreshes)
    family: str = ""


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    officer: Officer
    workstation_credential: str | None = None


@dataclass(frozen=True)
class AuthPolicy:
    access_ttl_s: int = 15 * 60
    refresh_ttl_s: int = 30 * 24 * 3600
    #: CJIS AC-7: how long MAX_FAILURES failed logins within FAILURE_WINDOW block password logins
    lockout_s: int = 30 * 60


#: The one answer to a wrong password, an unknown user, a locked and a disabled account: the caller
#: learns nothing about which (an attacker probing names or lockouts gets the same 401 every time).
def invalid_credentials() -> AuthError:
    return AuthError(
        401, "invalid_credentials",
        "wrong user name or password, or the account is not available (after repeated failures, "
        "wait or ask an administrator)",
    )


def check_workstation(session: Session, workstation_id: str) -> None:
    ws = session.get(Workstation, workstation_id)
    if ws is not None and ws.revoked_at is not None:
        raise AuthError(403, "workstation_revoked", "this workstation was revoked; wipe local data", wipe=True)


def login(
    session: Session, username: str, password: str, workstation_id: str, policy: AuthPolicy,
    one_time_code: str | None = None,
) -> IssuedTokens | AuthError:
    """Verify credentials and issue a token pair (a new token family).

    A refusal is *returned* as an AuthError rather than raised, so the caller's transaction still
    commits the recorded failure (raising would roll the failure count back). The password is verified
    in every case, so the answer's timing does not tell an unknown, locked or disabled account either.
    """
    check_workstation(session, workstation_id)
    officer = session.scalar(select(Officer).where(Officer.username == username))
    now = utcnow()
    if officer is None:
        verify_password(password, _DUMMY_HASH)
        return invalid_credentials()
    correct = verify_password(password, officer.password_hash)
    if officer.disabled or (officer.locked_until is not None and officer.locked_until > now):
        return invalid_credentials()
    if not correct:
        _record_failure(session, officer, now, policy)
        return invalid_credentials()
    if officer.totp_secret is not None:
        # Only a caller who knows the password learns that a code is needed.
        if not one_time_code:
            return AuthError(401, "mfa_required", "this account needs a one-time code from its authenticator")
        step = totp.matching_step(officer.totp_secret, one_time_code, time.time(), officer.totp_last_step)
        if step is None:
            _record_failure(session, officer, now, policy)
            return AuthError(401, "mfa_invalid", "the one-time code is wrong, expired or already used")
        officer.totp_last_step = step
    credential = enrol(session, workstation_id, officer, now)
    session.execute(delete(LoginFailure).where(LoginFailure.officer_id == officer.id))
    officer.locked_until = None
    issued = _issue(session, officer, workstation_id, policy, family=secrets.token_hex(16))
    return dataclasses.replace(issued, workstation_credential=credential)


def enrol(session: Session, workstation_id: str, officer: Officer, now: datetime) -> str | None:
    """Bind the workstation to the officer at its first login; returns its new credential, or None when
    it already has one (the workstation kept it). A workstation enrolled to another officer is refused:
    its id is not something a client may claim. (A workstation enrolled before credentials existed
    gets one at its officer's next login.)"""
    ws = session.get(Workstation, workstation_id)
    if ws is not None and ws.officer_id is not None and ws.officer_id != officer.id:
        raise AuthError(403, "workstation_enrolled_elsewhere", "this workstation is enrolled to another officer")
    if ws is None:
        ws = Workstation(id=workstation_id, officer_id=officer.id, first_seen=now)
        session.add(ws)
    ws.officer_id = officer.id
    if ws.credential_hash is not None:
        return None
    credential = secrets.token_urlsafe(32)
    ws.credential_hash = _digest(credential)
    return credential


def check_workstation_credential(session: Session, caller: Caller, credential: str | None) -> None:
    """The request comes from the caller's enrolled workstation itself: its token is the officer's,
    and the credential only that workstation holds matches (constant-time compare of digests)."""
    ws = session.get(Workstation, caller.workstation_id)
    if (
        not credential
        or ws is None
        or ws.officer_id != caller.officer_id
        or ws.credential_hash is None
        or not hmac.compare_digest(ws.credential_hash, _digest(credential))
    ):
        raise AuthError(
            403, "workstation_credential_invalid",
            "send X-Workstation-Credential: the credential this workstation received at enrolment",
        )


def _record_failure(session: Session, officer: Officer, now: datetime, policy: AuthPolicy) -> None:
    session.add(LoginFailure(officer_id=officer.id, at=now))
    session.flush()
    recent = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.officer_id == officer.id, LoginFailure.at > now - FAILURE_WINDOW)
    )
    if recent >= MAX_FAILURES:
        officer.locked_until = now + timedelta(seconds=policy.lockout_s)
        session.execute(delete(LoginFailure).where(LoginFailure.officer_id == officer.id))


def change_password(
    session: Session, caller: Caller, current: str, new: str, policy: AuthPolicy
) -> AuthError | None:
    """The signed-in officer's new password. A wrong current password counts towards the lockout like
    a failed login (a stolen token must not become an uncounted password oracle); returned, not
    raised, so that count commits."""
    officer = session.get(Officer, caller.officer_id)
    if officer is None:
        raise AuthError(401, "invalid_token", "access token is invalid")
    now = utcnow()
    correct = verify_password(current, officer.password_hash)
    locked = officer.locked_until is not None and officer.locked_until > now
    if not correct or locked:
        if not locked:
            _record_failure(session, officer, now, policy)
        # 403, not 401: the token is fine, and a 401 would make the client refresh and resend
        return AuthError(403, "wrong_password", "the current password is wrong (or too many failures: wait)")
    if new == current:
        return AuthError(422, "same_password", "the new password is the same as the old one")
    officer.password_hash = hash_password(new)
    # Every other session of the officer ends (its tokens, its live streams at their next check): a
    # password is changed after it may have leaked, and a session opened with the old one must not last.
    session.execute(
        delete(SessionToken)
        .where(SessionToken.officer_id == officer.id, SessionToken.family != caller.family)
        .execution_options(synchronize_session=False)
    )
    return None


def refresh(session: Session, refresh_token: str, policy: AuthPolicy) -> IssuedTokens | AuthError:
    """Rotate a refresh token: it is spent, a new pair of the same family is issued.

    Presenting a spent refresh token means two parties hold it (the legitimate client and a thief, in
    whichever order): the whole family, access tokens included, is revoked and must log in again.
    Returned rather than raised, like login's refusals, so the revocation commits.
    """
    now = utcnow()
    row = session.get(SessionToken, _digest(refresh_token))
    if row is None or row.kind != "refresh" or row.expires_at <= now:
        raise AuthError(401, "invalid_token", "refresh token is invalid or expired")
    check_workstation(session, row.workstation_id)
    officer = session.get(Officer, row.officer_id)
    if officer is None or officer.disabled:
        raise AuthError(401, "account_disabled", "this account is disabled")
    # A conditional update, so two concurrent uses of one token cannot both win (PostgreSQL re-checks
    # the condition after the first commits; SQLite writes one at a time).
    claimed = session.execute(
        update(SessionToken)
        .where(SessionToken.digest == row.digest, SessionToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        revoke_family(session, row.family)
        return AuthError(401, "refresh_reused", "this refresh token was already used; the session is revoked")
    return _issue(session, officer, row.workstation_id, policy, family=row.family)


def revoke_family(session: Session, family: str) -> None:
    session.execute(
        delete(SessionToken).where(SessionToken.family == family).execution_options(synchronize_session=False)
    )


def _issue(session: Session, officer: Officer, workstation_id: str, policy: AuthPolicy, family: str) -> IssuedTokens:
    now = utcnow()
    # Housekeeping at the natural moment: this officer's expired tokens can never be used again.
    session.execute(
        delete(SessionToken)
        .where(SessionToken.officer_id == officer.id, SessionToken.expires_at < now)
        .execution_options(synchronize_session=False)
    )
    access, refresh_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add_all(
        [
            SessionToken(
                digest=_digest(access), kind="access", officer_id=officer.id, workstation_id=workstation_id,
                expires_at=now + timedelta(seconds=policy.access_ttl_s), family=family,
            ),
            SessionToken(
                digest=_digest(refresh_token), kind="refresh", officer_id=officer.id, workstation_id=workstation_id,
                expires_at=now + timedelta(seconds=policy.refresh_ttl_s), family=family,
            ),
        ]
    )
    return IssuedTokens(access, refresh_token, policy.access_ttl_s, officer)


def authenticate(session: Session, authorization: str | None) -> Caller:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AuthError(401, "missing_token", "send Authorization: Bearer <access token>")
    token = authorization[7:].strip()
    row = session.execute(
        select(
            SessionToken.kind, SessionToken.expires_at, SessionToken.workstation_id, SessionToken.family, Officer.id,
            Officer.username, Officer.disabled,
        )
        .join(Officer, Officer.id == SessionToken.officer_id)
        .where(SessionToken.digest == _digest(token))
    ).first()
    if row is None or row.kind != "access":
        raise AuthError(401, "invalid_token", "access token is invalid")
    if row.expires_at <= utcnow():
        raise AuthError(401, "token_expired", "access token expired; refresh it")
    check_workstation(session, row.workstation_id)
    if row.disabled:
        raise AuthError(401, "account_disabled", "this account is disabled")
    return Caller(officer_id=row.id, username=row.username, workstation_id=row.workstation_id, family=row.family)


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
    """Release a failed-login lockout before its time is up."""
    officer = session.scalar(select(Officer).where(Officer.username == username))
    if officer is None:
        return False
    officer.locked_until = None
    session.execute(delete(LoginFailure).where(LoginFailure.officer_id == officer.id))
    return True


def enrol_mfa(session: Session, username: str) -> str | None:
    """`sync-server mfa enrol USER`: a new TOTP secret (replacing any earlier one); its otpauth URI,
    for the officer's authenticator app, or None when there is no such officer."""
    officer = session.scalar(select(Officer).where(Officer.username == username))
    if officer is None:
        return None
    officer.totp_secret, officer.totp_last_step = totp.new_secret(), None
    return totp.otpauth_uri(officer.totp_secret, username)


def remove_mfa(session: Session, username: str) -> bool:
    officer = session.scalar(select(Officer).where(Officer.username == username))
    if officer is None:
        return False
    officer.totp_secret = officer.totp_last_step = None
    return True


def set_disabled(session: Session, username: str, disabled: bool) -> bool:
    """`sync-server disable/enable`: every check (login, refresh, requests, open live streams) reads the
    flag, so one write stops, and restores, everything of the officer at once."""
    officer = session.scalar(select(Officer).where(Officer.username == username))
    if officer is None:
        return False
    officer.disabled = disabled
    return True
