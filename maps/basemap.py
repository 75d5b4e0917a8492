"""Demo basemap: raster tiles z11-z16 rendered from real OpenStreetMap-derived vector tiles.

The npm package @mapbox/mvt-fixtures ships 30 Mapbox Streets v7 tiles of central Chicago at z13
(real-world/chicago/13-X-Y.mvt, x 2098-2102, y 3042-3047). They are drawn here with Pillow into 256 px PNG
tiles and written into one MBTiles file that the tile store serves like any imported package.

How: for each output zoom the covered area is cut into chunks (one z13 source tile each for z >= 13, the
whole area below). Geometry is drawn at 2x and downsampled (Pillow draws without anti-aliasing), labels are
placed once per zoom over the whole area (so a label crossing a tile edge is drawn identically on both sides)
and drawn at 1x. Chunks render in a process pool (about 30 s on 2 cores).
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import mapbox_vector_tile
from PIL import Image, ImageDraw, ImageFont

from maps.tiles import create_mbtiles, write_tiles

log = logging.getLogger(__name__)

SOURCE_ZOOM = 13
MIN_ZOOM, MAX_ZOOM = 11, 16
TILE = 256
SUPERSAMPLE = 2
ATTRIBUTION = "© OpenStreetMap contributors, © Mapbox"
_NAME = re.compile(r"^13-(\d+)-(\d+)\.mvt$")

LAND = (242, 239, 233)
OUTSIDE = (224, 224, 224)  # beyond the fixtures: visibly "no data", not land
WATER = (170, 211, 223)
LANDUSE_COLORS = {
    "park": (200, 230, 180), "grass": (213, 236, 196), "pitch": (190, 226, 170), "cemetery": (205, 224, 200),
    "wood": (180, 214, 160), "scrub": (200, 222, 180), "agriculture": (236, 238, 210), "sand": (245, 233, 198),
    "school": (240, 228, 216), "hospital": (245, 222, 222), "industrial": (232, 224, 232),
    "parking": (234, 232, 228),
}
OVERLAY_COLORS = {"national_park": (200, 230, 180), "wetland": (208, 232, 220), "wetland_noveg": (208, 232, 220)}
BUILDING = (217, 208, 201)

# road class -> (fill colour, casing colour, first zoom shown, width in px at z13, z16)
ROADS = {
    "motorway": ((233, 144, 160), (200, 90, 110), 11, (3.0, 10.0)),
    "trunk": ((249, 178, 156), (200, 120, 100), 11, (2.6, 9.0)),
    "motorway_link": ((233, 144, 160), (200, 90, 110), 13, (1.4, 5.0)),
    "primary": ((252, 214, 164), (200, 160, 110), 11, (2.4, 9.0)),
    "secondary": ((247, 250, 191), (180, 180, 120), 12, (2.0, 8.0)),
    "tertiary": ((255, 255, 255), (180, 170, 160), 13, (1.6, 7.0)),
    "link": ((255, 255, 255), (180, 170, 160), 14, (1.0, 4.0)),
    "street": ((255, 255, 255), (190, 182, 172), 13, (0.8, 5.5)),
    "street_limited": ((250, 248, 245), (190, 182, 172), 14, (0.7, 4.5)),
    "pedestrian": ((236, 232, 240), (190, 182, 200), 15, (0.6, 3.0)),
    "service": ((255, 255, 255), (200, 194, 186), 15, (0.5, 3.0)),
    "track": ((200, 180, 140), None, 15, (0.5, 1.5)),
    "path": ((220, 140, 120), None, 16, (0.5, 1.2)),
    "construction": ((240, 240, 240), (200, 194, 186), 14, (0.7, 3.5)),
}
RAIL = {"major_rail": 12, "minor_rail": 14}
ROAD_ORDER = list(reversed(list(ROADS)))  # draw minor roads first so major ones sit on top

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)


def fixture_dir(node_modules: Path) -> Path:
    return node_modules / "@mapbox" / "mvt-fixtures" / "real-world" / "chicago"


def source_tiles(node_modules: Path) -> dict[tuple[int, int], Path]:
    found = {}
    for path in fixture_dir(node_modules).glob("13-*.mvt"):
        m = _NAME.match(path.name)
        if m:
            found[(int(m.group(1)), int(m.group(2)))] = path
    return found


def coverage_bounds(tiles: dict[tuple[int, int], Path]) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of the area the fixtures cover."""
    xs = [x for x, _ in tiles]
    ys = [y for _, y in tiles]
    n = 2**SOURCE_ZOOM

    def lon(x: float) -> float:
        return x / n * 360.0 - 180.0

    def lat(y: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))

    return (lon(min(xs)), lat(max(ys) + 1), lon(max(xs) + 1), lat(min(ys)))


