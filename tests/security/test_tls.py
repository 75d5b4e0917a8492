"""A real local TLS server (trustme certificates) against the workstation's client context."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import trustme

from workstation.security import tls


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.server.requests += 1  # type: ignore[attr-defined]
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _TLSServer:
    def __init__(self, server_ctx: ssl.SSLContext) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.requests = 0  # type: ignore[attr-defined]
        self.httpd.socket = server_ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        # "localhost" so hostname verification runs against the trustme SAN
        self.url = f"https://localhost:{self.httpd.server_address[1]}/"

    @property
    def requests(self) -> int:
        return self.httpd.requests  # type: ignore[attr-defined]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def agency_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(agency_ca: trustme.CA) -> trustme.LeafCert:
    return agency_ca.issue_cert("localhost", "127.0.0.1")


@pytest.fixture
def server(server_cert: trustme.LeafCert) -> Iterator[_TLSServer]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(ctx)
    srv = _TLSServer(ctx)
    yield srv
    srv.close()


@pytest.fixture
def ca_file(agency_ca: trustme.CA, tmp_path):
    path = tmp_path / "agency-ca.pem"
    agency_ca.cert_pem.write_to_path(str(path))
    return path


def _leaf_der(cert: trustme.LeafCert) -> bytes:
    pem = cert.cert_chain_pems[0].bytes()
    return ssl.PEM_cert_to_DER_cert(pem.decode())


def test_agency_ca_and_correct_pin_connect(server, server_cert, ca_file) -> None:
    cert_pin, spki_pin = tls.certificate_pins(_leaf_der(server_cert))
    for pin in (None, cert_pin, spki_pin, ":".join(cert_pin[i : i + 2] for i in range(0, 64, 2)).upper()):
        with httpx.Client(verify=tls.ssl_context(ca_file, pin)) as client:
            assert client.get(server.url).text == "ok"
    assert server.requests == 4


def test_untrusted_certificate_is_refused(server, tmp_path) -> None:
    other_ca = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    with httpx.Client(verify=tls.ssl_context(other_ca)) as client, pytest.raises(httpx.ConnectError) as info:
        client.get(server.url)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    # the system trust store does not know the agency CA either
    with httpx.Client(verify=tls.ssl_context()) as client, pytest.raises(httpx.ConnectError):
        client.get(server.url)
    assert server.requests == 0


def test_wrong_pin_is_refused_before_any_request_is_sent(server, ca_file) -> None:
    wrong = "ab" * 32
    with httpx.Client(verify=tls.ssl_context(ca_file, wrong)) as client, pytest.raises(httpx.ConnectError) as info:
        client.get(server.url)
    assert "pin" in str(info.value)
    assert server.requests == 0


def test_wrong_pin_is_refused_on_the_async_transport_too(server, server_cert, ca_file) -> None:
    async def fetch(pin: str) -> str:
        async with httpx.AsyncClient(verify=tls.ssl_context(ca_file, pin)) as client:
            return (await client.get(server.url)).text

    assert asyncio.run(fetch(tls.certificate_pins(_leaf_der(server_cert))[0])) == "ok"
    with pytest.raises(httpx.ConnectError):
        asyncio.run(fetch("cd" * 32))
    assert server.requests == 1


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_tls_below_1_2_is_refused(server_cert, ca_file) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    server_cert.configure_cert(ctx)
    srv = _TLSServer(ctx)
    try:
        client_ctx = tls.ssl_context(ca_file)
        assert client_ctx.minimum_version == ssl.TLSVersion.TLSv1_2
        with httpx.Client(verify=client_ctx) as client, pytest.raises(httpx.ConnectError):
            client.get(srv.url)
        assert srv.requests == 0
    finally:
        srv.close()


@pytest.mark.parametrize(
    "url",
    ["http://sync.agency.example/v1", "http://10.0.0.5:8000/", "ftp://127.0.0.1/", "https:///nohost"],
)
def test_plain_http_is_refused_except_loopback(url: str) -> None:
    with pytest.raises(tls.InsecureTransport):
        tls.httpx_verify(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8123/", "http://localhost:1/", "http://[::1]:9/"])
def test_loopback_http_is_allowed(url: str) -> None:
    assert tls.httpx_verify(url) is True


def test_bad_pin_and_missing_bundle_are_clear_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="64 hex"):
        tls.ssl_context(None, "not-a-pin")
    with pytest.raises(FileNotFoundError, match="CA bundle"):
        tls.ssl_context(tmp_path / "missing.pem")
