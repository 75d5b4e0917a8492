"""MBTiles files written by independent tools, as an agency would bring them: pymbtiles (plain `tiles`
table) and mbutil (deduplicated `map` + `images` tables behind a `tiles` view), raster or vector (Mapbox
Vector Tiles encoded with mapbox-vector-tile, gzip-compressed as the MBTiles spec asks)."""

from __future__ import annotations

import gzip
import io
import json
import tempfile
from pathlib import Path

import mapbox_vector_tile
from PIL import Image

#: central Chicago at street zoom (inside the bundled demo basemap, z11-16)
CHICAGO_Z14 = (14, 4202, 6090)


def png(color=(10, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), color).save(buf, "PNG")
    return buf.getvalue()


def vector_tile(name: str = "Test Street") -> bytes:
    """A gzip-compressed MVT with OpenMapTiles-style layers (water, transportation, building)."""
    raw = mapbox_vector_tile.encode([
        {"name": "water", "features": [{"geometry": "POLYGON ((0 0, 1200 0, 1200 800, 0 800, 0 0))",
                                        "properties": {"class": "lake"}}]},
        {"name": "transportation", "features": [{"geometry": "LINESTRING (0 2048, 4096 2048)",
                                                 "properties": {"class": "primary", "name": name}}]},
        {"name": "building", "features": [{"geometry": "POLYGON ((2500 2500, 3000 2500, 3000 3000, 2500 3000, 2500 2500))",
                                           "properties": {}}]},
    ])
    return gzip.compress(raw)


def write_pymbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], fmt: str = "png", name: str = "pymbtiles pack") -> Path:
    """tiles: {(z, x, y-XYZ): data}; pymbtiles takes the MBTiles (TMS) row, so it is flipped here."""
    from pymbtiles import MBtiles, Tile

    with MBtiles(str(path), mode="w") as out:
        out.meta = {"name": name, "format": fmt, "attribution": f"© {name}", "bounds": "-87.7,41.8,-87.6,41.9"}
        out.write_tiles(Tile(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items())
    return path


def write_mbutil(path: Path, tiles: dict[tuple[int, int, int], bytes], fmt: str = "png", name: str = "mbutil pack") -> Path:
    """The deduplicated layout, written by mbutil from a z/x/y directory (as `mb-util --image_format`)."""
    import gc
    import sqlite3

    from mbutil.util import compression_do, compression_finalize, compression_prepare, disk_to_mbtiles

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tiles"
        for (z, x, y), data in tiles.items():
            folder = root / str(z) / str(x)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{y}.{fmt}").write_bytes(data)
        (root / "metadata.json").write_text(json.dumps({"name": name, "format": fmt}))
        disk_to_mbtiles(str(root), str(path), format=fmt, scheme="xyz", silent=True)
    gc.collect()  # mbutil leaves its EXCLUSIVE-locked connection to the garbage collector
    # mbutil 0.3.0's compression=True calls its own compression_prepare with a missing argument: run
    # the same three steps (what `mb-util --do_compression` does) on the file it wrote
    con = sqlite3.connect(path)
    cur = con.cursor()
    compression_prepare(cur, True)
    compression_do(cur, con, 256, True)
    compression_finalize(cur)
    con.commit()
    con.close()
    return path
