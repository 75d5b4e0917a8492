"""The one HTTP client of the workstation: compression, byte counting, error mapping, tokens.

Every request to the agency server goes through `ServerClient.request`, which
- asks for compressed bodies (zstd, gzip) and counts the bytes that actually crossed the wire
  (before decompression: that is what a metered field modem pays for),
- adds the bearer token and, on a 401, refreshes it once and retries (TokenSource),
- maps every failure to a SyncError subclass (see errors.py) that says whether to retry,
- recognises revocation: an error body with `wipe: true` raises WorkstationRevoked, and the
  owner of the store (workstation.session) closes it and crypto-wipes,
- reports each contact to the connectivity tracker.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from workstation.protocol import ErrorBody
from workstation.security.tls import InsecureTransport, httpx_verify
from workstation.sync.errors import (
    AuthRequired,
    MfaRequired,
    RequestRefused,
    ServerFailed,
    ServerUnreachable,
    WorkstationRevoked,
)

ACCEPT_ENCODING = "zstd, gzip"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class TokenSource(Protocol):
    """Supplies the bearer token (workstation.auth.Auth implements it)."""

    def access_token(self) -> str: ...

    def refresh(self, client: ServerClient) -> None:
        """Get a new access token or raise AuthRequired."""


class ContactListener(Protocol):
    def contact_succeeded(self, latency_s: float) -> None: ...

    def contact_failed(self, error: Exception) -> None: ...


class ByteCounter:
    """Wire bytes in each direction, thread-safe (the live feed and a sync may run together)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down = 0
        self.up = 0
        #: seconds spent waiting for request/response round trips (server time + network)
        self.wait_s = 0.0

    def add(self, down: int = 0, up: int = 0, wait_s: float = 0.0) -> None:
        with self._lock:
            self.down += down
            self.up += up
            self.wait_s += wait_s

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.down, self.up


class ServerClient:
    def __init__(
        self,
        base_url: str,
        *,
        tokens: TokenSource | None = None,
        verify: Any = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        contact: ContactListener | None = None,
    ) -> None:
        base_url = base_url.rstrip("/")
        try:
            # Refuses plain http:// to anything but this computer, before a byte is sent.
            default_verify = httpx_verify(base_url)
        except InsecureTransport as exc:
            raise RequestRefused(str(exc), 0) from exc
        self.base_url = base_url
        self.tokens = tokens
        self.contact = contact
        self.bytes = ByteCounter()
        self._http = httpx.Client(
            base_url=base_url,
            verify=default_verify if verify is None else verify,
            timeout=timeout,
            transport=transport,
            headers={"Accept-Encoding": ACCEPT_ENCODING},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plain requests

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: dict[str, Any] | None = None,
        authenticated: bool = True,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request and return the (fully read) 2xx response, or raise a SyncError."""
        for attempt in (1, 2):
            sent_headers = {**self._headers(authenticated, body is not None), **(headers or {})}
            started = time.monotonic()
            try:
                response = self._http.request(method, path, content=body, params=params, headers=sent_headers)
                response.read()
            except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
                raise self._unreachable(exc) from exc
            finally:
                if body:
                    self.bytes.add(up=len(body))
            self.bytes.add(down=getattr(response, "num_bytes_downloaded", 0), wait_s=time.monotonic() - started)
            if response.status_code == 401 and authenticated and attempt == 1 and self.tokens is not None:
                self.tokens.refresh(self)
                continue
            self._check(response)
            if self.contact:
                self.contact.contact_succeeded(time.monotonic() - started)
            return response
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post_json(
        self, path: str, payload: bytes | dict[str, Any], *, authenticated: bool = True,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", path, body=body, authenticated=authenticated, headers=headers)

    # ------------------------------------------------------------------ streaming (SSE)

    @contextmanager
    def stream(self, path: str, params: dict[str, Any] | None = None, timeout: Any = None) -> Iterator[httpx.Response]:
        """Open a streaming GET (the live feed); the caller reads it as SSE (httpx_sse.EventSource).

        Bytes are counted as they arrive through `count_stream_bytes`.
        """
        for attempt in (1, 2):
            headers = self._headers(True, False)
            try:
                with self._http.stream(
                    "GET", path, params=params, headers=headers,
                    timeout=timeout if timeout is not None else self._http.timeout,
                ) as response:
                    if response.status_code == 401 and attempt == 1 and self.tokens is not None:
                        response.read()
                        self.tokens.refresh(self)
                        continue
                    if response.status_code >= 400:
                        response.read()
                        self._check(response)
                    if self.contact:
                        self.contact.contact_succeeded(0.0)
                    yield response
                    self.bytes.add(down=response.num_bytes_downloaded)
                    return
            except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
                raise self._unreachable(exc) from exc

    # ------------------------------------------------------------------ internals

    def _headers(self, authenticated: bool, has_body: bool) -> dict[str, str]:
        headers: dict[str, str] = {}
        if has_body:
            headers["Content-Type"] = "application/json"
        if authenticated:
            if self.tokens is None:
                raise AuthRequired("not logged in to the server")
            headers["Authorization"] = f"Bearer {self.tokens.access_token()}"
        return headers

    def _unreachable(self, exc: BaseException) -> ServerUnreachable:
        error = ServerUnreachable(describe_transport_error(self.base_url, exc))
        if self.contact:
            self.contact.contact_failed(error)
        return error

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        body = _error_body(response)
        if body is not None and body.wipe:
            reason = body.detail or body.error or "revoked"
            raise WorkstationRevoked(f"this workstation was revoked by the agency: {reason}")
        message = (body.detail or body.error) if body is not None else response.text[:200]
        if status == 401 and body is not None and body.error in ("mfa_required", "mfa_invalid"):
            raise MfaRequired(message, invalid=body.error == "mfa_invalid")
        if status == 401:
            raise AuthRequired(f"the server asks to log in again ({message or 'session expired'})")
        if status >= 500 or status == 429:
            error = ServerFailed(f"the server failed ({status}): {message}", status)
            if self.contact:
                self.contact.contact_failed(error)
            raise error
        raise RequestRefused(f"the server refused the request ({status}): {message}", status)


def _error_body(response: httpx.Response) -> ErrorBody | None:
    try:
        return ErrorBody.model_validate_json(response.content)
    except (ValidationError, ValueError):
        try:  # FastAPI's own errors ({"detail": ...}) before our handlers run
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            return None
        return ErrorBody(error="error", detail=str(detail)[:500]) if detail else None


def describe_transport_error(base_url: str, exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) or "SSL" in type(exc).__name__ or "CERTIFICATE" in str(exc).upper():
        return f"secure connection to {base_url} failed (certificate or TLS problem): {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return f"{base_url} did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach {base_url} ({exc or 'connection refused'})"
    return f"connection to {base_url} broke off ({type(exc).__name__}: {exc})"
