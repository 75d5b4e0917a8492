"""A vector MBTiles package in the OpenMapTiles schema, built from the real Chicago tiles of
@mapbox/mvt-fixtures (Mapbox Streets v7, z13): what `python -m bench map`, the vector tests and the
street-zoom screenshot load as "an agency's vector package".

Layers and classes are mapped to OpenMapTiles names (road -> transportation with class minor/service/...,
road_label -> transportation_name, landuse park -> park, grass/wood -> landcover, place_label -> place),
and each z13 tile is also cut into its z14 and z15 children (clipped and re-quantised by
mapbox-vector-tile), so the renderer gets native tiles up to street zoom as from Planetiler.

Build/test-time only (needs node_modules and mapbox-vector-tile); the app never imports it.
"""

from __future__ import annotations

import gzip
import re
import sys
import warnings
from pathlib import Path

import mapbox_vector_tile

from maps.mbtiles import create_mbtiles, write_tiles

SOURCE_ZOOM = 13
EXTENT = 4096
_NAME = re.compile(r"^13-(\d+)-(\d+)\.mvt$")

_TRANSPORT_CLASS = {
    "motorway": "motorway", "motorway_link": "motorway", "trunk": "trunk", "primary": "primary",
    "secondary": "secondary", "tertiary": "tertiary", "link": "minor", "street": "minor",
    "street_limited": "minor", "pedestrian": "path", "construction": "minor", "track": "track",
    "service": "service", "path": "path", "major_rail": "rail", "minor_rail": "rail",
}
_LANDCOVER = {"grass": "grass", "pitch": "grass", "wood": "wood", "scrub": "wood", "sand": "sand"}


def _convert(layers: dict) -> list[dict]:
    """Mapbox Streets v7 layers -> OpenMapTiles layers (features keep their geometry)."""
    out: dict[str, list[dict]] = {}

    def add(layer: str, feature: dict, props: dict) -> None:
        out.setdefault(layer, []).append({"geometry": feature["geometry"], "properties": props})

    for name, layer in layers.items():
        for f in layer["features"]:
            p = f["properties"]
            cls = p.get("class")
            if name == "water":
                add("water", f, {"class": "lake"})
            elif name == "waterway":
                add("waterway", f, {"class": cls or "river"})
            elif name == "landuse":
                if cls == "park" or cls == "cemetery":
                    add("park", f, {"class": "park"})
                elif cls in _LANDCOVER:
                    add("landcover", f, {"class": _LANDCOVER[cls]})
                else:
                    add("landuse", f, {"class": cls or "residential"})
            elif name == "building":
                add("building", f, {})
            elif name == "road" and cls in _TRANSPORT_CLASS:
                add("transportation", f, {"class": _TRANSPORT_CLASS[cls]})
            elif name == "road_label" and p.get("name"):
                add("transportation_name", f, {"class": _TRANSPORT_CLASS.get(cls, "minor"), "name": p["name"]})
            elif name == "place_label" and p.get("name"):
                add("place", f, {"class": p.get("type") or "neighbourhood", "name": p["name"]})
    return [{"name": n, "features": fs} for n, fs in out.items()]


def _encode(layers: list[dict], bounds: tuple[float, float, float, float]) -> bytes:
    with warnings.catch_warnings():
        # mapbox-vector-tile 2.2 calls shapely.ops.transform, which Shapely 2.1 deprecates (once per feature)
        warnings.simplefilter("ignore", DeprecationWarning)
        raw = mapbox_vector_tile.encode(
            layers, default_options={"quantize_bounds": bounds, "extents": EXTENT, "y_coord_down": True}
        )
    return gzip.compress(raw, mtime=0)


#: the z13 fixture tile over the Loop (the screenshot's and the bench's centre)
LOOP_Z13 = (2101, 3044)


def build(node_modules: Path, target: Path, max_zoom: int = 14, only: set[tuple[int, int]] | None = None) -> Path:
    """Write the package to `target` (plain MBTiles, gzip-compressed tiles, format pbf). `only`: the z13
    tiles to include (all 30 by default; tests take one to stay quick)."""
    source = node_modules / "@mapbox" / "mvt-fixtures" / "real-world" / "chicago"
    tiles = []
    for path in sorted(source.glob("13-*.mvt")):
        m = _NAME.match(path.name)
        if not m:
            continue
        x, y = int(m.group(1)), int(m.group(2))
        if only is not None and (x, y) not in only:
            continue
        layers = _convert(mapbox_vector_tile.decode(path.read_bytes(), default_options={"y_coord_down": True}))
        for z in range(SOURCE_ZOOM, max_zoom + 1):
            n = 1 << (z - SOURCE_ZOOM)
            size = EXTENT / n
            for dx in range(n):
                for dy in range(n):
                    bounds = (dx * size, dy * size, (dx + 1) * size, (dy + 1) * size)
                    tiles.append((z, x * n + dx, y * n + dy, _encode(layers, bounds)))
    target.unlink(missing_ok=True)
    conn = create_mbtiles(target, {
        "name": "Chicago streets (vector sample)", "format": "pbf", "minzoom": str(SOURCE_ZOOM),
        "maxzoom": str(max_zoom), "attribution": "© OpenStreetMap contributors, © Mapbox",
        "bounds": "-87.8027,41.8199,-87.5830,41.9023",
    })
    write_tiles(conn, tiles)
    conn.commit()
    conn.close()
    return target


def screenshot(out: Path, zoom: int = 17, size: tuple[int, int] = (1100, 700)) -> dict:
    """The map as the app shows it with the sample imported, at street zoom over the Loop, saved as PNG
    (docs/screenshots/vector-street-zoom.png). Returns the page's status."""
    import json
    import os
    import tempfile
    import time

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from maps.scheme import register_app_scheme

    register_app_scheme()
    from PySide6.QtWidgets import QApplication

    from maps.tiles import TileStore
    from maps.view import MapView

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="vector-shot-") as tmp:
        sample = build(Path("node_modules"), Path(tmp) / "chicago-vector.mbtiles")
        store = TileStore.for_data_dir(Path(tmp) / "home", preloaded=())
        store.import_mbtiles(sample)
        view = MapView(store, center=(41.8810, -87.6298), zoom=zoom)
        view.resize(*size)
        view.show()
        status: dict = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.02)
            if view.is_ready and view.scheme_handler.pending_tiles() == 0:
                got: list = []
                view.evaluate("FieldMap.status()", got.append)
                while not got and time.monotonic() < deadline:
                    app.processEvents()
                    time.sleep(0.01)
                status = json.loads(got[0]) if got else {}
                if status.get("vectorTilesDrawn", 0) >= 6:
                    break
        for _ in range(50):  # let the last tiles reach the screen
            app.processEvents()
            time.sleep(0.02)
        view.grab().save(str(out))
        view.shutdown()
        view.deleteLater()
        from PySide6.QtCore import QCoreApplication, QEvent

        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        app.processEvents()
        store.close()
    return status


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--screenshot":
        print(screenshot(Path(sys.argv[2])))
    else:
        print(build(Path("node_modules"), Path(sys.argv[1] if len(sys.argv) > 1 else "chicago-vector.mbtiles")))