@lru_cache(maxsize=8)
def font(size: int, bold: bool = False) -> ImageFont.ImageFont:
    path = FONT_CANDIDATES[1 if bold else 0]
    if os.path.exists(path):
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=64)
def decode(path: str) -> dict:
    with open(path, "rb") as fh:
        return mapbox_vector_tile.decode(fh.read(), default_options={"y_coord_down": True})


def width_at(widths: tuple[float, float], z: int) -> float:
    lo, hi = widths
    t = (z - 13) / 3
    if z < 13:
        return max(0.6, lo * (0.7 ** (13 - z)))
    return lo * (hi / lo) ** t


@dataclass
class Chunk:
    """A rectangle of output pixels at zoom z: tiles [tx0, tx1) x [ty0, ty1)."""

    z: int
    tx0: int
    ty0: int
    tx1: int
    ty1: int


# --------------------------------------------------------------------------- geometry


def _rings(geom: dict) -> list[list[list]]:
    """Polygon/MultiPolygon -> list of polygons, each a list of rings."""
    if geom["type"] == "Polygon":
        return [geom["coordinates"]]
    if geom["type"] == "MultiPolygon":
        return list(geom["coordinates"])
    return []


def _lines(geom: dict) -> list[list]:
    if geom["type"] == "LineString":
        return [geom["coordinates"]]
    if geom["type"] == "MultiLineString":
        return list(geom["coordinates"])
    return []


class _Projector:
    """Tile-local MVT coordinates of source tile (sx, sy) -> canvas pixels of a chunk."""

    def __init__(self, chunk: Chunk, extent: int, scale: float) -> None:
        self.chunk, self.extent, self.scale = chunk, extent, scale
        self.units = TILE * 2 ** (chunk.z - SOURCE_ZOOM) * scale  # canvas px per source tile

    def for_tile(self, sx: int, sy: int):
        ox = sx * self.units - self.chunk.tx0 * TILE * self.scale
        oy = sy * self.units - self.chunk.ty0 * TILE * self.scale
        k = self.units / self.extent
        return lambda pts: [(ox + p[0] * k, oy + p[1] * k) for p in pts]


def _fill_polygons(canvas: Image.Image, items: list, color) -> None:
    """Fill all polygons of one style. Polygons without holes are drawn straight onto the canvas; the
    few with holes (inner rings) go through one shared mask so the holes stay holes (a full-canvas
    masked paste costs ~0.3 s at z16, so it is only paid when needed)."""
    if not items:
        return
    draw = ImageDraw.Draw(canvas)
    holed = []
    for project, polys in items:
        for poly in polys:
            if len(poly) > 1:
                holed.append((project, poly))
            elif len(poly[0]) >= 3:
                draw.polygon(project(poly[0]), fill=color)
    if not holed:
        return
    mask = Image.new("L", canvas.size, 0)
    mask_draw = ImageDraw.Draw(mask)
    for project, poly in holed:
        for i, ring in enumerate(poly):
            if len(ring) >= 3:
                mask_draw.polygon(project(ring), fill=0 if i else 255)
    canvas.paste(color, (0, 0), mask)


