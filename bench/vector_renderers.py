"""Choosing the vector-tile renderer: Leaflet.VectorGrid vs MapLibre GL (through @maplibre/maplibre-gl-leaflet),
same package, same view, same pan/zoom script, QtWebEngine offscreen with software rendering.

    npm install --no-save maplibre-gl@5 @maplibre/maplibre-gl-leaflet@0.1.4   # the candidate not shipped
    python -m bench.vector_renderers          # both, each in its own process (MapLibre needs WebGL, which
                                              # Chromium blocklists on a software renderer unless
                                              # --ignore-gpu-blocklist is given; it then runs on llvmpipe)

Prints one JSON object per renderer: frame intervals (requestAnimationFrame) during 8 animated pans and
4 animated zoom steps at street zoom, the time until the first view is drawn, and whether it drew at all.
Not part of `python -m bench map` (which measures only the renderer the app ships).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules"
CENTER = (41.8827, -87.6233)  # the Loop, Chicago

VECTORGRID_STYLE_JS = """
function vgStyle() {
  var line = function (color, w) { return function (p, z) { return {color: color, weight: w(z), fill: false}; }; };
  var area = function (color) { return {fill: true, fillColor: color, fillOpacity: 1, stroke: false, weight: 0}; };
  return {
    water: area('#aad3df'), park: area('#c8e6b4'), landcover: area('#d5ecc4'), landuse: area('#ece8e0'),
    building: area('#d9d0c9'), waterway: line('#aad3df', function () { return 2; }),
    transportation: function (p, z) {
      var major = {motorway: 1, trunk: 1, primary: 1};
      return {color: major[p.class] ? '#f9b29c' : (p.class === 'rail' ? '#999' : '#ffffff'),
              weight: (major[p.class] ? 2.2 : 1.2) * Math.pow(1.5, z - 13), fill: false};
    },
    transportation_name: [], place: [],
  };
}
"""

MAPLIBRE_STYLE = {
    "version": 8,
    "sources": {"v": {"type": "vector", "tiles": ["fieldmap://app/vtiles/{z}/{x}/{y}.pbf"], "minzoom": 13, "maxzoom": 14}},
    "layers": [
        {"id": "bg", "type": "background", "paint": {"background-color": "#f2efe9"}},
        {"id": "water", "type": "fill", "source": "v", "source-layer": "water", "paint": {"fill-color": "#aad3df"}},
        {"id": "park", "type": "fill", "source": "v", "source-layer": "park", "paint": {"fill-color": "#c8e6b4"}},
        {"id": "landcover", "type": "fill", "source": "v", "source-layer": "landcover", "paint": {"fill-color": "#d5ecc4"}},
        {"id": "landuse", "type": "fill", "source": "v", "source-layer": "landuse", "paint": {"fill-color": "#ece8e0"}},
        {"id": "building", "type": "fill", "source": "v", "source-layer": "building", "paint": {"fill-color": "#d9d0c9"}},
        {"id": "roads", "type": "line", "source": "v", "source-layer": "transportation",
         "paint": {"line-color": "#ffffff", "line-width": ["interpolate", ["exponential", 1.5], ["zoom"], 13, 1.2, 18, 9]}},
    ],
}


def _page(renderer: str) -> str:
    leaflet = (NODE / "leaflet/dist/leaflet.js").read_text()
    if renderer == "vectorgrid":
        lib = (NODE / "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js").read_text()
        layer = VECTORGRID_STYLE_JS + """
        var layer = L.vectorGrid.protobuf('fieldmap://app/vtiles/{z}/{x}/{y}.pbf',
            {rendererFactory: L.canvas.tile, vectorTileLayerStyles: vgStyle(), maxNativeZoom: 14, minZoom: 13});
        layer.on('load', function () { window.__loaded = true; });
        """
    else:
        lib = ((NODE / "maplibre-gl/dist/maplibre-gl.js").read_text() + "\n"
               + (NODE / "@maplibre/maplibre-gl-leaflet/leaflet-maplibre-gl.js").read_text())
        layer = f"""
        var layer = L.maplibreGL({{style: {json.dumps(MAPLIBRE_STYLE)}}});
        setTimeout(function () {{ var gl = layer.getMaplibreMap();
          gl.once('idle', function () {{ window.__loaded = true; }}); }}, 0);
        """
    css = (NODE / "leaflet/dist/leaflet.css").read_text()
    return f"""<!DOCTYPE html><html><head><style>{css} html,body,#m{{margin:0;width:100%;height:100%}}</style>
    <script>{leaflet}</script><script>{lib}</script></head><body><div id="m"></div><script>
    window.__t0 = performance.now();
    var map = L.map('m', {{fadeAnimation: false}}).setView([{CENTER[0]}, {CENTER[1]}], 15);
    {layer}
    layer.addTo(map);
    window.FieldMap = {{map: map}};  // what bench.map.PAN_ZOOM_JS drives
    </script></body></html>"""


def _measure(renderer: str) -> dict:
    from maps.scheme import register_app_scheme

    register_app_scheme()
    from PySide6.QtCore import QUrl
    from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
    from PySide6.QtWebEngineWidgets import QWebEngineView
    from PySide6.QtWidgets import QApplication

    from bench.map import PAN_ZOOM_JS
    from maps.page import BASE_URL, SCHEME
    from maps.scheme import AppSchemeHandler
    from maps.tiles import TileStore
    from maps.vector_sample import build

    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = tempfile.TemporaryDirectory(prefix="bench-vector-")
    package = build(NODE, Path(tmp.name) / "chicago-vector.mbtiles", max_zoom=14)
    store = TileStore(None, packages=[package])
    profile = QWebEngineProfile()
    handler = AppSchemeHandler(store, profile)
    profile.installUrlSchemeHandler(SCHEME.encode(), handler)
    view = QWebEngineView()
    page = QWebEnginePage(profile, view)
    view.setPage(page)
    view.resize(1280, 800)
    view.show()
    handler.set_document("/vbench.html", b"text/html", _page(renderer).encode())

    def js(code: str, timeout: float = 30):
        out: list = []
        page.runJavaScript(code, 0, out.append)
        deadline = time.monotonic() + timeout
        while not out and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.002)
        return out[0] if out else None

    started = time.perf_counter()
    page.load(QUrl(BASE_URL + "/vbench.html"))
    result: dict = {"renderer": renderer}
    deadline = time.monotonic() + 60
    while not js("!!window.__loaded") and time.monotonic() < deadline:
        time.sleep(0.01)
    result["drawn"] = bool(js("!!window.__loaded"))
    result["first_view_ms"] = round((time.perf_counter() - started) * 1000, 1)
    if result["drawn"]:
        js(PAN_ZOOM_JS)
        deadline = time.monotonic() + 60
        text = "wait"
        while text == "wait" and time.monotonic() < deadline:
            text = js("window.__frames === null ? 'wait' : JSON.stringify(window.__frames)") or "wait"
            time.sleep(0.02)
        frames = sorted(json.loads(text) if text != "wait" else [])
        if frames:
            result.update(
                frames=len(frames),
                frame_median_ms=round(frames[len(frames) // 2], 1),
                frame_p95_ms=round(frames[int(len(frames) * 0.95)], 1),
                frame_max_ms=round(frames[-1], 1),
            )
    result["webgl"] = js("(function(){var c=document.createElement('canvas');return !!(c.getContext('webgl2')||c.getContext('webgl'));})()")
    view.setPage(None)
    page.deleteLater()
    app.processEvents()
    store.close()
    return result


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(_measure(sys.argv[2])))
        return
    for renderer, extra in (("vectorgrid", ""), ("maplibre", "--ignore-gpu-blocklist"), ("maplibre", "")):
        if renderer == "maplibre" and not (NODE / "maplibre-gl/dist/maplibre-gl.js").exists():
            print(json.dumps({"renderer": renderer, "skipped": "npm install --no-save maplibre-gl@5 "
                              "@maplibre/maplibre-gl-leaflet@0.1.4 first"}))
            continue
        env = dict(os.environ)
        env["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{env.get('QTWEBENGINE_CHROMIUM_FLAGS', '')} {extra}".strip()
        proc = subprocess.run([sys.executable, "-m", "bench.vector_renderers", "--one", renderer],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
        line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else json.dumps({"renderer": renderer, "error": proc.stderr[-300:]})
        print(json.dumps({**json.loads(line), "chromium_flags": extra or "(none)"}))


if __name__ == "__main__":
    main()
