"""Report-signing keys: a workstation registers the public half of its key; anyone holding a packet looks it up.

PUT /v1/workstation/signing-key (authenticated): files the key under its SHA-256 fingerprint for the
caller's workstation. Idempotent for the same workstation; 409 if another workstation already filed it.
GET /v1/signing-keys/{fingerprint} (no login): the record, or 404. It answers only for a fingerprint,
which only someone holding a packet sealed with that key knows, so a court clerk can check a packet
without an account; it reveals the workstation id and officer the packet already names.
"""

import base64
import hashlib
from typing import Annotated, Any

from fastapi import FastAPI, Path
from sqlalchemy import select

from sync_server.db import Database, utcnow
from sync_server.models import Officer, SigningKey, Workstation
from workstation.protocol import SigningKeyRecord, SigningKeyRegistration


def add_routes(app: FastAPI, db: Database, caller_dependency: Any, server_error: Any, errors: dict) -> None:
    """Register both routes on `app` (called by create_app with its caller dependency and error type)."""

    @app.put("/v1/workstation/signing-key", response_model=SigningKeyRecord, responses={**errors, 409: errors[404]})
    def register_signing_key(body: SigningKeyRegistration, who: caller_dependency) -> SigningKeyRecord:  # type: ignore[valid-type]
        raw = base64.b64decode(body.public_key)
        fingerprint = hashlib.sha256(raw).hexdigest()
        with db.write() as session:
            row = session.get(SigningKey, fingerprint)
            if row is None:
                row = SigningKey(
                    fingerprint=fingerprint, public_key=body.public_key, workstation_id=who.workstation_id,
                    officer_id=who.officer_id, registered_at=utcnow(),
                )
                session.add(row)
                session.flush()
            elif row.workstation_id != who.workstation_id:
                raise server_error(409, "key_conflict", "this key is registered to another workstation")
            return _record(session, row)

    @app.get("/v1/signing-keys/{fingerprint}", response_model=SigningKeyRecord, responses=errors)
    def signing_key(fingerprint: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]) -> SigningKeyRecord:
        with db.read() as session:
            row = session.get(SigningKey, fingerprint)
            if row is None:
                raise server_error(404, "not_found", "no workstation registered this key")
            return _record(session, row)


def _record(session: Any, row: SigningKey) -> SigningKeyRecord:
    officer = session.scalar(select(Officer.username).where(Officer.id == row.officer_id)) or ""
    workstation = session.get(Workstation, row.workstation_id)
    return SigningKeyRecord(
        fingerprint=row.fingerprint, public_key=row.public_key, workstation_id=row.workstation_id,
        officer_username=officer, registered_at=row.registered_at,
        workstation_revoked_at=workstation.revoked_at if workstation is not None else None,
    )
