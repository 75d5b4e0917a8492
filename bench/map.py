"""Map benchmark: moving 7,000 live markers in place vs. regenerating a folium page (one run, same machine).

(c) map_first_render_7k_ms: a new MapView (page load from the app scheme, Leaflet start, QWebChannel
    handshake) until the page has applied and drawn a 7,000-device snapshot.
(a) map_update_7k_ms: a batch that moves all 7,000 markers, from flush() in Python to the page's answer
    (json encode, IPC, JSON.parse, apply, canvas redraw): the round trip; median of repeats.
    map_update_7k_in_page_ms is the page's own share (performance.now around apply + draw).
    map_update_7k_ingest_ms is the Python-side validation of the 7,000 incoming fixes in update_devices(),
    which in the app is spread over the coalescing window as fixes arrive (~120 per second at 7,000 devices).
(d) map_vector_*: pan/zoom frame times with a vector MBTiles package (see _vector_pan_zoom).
(b) map_naive_refresh_7k_ms: the naive approach - folium regenerates the page with 7,000 CircleMarkers
    (bundled Leaflet, same scheme, so no network either) and the view reloads it until loadFinished.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DEVICES = 7_000
# the seeded demo caseload area (central Chicago)
SOUTH, NORTH, WEST, EAST = 41.86, 41.90, -87.66, -87.61


def _devices(rng: random.Random) -> list[dict]:
    states = ["ok"] * 17 + ["incident", "stale", "no_fix"]
    return [
        {
            "device_id": f"dev-{i}",
            "participant_id": f"p-{i}",
            "label": f"Participant {i}",
            "lat": rng.uniform(SOUTH, NORTH),
            "lon": rng.uniform(WEST, EAST),
            "fix_time": "2026-11-23T18:00:00Z",
            "accuracy_m": rng.uniform(5, 60),
            "state": rng.choice(states),
        }
        for i in range(DEVICES)
    ]


def _moved(devices: list[dict], rng: random.Random) -> list[dict]:
    return [
        {**d, "lat": d["lat"] + rng.uniform(-2e-4, 2e-4), "lon": d["lon"] + rng.uniform(-2e-4, 2e-4)}
        for d in devices
    ]


def _wait(app, predicate, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("map page did not answer in time")
        app.processEvents()
        time.sleep(0.001)


def _naive_html(devices: list[dict]) -> str:
    import folium

    from maps.page import BUNDLED_CSS, BUNDLED_JS, TILE_URL

    class NaiveMap(folium.Map):
        default_js = BUNDLED_JS[:1]
        default_css = BUNDLED_CSS[:1]

    fmap = NaiveMap(location=[(SOUTH + NORTH) / 2, (WEST + EAST) / 2], zoom_start=13, tiles=None, prefer_canvas=True)
    folium.TileLayer(tiles=TILE_URL, attr="© OpenStreetMap contributors, © Mapbox").add_to(fmap)
    colors = {"ok": "#2e7d32", "incident": "#d32f2f", "stale": "#9e9e9e", "no_fix": "#6a1b9a"}
    for d in devices:
        folium.CircleMarker(
            [d["lat"], d["lon"]], radius=6, color="#ffffff", weight=1.5, fill=True,
            fill_color=colors[d["state"]], fill_opacity=1, tooltip=d["label"],
        ).add_to(fmap)
    return fmap.get_root().render()


#: the pan/zoom script at street zoom: 8 animated pans, two zoom steps in and two out; the page records
#: every frame interval (requestAnimationFrame) while it runs
PAN_ZOOM_JS = """(function () {
  var map = FieldMap.map, frames = [], last = performance.now(), steps = 0, running = true;
  window.__frames = null;
  function tick(now) { frames.push(now - last); last = now; if (running) requestAnimationFrame(tick); }
  requestAnimationFrame(tick);
  var actions = [];
  for (var i = 0; i < 8; i++) actions.push(function (k) { return function () {
    map.panBy([k % 2 ? -300 : 300, k % 3 ? 120 : -120], {animate: true, duration: 0.4}); }; }(i));
  actions.push(function () { map.zoomIn(1); }, function () { map.zoomIn(1); },
               function () { map.zoomOut(1); }, function () { map.zoomOut(1); });
  var next = function () {
    if (steps >= actions.length) { running = false; window.__frames = frames.slice(1); return; }
    actions[steps++](); setTimeout(next, 600);
  };
  next();
  return 1;
})()"""


def _vector_pan_zoom(app, tmp: Path) -> dict[str, float | int]:
    """(d) a vector package (OpenMapTiles schema, maps/vector_sample.py, 3x3 z13 tiles around the Loop,
    native z13-14) as the only map: time to the first drawn view at z16, then frame intervals during the
    pan/zoom script, under the offscreen software renderer."""
    from PySide6.QtCore import QCoreApplication, QEvent

    from maps.tiles import TileStore
    from maps.vector_sample import LOOP_Z13, build
    from maps.view import MapView

    x0, y0 = LOOP_Z13
    node_modules = Path(__file__).resolve().parent.parent / "node_modules"
    package = build(node_modules, tmp / "vector.mbtiles",
                    only={(x, y) for x in range(x0 - 1, x0 + 2) for y in range(y0 - 1, y0 + 2)})
    store = TileStore(None, packages=[package])
    started = time.perf_counter()
    view = MapView(store, center=(41.8810, -87.6298), zoom=16)
    view.resize(1280, 800)
    view.show()
    drawn: dict = {}

    def poll_status() -> bool:
        got: list = []
        view.evaluate("FieldMap.status()", got.append)
        _wait(app, lambda: bool(got), 30)
        drawn.update(json.loads(got[0]))
        return drawn.get("vectorTilesDrawn", 0) >= 12 and view.scheme_handler.pending_tiles() == 0

    _wait(app, lambda: view.is_ready, 60)
    _wait(app, poll_status, 60)
    first_view_ms = (time.perf_counter() - started) * 1000
    view.evaluate(PAN_ZOOM_JS)
    frames_text: list = []

    def finished() -> bool:
        got: list = []
        view.evaluate("window.__frames === null ? '' : JSON.stringify(window.__frames)", got.append)
        _wait(app, lambda: bool(got), 30)
        if got[0]:
            frames_text.append(got[0])
        return bool(frames_text)

    _wait(app, finished, 90)
    frames = sorted(json.loads(frames_text[0]))
    view.shutdown()
    view.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()
    store.close()
    return {
        "map_vector_first_view_ms": round(first_view_ms, 1),
        "map_vector_frames": len(frames),
        "map_vector_frame_median_ms": round(frames[len(frames) // 2], 1),
        "map_vector_frame_p95_ms": round(frames[int(len(frames) * 0.95)], 1),
        "map_vector_frame_max_ms": round(frames[-1], 1),
    }


def run(quick: bool = False) -> dict[str, float | int]:
    from maps.scheme import register_app_scheme

    register_app_scheme()
    from PySide6.QtCore import QCoreApplication, QEvent, QUrl
    from PySide6.QtWidgets import QApplication

    from maps.asset_paths import basemap_path
    from maps.page import BASE_URL
    from maps.tiles import TileStore
    from maps.view import MapView

    app = QApplication.instance() or QApplication(sys.argv[:1])
    rng = random.Random(7)
    devices = _devices(rng)
    repeats = 3 if quick else 7
    tmp = tempfile.TemporaryDirectory(prefix="bench-map-")
    store = TileStore(
        Path(tmp.name) / "cache.mbtiles", packages=[basemap_path()] if basemap_path().exists() else []
    )

    # (c) first render with 7,000 markers
    started = time.perf_counter()
    view = MapView(store)
    view.resize(1280, 800)
    view.show()
    view.set_devices(devices)
    drawn: dict = {}
    view.evaluate("FieldMap.status()", lambda text: drawn.update(json.loads(text)))
    _wait(app, lambda: bool(drawn), 60)
    first_render_ms = (time.perf_counter() - started) * 1000
    assert drawn["devices"] == DEVICES, drawn

    # (a) batches moving all 7,000 markers, applied in place
    round_trips, in_page, ingest = [], [], []
    current = devices
    for _ in range(repeats):
        current = _moved(current, rng)
        answer: list = []
        t_in = time.perf_counter()
        view.update_devices(current)
        t0 = time.perf_counter()
        ingest.append((t0 - t_in) * 1000)
        view.flush(lambda ms, answer=answer: answer.append(ms))
        _wait(app, lambda answer=answer: bool(answer), 30)
        round_trips.append((time.perf_counter() - t0) * 1000)
        in_page.append(float(answer[0]))
    update_ms = statistics.median(round_trips)

    # (b) naive: regenerate the folium page with 7,000 markers and reload it
    naive_runs = []
    for i in range(1 if quick else 2):
        loaded: list = []
        conn = view.page.loadFinished.connect(lambda ok, loaded=loaded: loaded.append(ok))
        t0 = time.perf_counter()
        html = _naive_html(_moved(current, rng))
        # served by the same scheme handler as the real page: same transport, no network
        view.scheme_handler.set_document(f"/naive{i}.html", b"text/html", html.encode())
        view.page.load(QUrl(f"{BASE_URL}/naive{i}.html"))
        _wait(app, lambda loaded=loaded: bool(loaded), 120)
        naive_runs.append((time.perf_counter() - t0) * 1000)
        view.page.loadFinished.disconnect(conn)
        assert loaded[0], "naive page failed to load"
    naive_ms = statistics.median(naive_runs)
    blocked = view.blocked_request_count()

    view.shutdown()
    view.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()
    store.close()
    vector = _vector_pan_zoom(app, Path(tmp.name))
    tmp.cleanup()
    return {
        **vector,
        "map_update_7k_ms": round(update_ms, 1),
        "map_update_7k_in_page_ms": round(statistics.median(in_page), 1),
        "map_update_7k_max_ms": round(max(round_trips), 1),
        "map_update_7k_ingest_ms": round(statistics.median(ingest), 1),
        "map_naive_refresh_7k_ms": round(naive_ms, 1),
        "map_naive_html_bytes": len(html),
        "map_update_speedup_vs_folium": round(naive_ms / update_ms, 1),
        "map_first_render_7k_ms": round(first_render_ms, 1),
        "map_blocked_requests": blocked,
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=1))
