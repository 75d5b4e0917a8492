"""The app's own URL scheme (fieldmap://app/...) and the request guard of the map's web profile.

The page, its scripts and its tiles are served by AppSchemeHandler, never through setHtml (2 MB limit) or
the network. RequestGuard is the profile's interceptor: it lets through only the app scheme, in-memory
data:/blob: URLs and the agency tile host, blocks everything else before it reaches Chromium's network
stack, and counts what it blocked (the demo's "zero requests leave the machine" figure).
"""

from __future__ import annotations

import logging
import mimetypes
import os
import queue
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QCoreApplication,
    QFile,
    QIODevice,
    QObject,
    QThread,
    QTimer,
    Slot,
)
from PySide6.QtWebEngineCore import (
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)

from maps.asset_paths import no_tiles_png_path
from maps.page import HOST, PAGE_PATH, SCHEME, content_security_policy
from maps.tiles import TileStore, image_kind
from workstation.resources import resource_path

log = logging.getLogger(__name__)

SCHEME_BYTES = SCHEME.encode()
TILE_WORKERS = 4
VECTOR_MIME = b"application/x-protobuf"
#: schemes that never touch the network
LOCAL_SCHEMES = frozenset({SCHEME, "data", "blob"})


def register_app_scheme() -> None:
    """Register fieldmap:// with QtWebEngine. Must run before the QApplication is created (Qt's rule)."""
    if QWebEngineUrlScheme.schemeByName(SCHEME_BYTES).name() == SCHEME_BYTES:
        return
    if QCoreApplication.instance() is not None:
        raise RuntimeError(
            "register_app_scheme() must be called before the QApplication is created "
            "(QtWebEngine ignores schemes registered later)"
        )
    _no_webrtc_udp()
    scheme = QWebEngineUrlScheme(SCHEME_BYTES)
    scheme.setSyntax(QWebEngineUrlScheme.Syntax.Host)
    # Secure: the page is a secure context; CorsEnabled + FetchApiAllowed: fetch()/XHR to our own scheme work.
    flags = QWebEngineUrlScheme.Flag
    scheme.setFlags(flags.SecureScheme | flags.CorsEnabled | flags.FetchApiAllowed)
    QWebEngineUrlScheme.registerScheme(scheme)


#: Chromium's WebRTC policy for the whole web engine: no UDP except through a proxy (there is none), so
#: a peer connection made in a frame the page-side removal (maps.bridge) does not reach still sends
#: nothing past the request interceptor.
WEBRTC_POLICY_FLAG = "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"


def _no_webrtc_udp() -> None:
    """Add the WebRTC policy to QTWEBENGINE_CHROMIUM_FLAGS (read when the engine starts, after this)."""
    flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    if WEBRTC_POLICY_FLAG not in flags:
        os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} {WEBRTC_POLICY_FLAG}".strip()


@lru_cache(maxsize=1)
def no_tiles_png() -> bytes:
    """The tile shown where nothing is cached or imported: a calm hatched grey with a short note.

    build_assets renders it once (render_no_tiles_png) so that the app, and the frozen bundle without
    Pillow, only read the file; a source checkout without it renders it here."""
    try:
        return no_tiles_png_path().read_bytes()
    except FileNotFoundError:
        from maps.basemap import render_no_tiles_png  # build-time renderer (Pillow)

        return render_no_tiles_png()