def render_geometry(chunk: Chunk, sources: dict[tuple[int, int], Path], covered: set) -> Image.Image:
    s = SUPERSAMPLE
    w, h = (chunk.tx1 - chunk.tx0) * TILE * s, (chunk.ty1 - chunk.ty0) * TILE * s
    canvas = Image.new("RGB", (w, h), OUTSIDE)
    z = chunk.z
    draw = ImageDraw.Draw(canvas)
    proj = _Projector(chunk, 4096, s)
    mine = [(key, path) for key, path in sources.items() if _overlaps(chunk, key)]
    for (sx, sy), _ in mine:
        u = proj.units
        ox, oy = proj.for_tile(sx, sy)([(0, 0)])[0]
        draw.rectangle([ox, oy, ox + u, oy + u], fill=LAND)
    layers_by_tile = [((sx, sy), decode(str(path))) for (sx, sy), path in mine]

    def polys(layer: str, pred) -> dict:
        out: dict = {}
        for (sx, sy), layers in layers_by_tile:
            project = proj.for_tile(sx, sy)
            for f in layers.get(layer, {}).get("features", []):
                key = pred(f["properties"])
                if key is not None:
                    out.setdefault(key, []).append((project, _rings(f["geometry"])))
        return out

    landuse = polys("landuse", lambda p: p.get("class") if p.get("class") in LANDUSE_COLORS else None)
    for cls, items in landuse.items():
        _fill_polygons(canvas, items, LANDUSE_COLORS[cls])
    overlay = polys("landuse_overlay", lambda p: p.get("class") if p.get("class") in OVERLAY_COLORS else None)
    for cls, items in overlay.items():
        _fill_polygons(canvas, items, OVERLAY_COLORS[cls])
    for items in polys("water", lambda p: "water").values():
        _fill_polygons(canvas, items, WATER)
    draw = ImageDraw.Draw(canvas)
    for (sx, sy), layers in layers_by_tile:
        project = proj.for_tile(sx, sy)
        for f in layers.get("waterway", {}).get("features", []):
            for line in _lines(f["geometry"]):
                draw.line(project(line), fill=WATER, width=max(1, round(width_at((1.0, 4.0), z) * s)))
    if z >= 15:
        for items in polys("building", lambda p: "b").values():
            _fill_polygons(canvas, items, BUILDING)
    draw = ImageDraw.Draw(canvas)
    # pedestrian plazas and similar road areas
    if z >= 15:
        for (sx, sy), layers in layers_by_tile:
            project = proj.for_tile(sx, sy)
            for f in layers.get("road", {}).get("features", []):
                if f["properties"].get("class") == "pedestrian":
                    for poly in _rings(f["geometry"]):
                        if len(poly[0]) >= 3:
                            draw.polygon(project(poly[0]), fill=(236, 232, 240))
    # roads: casings for all classes first, then fills, so junctions are clean
    road_lines: dict[str, list] = {}
    rails = []
    for (sx, sy), layers in layers_by_tile:
        project = proj.for_tile(sx, sy)
        for f in layers.get("road", {}).get("features", []):
            cls = f["properties"].get("class")
            if cls in RAIL and z >= RAIL[cls]:
                rails.extend(project(line) for line in _lines(f["geometry"]))
            elif cls in ROADS and z >= ROADS[cls][2]:
                road_lines.setdefault(cls, []).extend(project(line) for line in _lines(f["geometry"]))
    for rail in rails:
        draw.line(rail, fill=(150, 150, 150), width=max(1, round(width_at((1.0, 2.5), z) * s)))
    for cls in ROAD_ORDER:
        fill, casing, _, widths = ROADS[cls]
        width = width_at(widths, z) * s
        if casing is not None and z >= 13:
            for line in road_lines.get(cls, []):
                draw.line(line, fill=casing, width=max(1, round(width + 1.6 * s)), joint="curve")
    for cls in ROAD_ORDER:
        fill, _, _, widths = ROADS[cls]
        width = max(1, round(width_at(widths, z) * s))
        for line in road_lines.get(cls, []):
            draw.line(line, fill=fill, width=width, joint="curve")
    del covered
    return canvas.reduce(s)  # box-filter downsample: the anti-aliasing step, ~10x cheaper than LANCZOS


def _overlaps(chunk: Chunk, key: tuple[int, int]) -> bool:
    sx, sy = key
    f = 2 ** (chunk.z - SOURCE_ZOOM)
    x0, y0, x1, y1 = sx * f, sy * f, (sx + 1) * f, (sy + 1) * f
    return x0 < chunk.tx1 and x1 > chunk.tx0 and y0 < chunk.ty1 and y1 > chunk.ty0


# --------------------------------------------------------------------------- labels


@dataclass
class Label:
    text: str
    x: float  # global pixel at zoom z (centre)
    y: float
    angle: float  # degrees, counter-clockwise
    size: int
    bold: bool
    color: tuple
    box: tuple  # global px bbox (x0, y0, x1, y1)


