"""This workstation's report-signing key: Ed25519, private half inside the encrypted store.

The key is made on first use and kept in the store's settings table, so it is protected like every
other record (SQLCipher under the officer's password) and is crypto-wiped with the store when the
workstation is revoked. The public half is registered with the agency server after each online login
(`register`), which files it under its fingerprint with this workstation's id: `verify-packet` asks
the server whether the key that sealed a packet belongs to the workstation the packet names.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from local_db.models import Setting
from local_db.store import Store
from workstation import protocol as p
from workstation.reports.seal import key_fingerprint
from workstation.reports.window import utc_iso

log = logging.getLogger(__name__)

SETTING_KEY = "report_signing_key"
REGISTER_PATH = "/v1/workstation/signing-key"
LOOKUP_PATH = "/v1/signing-keys/{fingerprint}"


def _load(session: Session) -> tuple[Ed25519PrivateKey, dict[str, Any]] | None:
    row = session.get(Setting, SETTING_KEY)
    if row is None or not isinstance(row.value, dict) or "private_key" not in row.value:
        return None
    raw = base64.b64decode(row.value["private_key"])
    return Ed25519PrivateKey.from_private_bytes(raw), dict(row.value)


def signing_key(store: Store) -> tuple[Ed25519PrivateKey, dict[str, Any]]:
    """The key and its record ({created_at, registered: {server_url, at} | None}), made on first use."""
    with store.read_session() as session:
        found = _load(session)
    if found is not None:
        return found

    def create(session: Session) -> tuple[Ed25519PrivateKey, dict[str, Any]]:
        existing = _load(session)  # another thread may have made it meanwhile: one key per store
        if existing is not None:
            return existing
        key = Ed25519PrivateKey.generate()
        value = {
            "private_key": base64.b64encode(key.private_bytes_raw()).decode("ascii"),
            "created_at": utc_iso(datetime.now(UTC)),
            "registered": None,
        }
        session.add(Setting(key=SETTING_KEY, value=value))
        return key, value

    return store.write(create, durable=True)


def public_key_b64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes_raw()).decode("ascii")


def fingerprint_of(key: Ed25519PrivateKey) -> str:
    return key_fingerprint(key.public_key().public_bytes_raw())


def register(store: Any, client: Any) -> bool:
    """PUT the public key to the server (idempotent there); remembers where and when. Raises SyncError."""
    key, record = signing_key(store)
    body = p.SigningKeyRegistration(public_key=public_key_b64(key)).model_dump_json().encode()
    client.request("PUT", REGISTER_PATH, body=body)
    registered = {"server_url": getattr(client, "base_url", ""), "at": utc_iso(datetime.now(UTC))}

    def remember(session: Session) -> None:
        row = session.get(Setting, SETTING_KEY)
        if row is not None:
            row.value = {**row.value, "registered": registered}

    store.write(remember, durable=True)
    return True


def register_quietly(store: Any, client: Any) -> None:
    """register(), logging instead of raising: a login must not fail because this call did (retried next login)."""
    from workstation.sync.errors import SyncError

    try:
        register(store, client)
    except SyncError as exc:
        log.warning("report signing key not registered with the server yet: %s", exc)


def register_if_needed(store: Any, client: Any) -> None:
    """Register the key if there is one and this server has not recorded it yet (one read otherwise)."""
    with store.read_session() as session:
        found = _load(session)
    if found is None:
        return
    registered = found[1].get("registered") or {}
    if registered.get("server_url") != getattr(client, "base_url", ""):
        register_quietly(store, client)


def lookup(client: Any, fingerprint: str) -> p.SigningKeyRecord | None:
    """The server's record of a key, None when the server does not know it. Raises SyncError (unreachable...)."""
    from pydantic import ValidationError

    from workstation.sync.errors import RequestRefused, SyncError

    try:
        response = client.request("GET", LOOKUP_PATH.format(fingerprint=fingerprint), authenticated=False)
    except RequestRefused as exc:
        if exc.status == 404:
            return None
        raise
    try:
        return p.SigningKeyRecord.model_validate_json(response.content)
    except ValidationError:
        # not retryable: a server that answers garbage must not pass for an unreachable one
        raise SyncError("the server's answer about the signing key is not valid") from None
