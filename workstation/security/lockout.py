"""Failed-unlock lockout (CJIS AC-7, IA-5(1)(a)-15) enforced on an offline laptop.

Policy: 5 failed unlocks within 15 minutes lock the workstation until an administrator releases
it, either the server at the officer's next successful online login (`release_by_server`) or a
one-time admin code typed on the lock screen (`release_with_code`). While locked, an attempt is
refused *before* the key derivation runs. Independently of the window, 10 consecutive failures
with no success in between also lock, so moving the system clock forward to age failures out
buys at most 10 guesses. An agency may set `wipe_after`: at that many consecutive failures
(refused attempts included) the workstation crypto-wipes itself (5.13.2 auto-wipe).

Where the counter lives, and why it cannot be reset by deleting a file:

1. **Inside keys.json**, next to the wrapped data key (section "lockout"). Deleting or replacing
   the file deletes the only wrapped copy of the data key, so "resetting" the counter that way
   destroys access to the data it protects.
2. **Fail closed.** A key file whose lockout section is missing, unreadable, of an unknown
   version, or whose integrity tag does not match is treated as locked (reason given), and the
   locked state is written back. `initialise()` writes the section when the key file is created.
3. **Write-ahead.** Every attempt is counted (`attempts` is monotonic, and a provisional failure is
   recorded) *before* the KDF runs, so killing the app mid-attempt still counts the attempt.
4. **Cross-check in the encrypted DB.** After a successful unlock, `cross_check()` compares the
   key file's `attempts` with the high-water mark stored in the encrypted database at the
   previous unlock. A key file rolled back to a copy older than the last unlock (an old backup
   replayed to get fresh guesses) has `attempts` <= that mark: the unlock is refused, the
   workstation locks and a `lockout_tamper` audit row is written. The mark is then advanced.

Every failure, refusal and lockout is kept as a pending audit event in the lockout section
(the audit chain is inside the encrypted DB, which is closed when the password is wrong) and
moved into the chain by `cross_check()` at the next successful unlock, idempotently: each event
carries its attempt number and the DB remembers the last one flushed.

What this cannot stop (stated in docs/security.md): someone who copies keys.json can attack the
wrapped key offline with their own tool. The lockout governs guessing through the application;
the offline cost is the KDF (PBKDF2-SHA256, >= 600,000 iterations per guess) and the password.
The integrity tag is a plain SHA-256 (no secret is available before unlock), so it catches
corruption and naive edits; rollback is caught by point 4.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from local_db import audit as audit_log
from local_db.atomic import write_atomic
from local_db.errors import StoreCorrupt, StoreNotFound, WrongPassword
from local_db.keys import keyfile_path, unwrap_data_key
from local_db.models import Setting
from workstation.security import wipe as wipe_mod

SECTION = "lockout"
STATE_VERSION = 1
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
MAX_CONSECUTIVE = 10
# The codes are 80 random bits, so the hash needs no stretching to resist guessing; some is cheap.
RELEASE_CODE_ITERATIONS = 20_000
HWM_SETTING = "security.lockout.attempts_hwm"
FLUSHED_SETTING = "security.lockout.audit_flushed_through"


class AccountLocked(Exception):
    """The workstation is locked after failed unlocks; str() is the officer-readable message."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "This workstation is locked after repeated failed sign-ins "
            f"({reason}). Sign in online so the server can release it, or enter a one-time "
            "admin code from your administrator."
        )
        self.reason = reason


class WorkstationWiped(Exception):
    """The failure threshold set by the agency was reached and local data was crypto-wiped."""

    def __init__(self, report: wipe_mod.WipeReport) -> None:
        super().__init__(report.message())
        self.report = report


@dataclass
class LockoutState:
    attempts: int = 0
    failures: list[str] | None = None  # ISO UTC times of consecutive failures (incl. refused)
    locked: bool = False
    reason: str = ""
    locked_at: str | None = None
    wipe_after: int | None = None
    pending_audit: list[dict[str, Any]] | None = None
    release_salt: str | None = None
    release_hashes: list[str] | None = None

    def __post_init__(self) -> None:
        self.failures = list(self.failures or [])
        self.pending_audit = list(self.pending_audit or [])
        self.release_hashes = list(self.release_hashes or [])

    def body(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "attempts": self.attempts,
            "failures": self.failures,
            "locked": self.locked,
            "reason": self.reason,
            "locked_at": self.locked_at,
            "wipe_after": self.wipe_after,
            "pending_audit": self.pending_audit,
            "release_salt": self.release_salt,
            "release_hashes": self.release_hashes,
        }