def place_labels(z: int, sources: dict[tuple[int, int], Path]) -> list[Label]:
    """Choose the labels for zoom z over the whole area, most important first, no overlaps."""
    units = TILE * 2 ** (z - SOURCE_ZOOM)
    candidates: list[tuple[float, Label]] = []

    def glob_pt(sx, sy, p, extent=4096):
        return (sx * units + p[0] * units / extent, sy * units + p[1] * units / extent)

    for (sx, sy), path in sorted(sources.items()):
        layers = decode(str(path))
        for f in layers.get("place_label", {}).get("features", []):
            p = f["properties"]
            rank = p.get("localrank", 9) or 9
            kind = p.get("type", "")
            if z <= 12 and (rank > 1 or kind not in ("city", "town", "suburb", "neighbourhood")):
                continue
            if z == 13 and rank > 2:
                continue
            x, y = glob_pt(sx, sy, f["geometry"]["coordinates"])
            size = 13 if kind in ("city", "town") else (11 if z <= 13 else 12)
            candidates.append((0 + rank, _label(p.get("name_en") or p.get("name"), x, y, 0, size, True, (70, 70, 90))))
        if z >= 14:
            for f in layers.get("poi_label", {}).get("features", []):
                p = f["properties"]
                if (p.get("localrank", 9) or 9) > (1 if z == 14 else 3):
                    continue
                x, y = glob_pt(sx, sy, f["geometry"]["coordinates"])
                color = (60, 120, 60) if p.get("maki") == "park" else (110, 90, 80)
                candidates.append((10 + p.get("scalerank", 3), _label(p.get("name"), x, y, 0, 11, False, color)))
        if z >= 15:
            for f in layers.get("rail_station_label", {}).get("features", []):
                p = f["properties"]
                x, y = glob_pt(sx, sy, f["geometry"]["coordinates"])
                candidates.append((15, _label(p.get("name"), x, y, 0, 10, False, (90, 60, 140))))
        if z >= 14:
            for f in layers.get("road_label", {}).get("features", []):
                p = f["properties"]
                cls = p.get("class", "street")
                major = cls in ("motorway", "trunk", "primary", "secondary", "tertiary")
                if z == 14 and not major:
                    continue
                best = None
                for line in _lines(f["geometry"]):
                    pts = [glob_pt(sx, sy, q) for q in line]
                    for a, b in zip(pts, pts[1:], strict=False):
                        d = math.dist(a, b)
                        if best is None or d > best[0]:
                            best = (d, a, b)
                if best is None:
                    continue
                d, a, b = best
                name = p.get("name") or p.get("ref")
                if not name or d < 6 * len(name) * 0.8:
                    continue
                angle = -math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
                if angle > 90:
                    angle -= 180
                elif angle < -90:
                    angle += 180
                x, y = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
                prio = 20 + (0 if major else 10) - min(d / 100, 5)
                candidates.append((prio, _label(name, x, y, angle, 10 if z < 16 else 11, False, (60, 60, 60))))
    candidates.sort(key=lambda c: c[0])
    placed: list[Label] = []
    placed_names: dict[str, list[tuple[float, float]]] = {}
    for _, label in candidates:
        if label is None:
            continue
        if any(math.dist((label.x, label.y), q) < 350 for q in placed_names.get(label.text, [])):
            continue
        if any(_boxes_overlap(label.box, other.box) for other in placed):
            continue
        placed.append(label)
        placed_names.setdefault(label.text, []).append((label.x, label.y))
    return placed


def _label(text, x, y, angle, size, bold, color) -> Label | None:
    if not text:
        return None
    f = font(size, bold)
    x0, y0, x1, y1 = f.getbbox(text)
    w, h = x1 - x0 + 4, y1 - y0 + 4
    rad = math.radians(angle)
    bw = abs(w * math.cos(rad)) + abs(h * math.sin(rad))
    bh = abs(w * math.sin(rad)) + abs(h * math.cos(rad))
    return Label(text, x, y, angle, size, bold, color, (x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2))


def _boxes_overlap(a, b, pad: float = 3) -> bool:
    return a[0] - pad < b[2] and b[0] - pad < a[2] and a[1] - pad < b[3] and b[1] - pad < a[3]


def draw_labels(canvas: Image.Image, chunk: Chunk, labels: list[Label]) -> None:
    ox, oy = chunk.tx0 * TILE, chunk.ty0 * TILE
    cw, ch = canvas.size
    for label in labels:
        x0, y0, x1, y1 = label.box
        if x1 < ox or y1 < oy or x0 > ox + cw or y0 > oy + ch:
            continue
        f = font(label.size, label.bold)
        bx0, by0, bx1, by1 = f.getbbox(label.text, stroke_width=2)
        img = Image.new("RGBA", (bx1 - bx0 + 2, by1 - by0 + 2), (0, 0, 0, 0))
        ImageDraw.Draw(img).text(
            (1 - bx0, 1 - by0), label.text, font=f, fill=label.color + (255,),
            stroke_width=2, stroke_fill=(255, 255, 255, 230),
        )
        if label.angle:
            img = img.rotate(label.angle, resample=Image.Resampling.BICUBIC, expand=True)
        px = round(label.x - ox - img.width / 2)
        py = round(label.y - oy - img.height / 2)
        canvas.paste(img, (px, py), img)


