"""Offscreen check that the map page works from the bundled assets with all networking blocked.

Used by `workstation selftest` (the installer's smoke test): the page must load from the app scheme,
Leaflet must run and the map object must exist, and the request guard must block an outside request.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: a navigation the self-test makes on purpose; the request guard must block it, never send it
PROBE_URL = "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js"


def _wait(app, predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        app.processEvents()
        time.sleep(0.01)
    return predicate()


def check_map_page(timeout_s: float = 20) -> dict:
    from PySide6.QtCore import QCoreApplication, QEvent, QUrl
    from PySide6.QtWidgets import QApplication

    from maps.scheme import register_app_scheme

    result: dict = {"ok": False, "leaflet_version": None, "blocked_requests": None, "error": None}
    if QApplication.instance() is None:
        register_app_scheme()
        app = QApplication([])
    else:
        app = QApplication.instance()
        try:
            register_app_scheme()
        except RuntimeError as exc:
            result["error"] = str(exc)
            return result

    from maps.asset_paths import basemap_path
    from maps.tiles import TileStore, TileStoreError
    from maps.view import MapView

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="map-selftest-") as tmp:
        packages = [basemap_path()] if basemap_path().exists() else []
        try:
            store = TileStore(Path(tmp) / "cache.mbtiles", packages=packages)
        except TileStoreError as exc:
            result["error"] = f"demo basemap unusable: {exc}"
            store = TileStore(Path(tmp) / "cache.mbtiles")
        view = MapView(store)
        view.resize(800, 600)
        view.show()
        try:
            if not _wait(app, lambda: view.is_ready, timeout_s):
                result["error"] = result["error"] or f"map page not ready within {timeout_s} s"
                return result
            status: dict = {}
            view.evaluate("FieldMap.status()", lambda text: status.update(json.loads(text or "{}")))
            _wait(app, lambda: bool(status), 5)
            result["blocked_requests"] = view.blocked_request_count()
            # the page's Content-Security-Policy is in force: eval is refused
            csp: list = []
            view.evaluate("(function () { try { eval('1'); return false; } catch (e) { return true; } })()",
                          csp.append)
            _wait(app, lambda: bool(csp), 5)
            result["csp_verified"] = csp == [True]
            # the request guard behind it: a navigation (which no page policy covers) never leaves
            before = result["blocked_requests"]
            view.page.load(QUrl(PROBE_URL))
            result["interceptor_verified"] = _wait(app, lambda: view.blocked_request_count() > before, 5)
            result["leaflet_version"] = status.get("leaflet")
            result["map_object"] = bool(status.get("map"))
            result["basemap"] = bool(packages)
            result["ok"] = bool(status.get("leaflet") and status.get("map") and result["interceptor_verified"]
                                and result["csp_verified"])
            if not result["ok"] and not result["error"]:
                result["error"] = (f"page status {status}, interceptor verified: {result['interceptor_verified']}, "
                                   f"CSP verified: {result['csp_verified']}")
        finally:
            result["seconds"] = round(time.perf_counter() - started, 2)
            view.shutdown()
            view.deleteLater()
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            app.processEvents()
            store.close()
    return result


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.WARNING)
    outcome = check_map_page()
    print(json.dumps(outcome, indent=1))
    sys.exit(0 if outcome["ok"] else 1)
