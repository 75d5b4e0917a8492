"""Credentials of devices and vendor gateways: issued once, stored hashed, verified from memory.

A key is `secrets.token_urlsafe(24)`: 192 random bits, never derived from a serial. The database keeps
its SHA-256 only. A slow password hash would buy nothing against a 192-bit random secret (nobody can
enumerate the key space) and would cost every ping milliseconds; SHA-256 costs about a microsecond.

Verification needs no database on the request path: `KeyRing` holds a snapshot (`Credentials`: device
serial -> key hash, device serial -> the gateway it is assigned to, gateway key hash -> gateway name)
and `refresh()` replaces it from a loader, by default `load_credentials` reading the database. Every
change of a key or an assignment bumps the `credentials` counter, so a refresh that finds the number
unchanged reads one row. The all-in-one server and the cluster's receivers refresh in the background.

A missing key, a wrong key and an unknown serial are the same refusal (`device()` returns False): the
caller learns nothing about which serials exist, and the work done is the same (one hash, one
constant-time comparison against a dummy when the serial is unknown).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from sync_server.models import Counter, Device, Gateway

KEY_BYTES = 24
COUNTER = "credentials"
_DUMMY = hashlib.sha256(b"no such device").hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Credentials:
    device_keys: Mapping[str, str] = field(default_factory=dict)
    device_gateway: Mapping[str, str] = field(default_factory=dict)
    gateway_keys: Mapping[str, str] = field(default_factory=dict)
    #: the `credentials` counter this snapshot was read at (-1: never loaded)
    generation: int = -1


def generation(session: Session) -> int:
    return session.scalar(select(Counter.value).where(Counter.name == COUNTER)) or 0


def load_credentials(session: Session) -> Credentials:
    gen = generation(session)
    device_keys, device_gateway = {}, {}
    for serial, digest, gateway in session.execute(select(Device.serial, Device.key_hash, Device.gateway)):
        if digest:
            device_keys[serial] = digest
        if gateway:
            device_gateway[serial] = gateway
    gateway_keys = {digest: name for name, digest in session.execute(select(Gateway.name, Gateway.key_hash))}
    return Credentials(device_keys, device_gateway, gateway_keys, gen)


class KeyRing:
    """Verifies presented keys against the snapshot in memory; thread-safe (the snapshot is swapped whole)."""

    def __init__(self, load: Callable[[], Credentials], load_generation: Callable[[], int] | None = None) -> None:
        self._load, self._load_generation = load, load_generation
        self._creds = Credentials()
        self._lock = threading.Lock()

    @classmethod
    def from_database(cls, db) -> KeyRing:  # noqa: ANN001 - sync_server.db.Database (avoids an import cycle)
        def load() -> Credentials:
            with db.read() as session:
                return load_credentials(session)

        def current() -> int:
            with db.read() as session:
                return generation(session)

        return cls(load, current)

    def refresh(self, force: bool = False) -> bool:
        """Reload the snapshot if credentials changed since it was taken (or always with force). Blocking:
        call it from a worker thread. Returns whether it reloaded."""
        with self._lock:
            if not force and self._load_generation is not None and self._creds.generation >= 0:
                if self._load_generation() == self._creds.generation:
                    return False
            self._creds = self._load()
            return True

    def device(self, serial: str | None, key: str | None) -> bool:
        """True only for a known serial presented with its own key."""
        expected = self._creds.device_keys.get(serial or "")
        given = key_hash(key or "")
        return hmac.compare_digest(given, expected or _DUMMY) and expected is not None and bool(key)

    def gateway(self, key: str | None) -> str | None:
        """The name of the gateway holding this key, or None."""
        if not key:
            return None
        return self._creds.gateway_keys.get(key_hash(key))

    def gateway_allows(self, gateway: str, serial: str) -> bool:
        return self._creds.device_gateway.get(serial) == gateway


# --------------------------------------------------------------------------- writes (admin, seeding)


def bump_credentials(session: Session) -> None:
    """Tell every KeyRing that credentials changed (call in the transaction that changes them)."""
    if session.get(Counter, COUNTER) is None:
        session.add(Counter(name=COUNTER, value=0))
        session.flush()
    session.execute(update(Counter).where(Counter.name == COUNTER).values(value=Counter.value + 1))


def issue_device_keys(session: Session, serials: Iterable[str]) -> dict[str, str]:
    """Give each existing device of `serials` a new key (replacing any old one); returns serial -> key."""
    wanted = list(dict.fromkeys(serials))
    known = set()
    for start in range(0, len(wanted), 5000):
        known.update(session.scalars(select(Device.serial).where(Device.serial.in_(wanted[start:start + 5000]))))
    keys = {serial: new_key() for serial in wanted if serial in known}
    if keys:
        session.execute(
            update(Device.__table__).where(Device.__table__.c.serial == bindparam("b_serial")),
            [{"b_serial": s, "key_hash": key_hash(k)} for s, k in keys.items()],
        )
        bump_credentials(session)
    return keys


def add_gateway(session: Session, name: str, now: datetime) -> str:
    """Create gateway `name` (or give an existing one a new key); returns its key."""
    key = new_key()
    row = session.get(Gateway, name)
    if row is None:
        session.add(Gateway(name=name, key_hash=key_hash(key), created_at=now))
    else:
        row.key_hash = key_hash(key)
    session.flush()
    bump_credentials(session)
    return key


def assign_devices(session: Session, gateway: str | None, serials: Iterable[str]) -> int:
    """Let `gateway` (None: no gateway) report for these devices; returns how many devices exist."""
    wanted = list(dict.fromkeys(serials))
    changed = 0
    for start in range(0, len(wanted), 5000):
        changed += session.execute(
            update(Device).where(Device.serial.in_(wanted[start:start + 5000])).values(gateway=gateway)
        ).rowcount
    bump_credentials(session)
    return changed

