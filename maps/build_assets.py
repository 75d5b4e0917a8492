"""`python -m maps.build_assets`: bundle the map's third-party files and build the demo basemap.

Copies Leaflet and leaflet.markercluster from node_modules (installed by `npm ci` from the committed
lockfile) into maps/assets/vendor/, renders maps/assets/basemap/chicago.mbtiles from the
@mapbox/mvt-fixtures Chicago tiles, and renders the folium page template and the "no map tiles
here" tile into maps/assets/generated/. All outputs are generated (git-ignored). A stamp holding a hash of
the inputs makes a second run a no-op that takes milliseconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from maps import basemap
from maps.asset_paths import basemap_path, no_tiles_png_path, page_template_path, vendor_dir
from maps.page import render_page_template
from workstation.resources import resource_path

log = logging.getLogger(__name__)

#: node_modules-relative source -> vendor-relative target
VENDOR_FILES = {
    "leaflet/dist/leaflet.js": "leaflet/leaflet.js",
    "leaflet/dist/leaflet.css": "leaflet/leaflet.css",
    "leaflet/dist/images/layers.png": "leaflet/images/layers.png",
    "leaflet/dist/images/layers-2x.png": "leaflet/images/layers-2x.png",
    "leaflet/dist/images/marker-icon.png": "leaflet/images/marker-icon.png",
    "leaflet/dist/images/marker-icon-2x.png": "leaflet/images/marker-icon-2x.png",
    "leaflet/dist/images/marker-shadow.png": "leaflet/images/marker-shadow.png",
    "leaflet.markercluster/dist/leaflet.markercluster.js": "markercluster/leaflet.markercluster.js",
    "leaflet.markercluster/dist/MarkerCluster.css": "markercluster/MarkerCluster.css",
    "leaflet.markercluster/dist/MarkerCluster.Default.css": "markercluster/MarkerCluster.Default.css",
    "leaflet/LICENSE": "leaflet/LICENSE",
    "leaflet.markercluster/MIT-LICENCE.txt": "markercluster/MIT-LICENCE.txt",
    # vector MBTiles renderer (with its pbf decoder bundled); chosen over MapLibre GL by
    # `python -m bench.vector_renderers` (docs/offline-maps.md)
    "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js": "vectorgrid/Leaflet.VectorGrid.bundled.min.js",
}


__all__ = ["basemap_path", "build_demo_basemap", "copy_vendor", "vendor_dir", "write_generated"]


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _stamp_ok(stamp: Path, digest: str, outputs: list[Path]) -> bool:
    return stamp.exists() and stamp.read_text() == digest and all(p.exists() for p in outputs)


def copy_vendor(node_modules: Path) -> bool:
    """Returns True when something was copied."""
    sources = [node_modules / src for src in VENDOR_FILES]
    missing = [str(p) for p in sources if not p.exists()]
    if missing:
        raise FileNotFoundError(f"missing in node_modules (run `npm ci`): {', '.join(missing)}")
    target = vendor_dir()
    stamp = target / ".stamp"
    digest = _digest(sources)
    outputs = [target / dst for dst in VENDOR_FILES.values()]
    if _stamp_ok(stamp, digest, outputs):
        return False
    for src, dst in VENDOR_FILES.items():
        out = target / dst
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(node_modules / src, out)
    versions = {
        name: json.loads((node_modules / name / "package.json").read_text())["version"]
        for name in ("leaflet", "leaflet.markercluster", "leaflet.vectorgrid")
    }
    (target / "versions.json").write_text(json.dumps(versions, indent=1))
    stamp.write_text(digest)
    return True


def build_demo_basemap(node_modules: Path) -> int | None:
    """Returns the tile count when the basemap was (re)built, None when it was up to date."""
    target = basemap_path()
    stamp = target.with_suffix(".stamp")
    inputs = list(basemap.source_tiles(node_modules).values()) + [Path(basemap.__file__)]
    digest = _digest(inputs)
    if _stamp_ok(stamp, digest, [target]):
        return None
    count = basemap.build_basemap(node_modules, target)
    stamp.write_text(digest)
    return count


def write_generated() -> bool:
    """Render the folium page template and the "no map tiles here" tile; True when a file changed."""
    changed = False
    for path, content in ((page_template_path(), render_page_template().encode("utf-8")),
                          (no_tiles_png_path(), basemap.render_no_tiles_png())):
        if path.exists() and path.read_bytes() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(content)
        tmp.replace(path)
        changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-modules", type=Path, default=resource_path("node_modules"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    try:
        copied = copy_vendor(args.node_modules)
        tiles = build_demo_basemap(args.node_modules)
        generated = write_generated()
    except FileNotFoundError as exc:
        print(f"build_assets: {exc}", file=sys.stderr)
        return 1
    west, south, east, north = basemap.coverage_bounds(basemap.source_tiles(args.node_modules))
    print(
        f"map assets: vendor {'copied' if copied else 'up to date'}; "
        f"page template {'written' if generated else 'up to date'}; basemap "
        f"{f'built ({tiles} tiles)' if tiles else 'up to date'}; covers lat {south:.4f}..{north:.4f}, "
        f"lon {west:.4f}..{east:.4f}; {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
