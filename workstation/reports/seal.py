"""The seal: an Ed25519 signature appended to a finished PDF, so that any changed byte is detected.

Layout of a sealed file:

    <the PDF as rendered, ending in %%EOF\\n>
    %FWS-SEAL <canonical JSON of the seal>\\n
    %%EOF\\n

The seal line is a PDF comment after the document's own end, and the file again ends in %%EOF, so
every PDF reader opens it unchanged. The seal JSON holds the signed statement (format, packet id,
SHA-256 of the manifest, SHA-256 of every byte before the seal line, workstation id, public key,
signing time) plus the signature over the canonical JSON of that statement.

Why any changed byte fails verification:
- a byte of the PDF part changes its SHA-256, which no longer matches the signed `pdf_sha256`;
- a byte of the seal line either breaks its JSON, or changes a signed field (the signature then fails),
  or changes the signature (Ed25519 verification is strict: no second valid encoding), or changes only
  the spelling (spaces, key order, hex case, base64 padding): the seal line must be *exactly* the
  canonical JSON of what it parses to, so any other spelling is refused;
- the last line must be exactly `%%EOF\\n`; bytes added after it, or a truncated file, are refused.
The embedded public key proves only that the file is as its signer left it; that the signer is this
agency's workstation is what the server's record of the key confirms (`verify-packet` online).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from workstation.reports.manifest import canonical_json

SEAL_FORMAT = "field-workstation/seal/1"
SEAL_PREFIX = b"%FWS-SEAL "
FILE_END = b"%%EOF\n"
SIGNED_FIELDS = ("format", "kind", "packet_id", "manifest_sha256", "pdf_sha256", "workstation_id", "public_key", "signed_at")


class SealBroken(ValueError):
    """The file is not intact or its signature does not hold; the message is one line for the officer."""


@dataclass(frozen=True)
class SealInfo:
    """What a verified seal states."""

    kind: str  # "evidence-packet" | "day-report"
    packet_id: str
    manifest_sha256: str
    pdf_sha256: str
    workstation_id: str
    public_key: bytes  # raw 32-byte Ed25519 public key
    signed_at: str

    @property
    def key_fingerprint(self) -> str:
        return key_fingerprint(self.public_key)


def key_fingerprint(public_key: bytes) -> str:
    """SHA-256 of the raw public key, hex: the name the server files the key under."""
    return hashlib.sha256(public_key).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def seal_pdf(
    pdf: bytes,
    key: Ed25519PrivateKey,
    *,
    kind: str,
    packet_id: str,
    manifest_sha256: str,
    workstation_id: str,
    signed_at: str,
) -> bytes:
    """The sealed file: `pdf` followed by the seal line and a final %%EOF."""
    if not pdf.endswith(b"\n"):
        pdf += b"\n"
    public = key.public_key().public_bytes_raw()
    statement = {
        "format": SEAL_FORMAT,
        "kind": kind,
        "packet_id": packet_id,
        "manifest_sha256": manifest_sha256,
        "pdf_sha256": hashlib.sha256(pdf).hexdigest(),
        "workstation_id": workstation_id,
        "public_key": b64(public),
        "signed_at": signed_at,
    }
    signature = key.sign(canonical_json(statement))
    return pdf + SEAL_PREFIX + canonical_json({**statement, "signature": b64(signature)}) + b"\n" + FILE_END


def split_sealed(data: bytes) -> tuple[bytes, bytes]:
    """(the PDF part, the seal JSON bytes); SealBroken when the file does not end with a seal."""
    if not data.endswith(b"\n" + FILE_END):
        raise SealBroken("the file does not end with the packet seal (truncated, or bytes added after it)")
    body_end = data.rfind(b"\n" + SEAL_PREFIX, 0, len(data) - len(FILE_END)) + 1
    if body_end <= 0:
        raise SealBroken("the file has no packet seal (not made by a field workstation, or the seal was removed)")
    line = data[body_end + len(SEAL_PREFIX) : len(data) - len(FILE_END) - 1]
    return data[:body_end], line


def verify_sealed(data: bytes) -> SealInfo:
    """Check every byte of a sealed file; returns what the seal states or raises SealBroken (one line)."""
    body, line = split_sealed(data)
    try:
        seal = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SealBroken("the packet seal is damaged (not readable)") from None
    if not isinstance(seal, dict) or set(seal) != {*SIGNED_FIELDS, "signature"}:
        raise SealBroken("the packet seal is damaged (unexpected fields)")
    if not all(isinstance(seal[k], str) for k in seal):
        raise SealBroken("the packet seal is damaged (unexpected values)")
    if canonical_json(seal) != line:
        raise SealBroken("the packet seal was altered (it is not in its canonical form)")
    if seal["format"] != SEAL_FORMAT:
        raise SealBroken(f"unknown seal format {seal['format']!r}")
    public_raw, signature = _decode(seal["public_key"], 32), _decode(seal["signature"], 64)
    if hashlib.sha256(body).hexdigest() != seal["pdf_sha256"]:
        raise SealBroken("the file was changed after it was sealed (its content does not match the signed hash)")
    statement = {k: seal[k] for k in SIGNED_FIELDS}
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, canonical_json(statement))
    except (InvalidSignature, ValueError):
        raise SealBroken("the signature does not match: the seal or the file was altered") from None
    return SealInfo(
        kind=seal["kind"],
        packet_id=seal["packet_id"],
        manifest_sha256=seal["manifest_sha256"],
        pdf_sha256=seal["pdf_sha256"],
        workstation_id=seal["workstation_id"],
        public_key=public_raw,
        signed_at=seal["signed_at"],
    )


def _decode(text: str, size: int) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SealBroken("the packet seal is damaged (bad encoding)") from None
    if len(raw) != size or b64(raw) != text:
        raise SealBroken("the packet seal is damaged (bad key or signature length)")
    return raw


def seal_summary(info: SealInfo) -> dict[str, Any]:
    return {
        "kind": info.kind,
        "packet_id": info.packet_id,
        "manifest_sha256": info.manifest_sha256,
        "pdf_sha256": info.pdf_sha256,
        "workstation_id": info.workstation_id,
        "key_fingerprint": info.key_fingerprint,
        "signed_at": info.signed_at,
    }
