"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), for the optional second factor.

SHA-1, 6 digits, 30-second steps: what every authenticator app reads from an otpauth:// URI. A code is
accepted for the current step and one step either side (clock drift), and each step only once: the
caller keeps the last step used and passes it back (replay of an observed code is refused).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

DIGITS = 6
STEP_S = 30
DRIFT_STEPS = 1
ISSUER = "Field Workstation"


def new_secret() -> str:
    """160 random bits (RFC 4226 recommends at least 128), base32 without padding."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret_b32: str) -> bytes:
    return base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8), casefold=True)


def code_at(secret_b32: str, step: int) -> str:
    digest = hmac.new(_key(secret_b32), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def step_of(unix_time: float) -> int:
    return int(unix_time // STEP_S)


def matching_step(secret_b32: str, code: str, unix_time: float, last_used_step: int | None) -> int | None:
    """The step `code` belongs to, if it is valid now and newer than `last_used_step`; else None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = step_of(unix_time)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(code_at(secret_b32, step), code):
            return step
    return None


def otpauth_uri(secret_b32: str, username: str, issuer: str = ISSUER) -> str:
    label = quote(f"{issuer}:{username}")
    query = urlencode({"secret": secret_b32, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS,
                       "period": STEP_S})
    return f"otpauth://totp/{label}?{query}"
