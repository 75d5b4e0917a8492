"""Map test helpers: the app scheme registered before any QApplication exists, and a real local HTTP
tile server (loopback, port 0) that answers images, HTML error pages or 500s by path prefix."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from maps.scheme import register_app_scheme

# Collected before any test runs, so before pytest-qt creates the QApplication (Qt's rule).
register_app_scheme()


def png_bytes(color=(10, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), color).save(buf, "PNG")
    return buf.getvalue()


class TileServer:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.png = png_bytes()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                server.requests.append(self.path)
                if self.path.startswith("/png/"):
                    self._answer(200, "image/png", server.png)
                elif self.path.startswith("/html/"):
                    self._answer(200, "text/html", b"<html><body>Login required</body></html>")
                else:
                    self._answer(500, "text/plain", b"boom")

            def _answer(self, code, ctype, body):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.port}/{kind}/{{z}}/{{x}}/{{y}}.png"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tile_server():
    server = TileServer()
    yield server
    server.close()
