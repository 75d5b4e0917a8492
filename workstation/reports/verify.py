"""`workstation verify-packet`: is this file exactly as the workstation sealed it, and whose key sealed it?

Checks, in order: the seal (every byte, see seal.py), the attached manifest (its SHA-256 is the one
signed), then, when the agency server can be reached, the server's record of the key (registered,
to the workstation the seal names). Offline the result says the key was checked only against the
one embedded in the file.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any

from workstation.reports.manifest import sha256_hex
from workstation.reports.seal import SealBroken, SealInfo, verify_sealed
from workstation.reports.window import utc_iso

#: the attached manifest as build_pdf writes it (the seal has already proven the bytes are ours)
_EMBEDDED = re.compile(
    rb"<<\s*/Filter\s*\[\s*/FlateDecode\s*\]\s*/Length\s+(\d+)\s*/Params\s*<<[^>]*>>\s*"
    rb"/Subtype\s*/application#2Fjson\s*/Type\s*/EmbeddedFile\s*>>\s*stream\r?\n"
)


@dataclass(frozen=True)
class Verification:
    seal: SealInfo
    manifest: bytes
    #: "registered" (the server filed this key for this workstation), "offline" (not checked), or the reason it failed
    server_check: str
    server_detail: str = ""

    @property
    def ok(self) -> bool:
        return self.server_check in ("registered", "offline")


def attached_manifest(pdf_part: bytes) -> bytes:
    match = _EMBEDDED.search(pdf_part)
    if match is None:
        raise SealBroken("the packet has no attached manifest")
    start = match.end()
    data = pdf_part[start : start + int(match.group(1))]
    try:
        return zlib.decompress(data)
    except zlib.error:
        raise SealBroken("the attached manifest cannot be read") from None


def verify_file(data: bytes, key_lookup: Any | None = None) -> Verification:
    """Verify a sealed report. `key_lookup(fingerprint)` returns the server's SigningKeyRecord or None
    (unknown key) and raises workstation.sync.errors.SyncError when the server cannot answer.
    Raises SealBroken with one line when the file is not intact."""
    info = verify_sealed(data)
    manifest = attached_manifest(data)
    if sha256_hex(manifest) != info.manifest_sha256:
        raise SealBroken("the attached manifest does not match the signed manifest hash")
    if key_lookup is None:
        return Verification(info, manifest, "offline", "no agency server configured")
    from workstation.sync.errors import SyncError

    try:
        record = key_lookup(info.key_fingerprint)
    except SyncError as exc:
        if exc.retryable:  # unreachable, TLS, 5xx: the server could not be asked
            return Verification(info, manifest, "offline", str(exc))
        return Verification(info, manifest, f"the agency server could not confirm the key: {exc}")
    if record is None:
        return Verification(info, manifest, "the agency server has no record of the key that sealed this file")
    if record.workstation_id != info.workstation_id:
        return Verification(
            info, manifest,
            f"the key that sealed this file belongs to workstation {record.workstation_id}, "
            f"not {info.workstation_id} as the file claims",
        )
    detail = f"registered {record.registered_at:%Y-%m-%d %H:%M} UTC by {record.officer_username}"
    revoked = record.workstation_revoked_at
    if revoked is not None:
        revoked_text = utc_iso(revoked) or ""
        if revoked_text <= info.signed_at:
            return Verification(
                info, manifest, f"the workstation that sealed this file was revoked ({revoked_text}) before it did so"
            )
        detail += f"; the workstation was revoked later, {revoked_text}"
    return Verification(info, manifest, "registered", detail)
