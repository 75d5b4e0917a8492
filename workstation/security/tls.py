"""Transport security for every connection to the agency server (CJIS SC-8, SC-13).

- HTTPS is required; plain HTTP is allowed only to a loopback address (the embedded demo server
  and tests), because nothing leaves the machine there.
- TLS 1.2 is the floor (1.3 preferred by OpenSSL's negotiation).
- Trust comes from the agency CA bundle when configured (otherwise the system store).
- An optional SHA-256 pin is checked inside the TLS handshake, before a single HTTP byte (so no
  credential) is sent. The pin may be the SHA-256 of the leaf certificate (DER) or of its
  SubjectPublicKeyInfo (survives certificate renewal with the same key); hex, colons allowed.

`ssl_context(...)` returns a stock `ssl.SSLContext` subclass that httpx accepts as `verify=`,
for the sync as well as the async transport: the pin check lives in the SSLSocket/SSLObject
classes the context creates, whose `do_handshake` both paths call.
"""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


class InsecureTransport(ValueError):
    """The server URL is not HTTPS and not loopback."""


class PinMismatch(ssl.SSLCertVerificationError):
    """The server's certificate does not match the configured SHA-256 pin."""


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str) -> str:
    """Return `url` if it is HTTPS, or HTTP to a loopback host; raise InsecureTransport otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
        return url
    raise InsecureTransport(
        f"refusing to connect to {parts.scheme or '?'}://{parts.hostname or '?'}: the agency server "
        "must be reached over HTTPS (plain HTTP is allowed only to this computer)"
    )


def normalise_pin(pin: str) -> str:
    value = pin.replace(":", "").replace(" ", "").lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError("cert_pin_sha256 must be 64 hex digits (SHA-256), colons allowed")
    return value


def certificate_pins(der: bytes) -> tuple[str, str]:
    """(sha256 of the certificate DER, sha256 of its SubjectPublicKeyInfo DER)."""
    cert = x509.load_der_x509_certificate(der)
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest(), hashlib.sha256(spki).hexdigest()


def _check_pin(context: ssl.SSLContext, der: bytes | None) -> None:
    pin = getattr(context, "pin_sha256", None)
    if not pin:
        return
    if der is None or pin not in certificate_pins(der):
        raise PinMismatch("the server certificate does not match the configured pin (cert_pin_sha256)")


class _PinnedSocket(ssl.SSLSocket):
    def do_handshake(self, block: bool = False) -> None:  # sync httpx: called by wrap_socket
        super().do_handshake(block)
        try:
            _check_pin(self.context, self.getpeercert(binary_form=True))
        except PinMismatch:
            self.close()
            raise


class _PinnedObject(ssl.SSLObject):
    def do_handshake(self) -> None:  # async httpx (anyio TLSStream) and TLS-in-TLS
        super().do_handshake()
        _check_pin(self.context, self.getpeercert(binary_form=True))


class AgencySSLContext(ssl.SSLContext):
    """A client context that also carries the optional certificate pin."""

    pin_sha256: str | None = None
    sslsocket_class = _PinnedSocket
    sslobject_class = _PinnedObject


def ssl_context(ca_bundle: str | Path | None = None, cert_pin_sha256: str | None = None) -> AgencySSLContext:
    """A verifying client context: TLS >= 1.2, agency CA bundle (or system trust), optional pin."""
    context = AgencySSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname + CERT_REQUIRED by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_bundle:
        path = Path(ca_bundle)
        if not path.is_file():
            raise FileNotFoundError(f"agency CA bundle not found: {path}")
        context.load_verify_locations(cafile=str(path))
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    context.pin_sha256 = normalise_pin(cert_pin_sha256) if cert_pin_sha256 else None
    return context


class TlsSettings(Protocol):
    """The part of workstation.config.Config that says how to trust the server."""

    @property
    def ca_bundle(self) -> Path | None: ...

    @property
    def cert_pin_sha256(self) -> str | None: ...


def httpx_verify(
    url: str, ca_bundle: str | Path | None = None, cert_pin_sha256: str | None = None
) -> bool | ssl.SSLContext:
    """What to pass as httpx's `verify=` for `url` (after checking the URL is allowed).

    For HTTP to loopback there is no TLS, so the value is irrelevant and True is returned.
    """
    require_secure_url(url)
    if urlsplit(url).scheme == "http":
        return True
    return ssl_context(ca_bundle, cert_pin_sha256)


def from_config(url: str, config: TlsSettings) -> bool | ssl.SSLContext:
    """httpx `verify=` value from a workstation Config."""
    return httpx_verify(url, config.ca_bundle or None, config.cert_pin_sha256 or None)