# --------------------------------------------------------------------------- persistence


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _tag(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _read_file(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StoreNotFound(
            f"There is no key file at {path}: nothing on this workstation can be unlocked."
        ) from None
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict):
        raise StoreCorrupt(f"The key file {path} is damaged; the store cannot be unlocked.")
    return record


def _write_file(path: Path, record: dict[str, Any]) -> None:
    """Atomic replace: a crash leaves the old or the new file."""
    write_atomic(path, json.dumps(record, indent=2, sort_keys=True).encode("ascii"), mode=0o600)


def _parse(section: Any) -> LockoutState:
    """The state, or ValueError naming why it cannot be trusted."""
    if not isinstance(section, dict):
        raise ValueError("lockout state missing")
    body, tag = section.get("body"), section.get("tag")
    if not isinstance(body, dict) or body.get("v") != STATE_VERSION:
        raise ValueError("lockout state unreadable")
    if tag != _tag(body):
        raise ValueError("lockout state tampered")
    try:
        state = LockoutState(
            attempts=int(body["attempts"]),
            failures=[str(x) for x in body["failures"]],
            locked=bool(body["locked"]),
            reason=str(body["reason"]),
            locked_at=body["locked_at"],
            wipe_after=None if body["wipe_after"] is None else int(body["wipe_after"]),
            pending_audit=list(body["pending_audit"]),
            release_salt=body["release_salt"],
            release_hashes=[str(x) for x in body["release_hashes"]],
        )
    except (KeyError, TypeError, ValueError):
        raise ValueError("lockout state unreadable") from None
    if state.attempts < 0:
        raise ValueError("lockout state unreadable")
    return state


def load(home: Path, now: datetime | None = None) -> LockoutState:
    """The lockout state; an untrustworthy one comes back locked (and is saved that way)."""
    path = keyfile_path(home)
    record = _read_file(path)
    try:
        return _parse(record.get(SECTION))
    except ValueError as exc:
        # Keep what can be salvaged: the attempts counter must never go down.
        raw = record.get(SECTION)
        body = raw.get("body") if isinstance(raw, dict) else None
        attempts = body.get("attempts") if isinstance(body, dict) else 0
        state = LockoutState(attempts=attempts if isinstance(attempts, int) and attempts > 0 else 0)
        _lock(state, str(exc), _now(now))
        save(home, state)
        return state


def save(home: Path, state: LockoutState) -> None:
    path = keyfile_path(home)
    record = _read_file(path)
    body = state.body()
    record[SECTION] = {"body": body, "tag": _tag(body)}
    _write_file(path, record)


def initialise(home: Path, wipe_after: int | None = None) -> None:
    """Write a fresh lockout section; called right after the key file is created."""
    if wipe_after is not None and wipe_after < 1:
        raise ValueError("wipe_after must be a positive number of failures (or None for never)")
    save(home, LockoutState(wipe_after=wipe_after))


def set_wipe_after(home: Path, wipe_after: int | None) -> None:
    """Agency setting (applied at login from the configuration)."""
    state = load(home)
    if wipe_after is not None and wipe_after < 1:
        raise ValueError("wipe_after must be a positive number of failures (or None for never)")
    state.wipe_after = wipe_after
    save(home, state)


# --------------------------------------------------------------------------- policy


def _event(state: LockoutState, event: str, moment: datetime, outcome: str, detail: str) -> None:
    assert state.pending_audit is not None
    state.pending_audit.append(
        {"n": state.attempts, "at": _iso(moment), "event": event, "outcome": outcome, "detail": detail}
    )


def _lock(state: LockoutState, reason: str, moment: datetime) -> None:
    if not state.locked:
        state.locked = True
        state.reason = reason
        state.locked_at = _iso(moment)
        _event(state, "lockout", moment, "locked", reason)


def _recent_failures(state: LockoutState, moment: datetime) -> int:
    since = moment - WINDOW
    count = 0
    for stamp in state.failures or []:
        try:
            at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            count += 1  # an unreadable stamp counts against the user, never for
            continue
        if at >= since:
            count += 1
    return count


def _apply_thresholds(state: LockoutState, moment: datetime) -> None:
    consecutive = len(state.failures or [])
    if _recent_failures(state, moment) >= MAX_FAILURES:
        _lock(state, f"{MAX_FAILURES} failed attempts within {int(WINDOW.total_seconds() // 60)} minutes", moment)
    elif consecutive >= MAX_CONSECUTIVE:
        _lock(state, f"{MAX_CONSECUTIVE} consecutive failed attempts", moment)


def _maybe_wipe(home: Path, state: LockoutState) -> None:
    if state.wipe_after and len(state.failures or []) >= state.wipe_after:
        report = wipe_mod.crypto_wipe(
            home, f"{len(state.failures or [])} failed sign-in attempts (agency wipe threshold)", keyfile_path(home)
        )
        raise WorkstationWiped(report)


def status(home: Path) -> LockoutState:
    return load(home)


def guarded_unlock(
    home: Path,
    password: str,
    *,
    now: datetime | None = None,
    unwrap: Callable[[Path, str], bytes] = unwrap_data_key,
) -> bytes:
    """Unwrap the data key under the lockout policy.

    Raises AccountLocked (KDF not run), WrongPassword (counted; may lock), WorkstationWiped.
    """
    home = Path(home)
    moment = _now(now)
    state = load(home, moment)
    if state.locked:
        state.attempts += 1
        assert state.failures is not None
        state.failures.append(_iso(moment))
        _event(state, "unlock_refused", moment, "locked", state.reason)
        save(home, state)
        _maybe_wipe(home, state)
        raise AccountLocked(state.reason)
    # Write-ahead: count this attempt as a failure until the KDF proves otherwise.
    state.attempts += 1
    assert state.failures is not None
    state.failures.append(_iso(moment))
    save(home, state)
    try:
        key = unwrap(home, password)
    except WrongPassword:
        _event(state, "unlock_failed", moment, "failure", f"consecutive failures: {len(state.failures)}")
        _apply_thresholds(state, moment)
        save(home, state)
        _maybe_wipe(home, state)
        raise
    state.failures = []
    save(home, state)
    return key


# --------------------------------------------------------------------------- release


def _clear(state: LockoutState, moment: datetime, how: str) -> None:
    state.failures = []
    if state.locked:
        _event(state, "lockout_released", moment, "ok", how)
    state.locked = False
    state.reason = ""
    state.locked_at = None


def release_by_server(home: Path, officer: str, now: datetime | None = None) -> None:
    """The server authenticated the officer online (its own lockout applies): release ours.

    Call only with a token the server just issued for this workstation's officer.
    """
    state = load(home, now)
    _clear(state, _now(now), f"released by the server at online login of {officer}")
    save(home, state)


def _code_hash(salt: bytes, code: str) -> str:
    normalised = code.replace("-", "").replace(" ", "").upper().encode()
    return hashlib.pbkdf2_hmac("sha256", normalised, salt, RELEASE_CODE_ITERATIONS).hex()


def issue_release_codes(home: Path, count: int = 10) -> list[str]:
    """New one-time admin codes (80 random bits each) for the administrator to keep.

    Only salted PBKDF2 hashes stay on the laptop; issuing replaces any earlier codes.
    """
    salt = secrets.token_bytes(16)
    codes = []
    for _ in range(count):
        raw = base64.b32encode(secrets.token_bytes(10)).decode()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    state = load(home)
    state.release_salt = salt.hex()
    state.release_hashes = [_code_hash(salt, code) for code in codes]
    save(home, state)
    return codes


def release_with_code(home: Path, code: str, now: datetime | None = None) -> bool:
    """Release with a one-time admin code; the code is then spent. A wrong code counts as a failure."""
    moment = _now(now)
    state = load(home, moment)
    if not state.release_salt or not state.release_hashes:
        return False
    digest = _code_hash(bytes.fromhex(state.release_salt), code)
    state.attempts += 1
    if digest in state.release_hashes:
        state.release_hashes.remove(digest)
        _clear(state, moment, f"released with a one-time admin code ({len(state.release_hashes)} left)")
        save(home, state)
        return True
    assert state.failures is not None
    state.failures.append(_iso(moment))
    _event(state, "unlock_failed", moment, "failure", "wrong one-time admin code")
    save(home, state)
    _maybe_wipe(home, state)
    return False


# --------------------------------------------------------------------------- after unlock


def _setting(session: Session, key: str) -> int:
    row = session.get(Setting, key)
    return int(row.value) if row is not None and isinstance(row.value, int) else 0


def _put(session: Session, key: str, value: int) -> None:
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value


def cross_check(home: Path, session: Session, officer: str, workstation_id: str) -> bool:
    """Inside the first write transaction after unlock (the caller commits durably).

    Moves pending lockout events into the audit chain, compares the key file's attempt counter
    with the high-water mark in the encrypted DB and advances it. Returns False when the key
    file was rolled back: the caller must then close the store and refuse the unlock (the key
    file has been marked locked).
    """
    state = load(home)
    flushed = _setting(session, FLUSHED_SETTING)
    hwm = _setting(session, HWM_SETTING)
    # hwm == 0: no unlock recorded yet (enrolment), so there is nothing to compare against.
    ok = hwm == 0 or state.attempts > hwm
    for item in state.pending_audit or []:
        # Already in the chain (a crash between that commit and after_cross_check). After a
        # rollback the numbers repeat, so then everything pending is written.
        if ok and int(item.get("n", 0)) <= flushed:
            continue
        audit_log.append_event(
            session,
            officer=officer,
            workstation_id=workstation_id,
            event=str(item.get("event", "unlock_failed")),
            object="workstation",
            outcome=str(item.get("outcome", "failure")),
            detail=str(item.get("detail", "")),
            at=datetime.fromisoformat(str(item["at"]).replace("Z", "+00:00")),
        )
    if not ok:
        audit_log.append_event(
            session,
            officer=officer,
            workstation_id=workstation_id,
            event="lockout_tamper",
            object="keys.json",
            outcome="refused",
            detail=f"attempt counter {state.attempts} <= last seen {hwm}: key file rolled back",
        )
    _put(session, HWM_SETTING, max(hwm, state.attempts))
    _put(session, FLUSHED_SETTING, state.attempts)
    session.flush()
    return ok


def after_cross_check(home: Path, ok: bool, now: datetime | None = None) -> None:
    """After the cross-check transaction committed: drop flushed events, or lock on rollback."""
    state = load(home, now)
    state.pending_audit = []
    if not ok:
        _lock(state, "key file rolled back (tamper)", _now(now))
        state.pending_audit = []  # the tamper row is already in the chain
    save(home, state)