class RequestGuard(QWebEngineUrlRequestInterceptor):
    """Blocks every request that is not the app scheme, data:/blob:, or an allowed (agency tile) host."""

    def __init__(self, allowed_hosts: Iterable[str] = (), parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._allowed = frozenset(h.lower() for h in allowed_hosts if h)
        self._lock = threading.Lock()
        self._blocked = 0
        self._recent: list[str] = []

    def allows(self, scheme: str, host: str) -> bool:
        if scheme in LOCAL_SCHEMES:
            return True
        return scheme in ("https", "http") and host.lower() in self._allowed

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:  # noqa: N802 (Qt override)
        url = info.requestUrl()
        if self.allows(url.scheme(), url.host()):
            return
        info.block(True)
        text = url.toString()[:200]
        with self._lock:
            self._blocked += 1
            self._recent = (self._recent + [text])[-20:]
        log.warning("map: blocked a request to %s", text)

    def blocked_count(self) -> int:
        with self._lock:
            return self._blocked

    def recent_blocked(self) -> list[str]:
        with self._lock:
            return list(self._recent)


class AppSchemeHandler(QWebEngineUrlSchemeHandler):
    """Serves fieldmap://app/...: the generated page, bundled files (from memory) and tiles (from a worker)."""

    def __init__(self, tile_store: TileStore | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = tile_store
        self._documents: dict[str, tuple[bytes, bytes]] = {}
        self._csp: dict[str, bytes] = {}  # path -> Content-Security-Policy header of that document
        self._jobs: dict[int, QWebEngineUrlRequestJob] = {}
        self._next_job = 0
        self._closed = False
        # Tile lookups touch sqlite and maybe the network: never on the GUI thread. Daemon workers, so a
        # tile request stuck on a slow server can never hold the application open at exit.
        self._requests: queue.Queue = queue.Queue()
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        # Finished lookups are handed back through a queue drained by a GUI-thread timer that runs only
        # while tiles are outstanding. (Not a Python-emitted signal per tile: PySide6 6.12.0 leaks a
        # reference to True on every SignalInstance.emit(), see ui/pyside_workarounds.py.)
        self._drain = QTimer(self)
        self._drain.setInterval(8)
        self._drain.timeout.connect(self._reply_tiles)
        self._load_bundled_files()

    # ---- content ------------------------------------------------------------------------

    def _load_bundled_files(self) -> None:
        """Read the bundled scripts/styles once (a few hundred KB) so requests are answered from memory."""
        for prefix, root in (("/page/", resource_path("maps", "assets", "page")),
                             ("/vendor/", resource_path("maps", "assets", "vendor"))):
            if not root.is_dir():
                log.error("map: bundled assets missing at %s (run `python -m maps.build_assets`)", root)
                continue
            for path in root.rglob("*"):
                if path.is_file() and path.suffix in (".js", ".css", ".png", ".svg", ".json"):
                    self._documents[prefix + path.relative_to(root).as_posix()] = (
                        _mime(path).encode(), path.read_bytes()
                    )
        qwebchannel = QFile(":/qtwebchannel/qwebchannel.js")
        if qwebchannel.open(QIODevice.OpenModeFlag.ReadOnly):
            self._documents["/qwebchannel.js"] = (b"application/javascript", bytes(qwebchannel.readAll().data()))
            qwebchannel.close()
        else:
            log.error("map: Qt's qwebchannel.js resource is missing")

    def set_page(self, html: str) -> None:
        """The map page, served with its Content-Security-Policy header (maps.page)."""
        self.set_document(PAGE_PATH, b"text/html", html.encode("utf-8"))
        self._csp[PAGE_PATH] = content_security_policy(html).encode()

    def set_document(self, path: str, mime: bytes, data: bytes) -> None:
        self._documents[path] = (mime, data)

    def has_document(self, path: str) -> bool:
        return path in self._documents

    # ---- requests ---------------------------------------------------------------------------

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:  # noqa: N802 (Qt override)
        url = job.requestUrl()
        if self._closed or url.host() != HOST:
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        path = url.path()
        if path.startswith("/tiles/") or path.startswith("/vtiles/"):
            self._start_tile(job, path)
            return
        doc = self._documents.get(path)
        if doc is None:
            log.warning("map: page asked for unknown resource %s", path)
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        _reply(job, doc[0], doc[1], self._csp.get(path))

    def _start_tile(self, job: QWebEngineUrlRequestJob, path: str) -> None:
        vector = path.startswith("/vtiles/")
        try:
            z, x, y_png = path[len("/vtiles/" if vector else "/tiles/"):].split("/")
            z_i, x_i, y_i = int(z), int(x), int(y_png.split(".")[0])
        except ValueError:
            job.fail(QWebEngineUrlRequestJob.Error.UrlInvalid)
            return
        if self._store is None:
            _reply(job, *((VECTOR_MIME, b"") if vector else (b"image/png", no_tiles_png())))
            return
        key = self._next_job
        self._next_job += 1
        self._jobs[key] = job
        # the engine deletes a job whose request was cancelled (tile scrolled away): forget it then
        job.destroyed.connect(lambda *_: self._forget_job(key))
        if not self._drain.isActive():
            self._drain.start()
        if len(self._workers) < TILE_WORKERS:
            worker = threading.Thread(target=self._work, name="map-tiles", daemon=True)
            worker.start()
            self._workers.append(worker)
        self._requests.put((key, vector, z_i, x_i, y_i))

    def _work(self) -> None:
        while True:
            item = self._requests.get()
            if item is None or self._closed:
                return
            self._lookup(*item)

    def _lookup(self, key: int, vector: bool, z: int, x: int, y: int) -> None:
        try:
            if self._store is None:
                data = None
            elif vector:
                data = self._store.vector_tile(z, x, y)
            else:
                data = self._store.raster_tile(z, x, y)
        except Exception:  # noqa: BLE001 - a broken tile must not take the page down; logged
            log.exception("map: tile %s/%s/%s lookup failed", z, x, y)
            data = b"" if vector else None
        if not self._closed:
            self._results.put((key, vector, data))

    @Slot()
    def _reply_tiles(self) -> None:
        while True:
            try:
                key, vector, raw = self._results.get_nowait()
            except queue.Empty:
                break
            job = self._jobs.pop(key, None)
            if job is None:
                continue  # cancelled meanwhile (tile scrolled away)
            kind = image_kind(raw) if raw and not vector else None
            try:
                if vector:
                    _reply(job, VECTOR_MIME, raw or b"")
                elif kind is None:
                    _reply(job, b"image/png", no_tiles_png())
                else:
                    _reply(job, b"image/jpeg" if kind == "jpg" else f"image/{kind}".encode(), raw)
            except RuntimeError:
                pass  # the job was deleted between our lookup and now (page navigated away)
        if not self._jobs:
            self._drain.stop()

    def _forget_job(self, key: int) -> None:
        self._jobs.pop(key, None)
        if self._closed or self._jobs:
            return  # closing already stopped the drain (and jobs may die after this handler's timer)
        # The last outstanding tile was cancelled: stop the drain now rather than at its next tick, so
        # "no tiles pending" and "drain stopped" are the same moment (the engine deletes jobs on the
        # GUI thread, the timer's thread; the check keeps a stray call from elsewhere harmless).
        try:
            if self._drain.thread() is QThread.currentThread():
                self._drain.stop()
        except RuntimeError:
            pass  # the handler is being deleted: its timer is gone with it

    def pending_tiles(self) -> int:
        """Tile requests not answered yet (the drain timer runs while this is above zero)."""
        return len(self._jobs)

    def close(self) -> None:
        self._closed = True
        self._drain.stop()
        self._jobs.clear()
        for _ in self._workers:
            self._requests.put(None)
        self._workers.clear()


def _mime(path: Path) -> str:
    if path.suffix == ".js":
        return "application/javascript"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _reply(job: QWebEngineUrlRequestJob, mime: bytes, data: bytes, csp: bytes | None = None) -> None:
    if csp is not None:
        job.setAdditionalResponseHeaders({QByteArray(b"Content-Security-Policy"): [QByteArray(csp)]})
    buffer = QBuffer(parent=job)  # lives as long as the job that reads it
    buffer.setData(data)
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    job.reply(mime, buffer)