# --------------------------------------------------------------------------- the build


def _chunks(z: int, sources: dict) -> list[Chunk]:
    xs = [x for x, _ in sources]
    ys = [y for _, y in sources]
    if z >= SOURCE_ZOOM:
        f = 2 ** (z - SOURCE_ZOOM)
        return [Chunk(z, sx * f, sy * f, (sx + 1) * f, (sy + 1) * f) for sx, sy in sorted(sources)]
    f = 2 ** (SOURCE_ZOOM - z)
    return [Chunk(z, min(xs) // f, min(ys) // f, max(xs) // f + 1, max(ys) // f + 1)]


def _render_chunk(args) -> list[tuple[int, int, int, bytes]]:
    chunk, sources, labels = args
    canvas = render_geometry(chunk, sources, set())
    draw_labels(canvas, chunk, labels)
    # one palette per chunk (cheaper than per tile, and neighbouring tiles share colours exactly)
    canvas = canvas.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    out = []
    for ty in range(chunk.ty0, chunk.ty1):
        for tx in range(chunk.tx0, chunk.tx1):
            left, top = (tx - chunk.tx0) * TILE, (ty - chunk.ty0) * TILE
            tile = canvas.crop((left, top, left + TILE, top + TILE))
            buf = io.BytesIO()
            # optimize: 6 % smaller tiles (0.65 MB of the installed app) for ~10 s once at setup
            tile.save(buf, "PNG", optimize=True)
            out.append((chunk.z, tx, ty, buf.getvalue()))
    return out


def build_basemap(node_modules: Path, target: Path, workers: int | None = None) -> int:
    """Render the Chicago demo basemap into `target` (an MBTiles file, replaced atomically). Returns tile count."""
    sources = source_tiles(node_modules)
    if not sources:
        raise FileNotFoundError(f"no Chicago fixtures under {fixture_dir(node_modules)} (run npm ci)")
    west, south, east, north = coverage_bounds(sources)
    jobs = []
    for z in range(MIN_ZOOM, MAX_ZOOM + 1):
        labels = place_labels(z, sources)
        jobs.extend((chunk, sources, labels) for chunk in _chunks(z, sources))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    conn = create_mbtiles(
        partial,
        {
            "name": "Chicago demo basemap",
            "format": "png",
            "type": "baselayer",
            "minzoom": str(MIN_ZOOM),
            "maxzoom": str(MAX_ZOOM),
            "bounds": f"{west:.6f},{south:.6f},{east:.6f},{north:.6f}",
            "center": f"{(west + east) / 2:.6f},{(south + north) / 2:.6f},13",
            "attribution": ATTRIBUTION,
            "description": "Rendered from @mapbox/mvt-fixtures real-world/chicago (Mapbox Streets v7, z13)",
        },
    )
    count = 0
    # Big chunks (z16) first so both workers stay busy to the end.
    jobs.sort(key=lambda j: -(j[0].tx1 - j[0].tx0) * (j[0].ty1 - j[0].ty0))
    try:
        with ProcessPoolExecutor(max_workers=workers or min(2, os.cpu_count() or 1)) as pool:
            for rows in pool.map(_render_chunk, jobs):
                write_tiles(conn, rows)
                count += len(rows)
        conn.commit()
    except (OSError, sqlite3.Error):
        conn.close()
        partial.unlink(missing_ok=True)
        raise
    conn.close()
    partial.replace(target)
    return count


def render_no_tiles_png() -> bytes:
    """The tile the app shows where nothing is cached or imported: a calm hatched grey with a short note."""
    img = Image.new("RGB", (256, 256), (229, 229, 229))
    draw = ImageDraw.Draw(img)
    for k in range(-256, 256, 24):
        draw.line([(k, 0), (k + 256, 256)], fill=(218, 218, 218), width=2)
    draw.rectangle([58, 116, 198, 140], fill=(245, 245, 245))
    draw.text((128, 128), "no map tiles here", fill=(110, 110, 110), anchor="mm")
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()
