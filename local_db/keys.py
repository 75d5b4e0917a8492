"""The data key of the encrypted store and the key file that holds it wrapped.

A random 256-bit data key encrypts the database (SQLCipher raw key, so opening the database
costs no key derivation). The data key is stored only wrapped with AES-256-GCM under a key
encryption key (KEK) derived from the officer's password with PBKDF2-HMAC-SHA256 (OWASP 2023:
>= 600,000 iterations) and a random salt. Changing the password re-wraps the same data key:
the database is not rewritten. Neither the password nor the data key is ever written to disk.

File <home>/keys.json, replaced atomically (temp file, fsync, os.replace, fsync of the
directory) so a crash leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from local_db.atomic import write_atomic
from local_db.errors import DataDirError, StoreCorrupt, StoreNotFound, WrongPassword

KEYFILE_NAME = "keys.json"
KEYFILE_FORMAT = 1
KDF_NAME = "pbkdf2-sha256"
#: OWASP Password Storage Cheat Sheet minimum for PBKDF2-HMAC-SHA256; stored per file so it can grow.
DEFAULT_ITERATIONS = 600_000
MIN_ITERATIONS = 600_000
DATA_KEY_BYTES = 32
# Binds the ciphertext to its purpose: a wrapped blob cannot be replayed as some other secret.
_AAD = b"field-workstation/data-key/v1"


def keyfile_path(home: Path) -> Path:
    return Path(home) / KEYFILE_NAME


def keyfile_exists(home: Path) -> bool:
    return keyfile_path(home).is_file()


def create_keyfile(home: Path, password: str, *, iterations: int = DEFAULT_ITERATIONS) -> bytes:
    """Make a new random data key, write it wrapped under `password`, return the data key.

    Refuses to replace an existing key file: that would orphan the database it unlocks.
    """
    path = keyfile_path(home)
    if path.exists():
        raise StoreCorrupt(f"A key file already exists at {path}; refusing to replace it.")
    data_key = secrets.token_bytes(DATA_KEY_BYTES)
    _write_atomic(path, _wrap(data_key, password, iterations))
    return data_key


def unwrap_data_key(home: Path, password: str) -> bytes:
    """The data key, or WrongPassword when `password` does not unwrap it."""
    record = _read(keyfile_path(home))
    kek = _derive(password, record["salt"], record["iterations"])
    try:
        data_key = AESGCM(kek).decrypt(record["nonce"], record["wrapped_key"], _AAD)
    except InvalidTag:
        raise WrongPassword("Wrong password. Nothing was changed.") from None
    if len(data_key) != DATA_KEY_BYTES:
        raise StoreCorrupt(f"The key file {keyfile_path(home)} holds a key of the wrong size.")
    return data_key


def change_password(home: Path, old: str, new: str) -> None:
    """Re-wrap the data key under `new` (fresh salt and nonce). The database is untouched."""
    path = keyfile_path(home)
    record = _read(path)
    data_key = unwrap_data_key(home, old)
    rewrapped = _wrap(data_key, new, max(record["iterations"], DEFAULT_ITERATIONS))
    # (security helper) Keep the other sections of the file, e.g. the failed-unlock counter of
    # workstation.security.lockout: dropping it on a password change would reset the lockout.
    rewrapped.update({k: v for k, v in json.loads(path.read_bytes()).items() if k not in rewrapped})
    _write_atomic(path, rewrapped)


def _derive(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, dklen=32)


def _wrap(data_key: bytes, password: str, iterations: int) -> dict[str, Any]:
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"PBKDF2 iterations must be at least {MIN_ITERATIONS}")
    salt = secrets.token_bytes(16)
    nonce = secrets.token_bytes(12)
    wrapped = AESGCM(_derive(password, salt, iterations)).encrypt(nonce, data_key, _AAD)
    return {
        "format": KEYFILE_FORMAT,
        "kdf": KDF_NAME,
        "iterations": iterations,
        "salt": _b64(salt),
        "cipher": "aes-256-gcm",
        "nonce": _b64(nonce),
        "wrapped_key": _b64(wrapped),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StoreNotFound(f"No key file at {path}: this data directory holds no store yet.") from None
    except OSError as exc:
        raise DataDirError(f"Cannot read the key file {path}: {exc.strerror}.") from None
    try:
        record = json.loads(raw)
        if record.get("format") != KEYFILE_FORMAT or record.get("kdf") != KDF_NAME:
            raise ValueError("unknown key file format")
        iterations = int(record["iterations"])
        if iterations < MIN_ITERATIONS:
            raise ValueError("too few KDF iterations")
        return {
            "iterations": iterations,
            "salt": base64.b64decode(record["salt"], validate=True),
            "nonce": base64.b64decode(record["nonce"], validate=True),
            "wrapped_key": base64.b64decode(record["wrapped_key"], validate=True),
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        raise StoreCorrupt(
            f"The key file {path} is damaged or not ours; the store cannot be unlocked. "
            "Restore it from a backup or re-enrol this workstation."
        ) from None


def _write_atomic(path: Path, record: dict[str, Any]) -> None:
    data = json.dumps(record, indent=2, sort_keys=True).encode("ascii")
    directory = path.parent
    if not directory.is_dir():
        raise DataDirError(f"The data directory {directory} does not exist.")
    try:
        write_atomic(path, data, mode=0o600)
    except PermissionError as exc:
        raise DataDirError(f"Cannot write in the data directory {directory}: {exc.strerror}.") from None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
