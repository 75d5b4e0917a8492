"""A participant's track and zones drawn as a PNG from the tile store, offline (the evidence packet's map).

Only tiles already on the laptop are used (the cache, imported MBTiles, the bundled basemap); the
agency tile server is never asked, so the map is the same with the network cut and draws no
request anybody could observe. The zoom is the largest at which the whole track and its zones fit;
when the laptop holds no tiles there, lower zooms are tried, and when it holds none at all the track
is drawn on a plain grid and the caption says so.

Plain data in, PNG bytes out (no Qt, nothing of workstation/ but what import contracts allow): the
core's report generator receives `render` as a callable from whoever may import both (the launcher,
the GUI).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

TILE = 256
TileGetter = Callable[[int, int, int], bytes | None]

TRACK_COLOUR = (200, 30, 45)
ZONE_COLOURS = {"exclusion": (200, 30, 45), "inclusion": (20, 110, 60)}
MARGIN_PX = 40


def _world_px(lat: float, lon: float, z: int) -> tuple[float, float]:
    scale = TILE * (1 << z)
    lat = max(min(lat, 85.05112878), -85.05112878)
    x = (lon + 180.0) / 360.0 * scale
    s = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * scale
    return x, y


def _metres_per_px(lat: float, z: int) -> float:
    return 156543.03392 * math.cos(math.radians(lat)) / (1 << z)


def _zone_points(zone: dict[str, Any]) -> list[tuple[float, float]]:
    if zone.get("shape") == "circle" and zone.get("center_lat") is not None:
        lat, lon, r = float(zone["center_lat"]), float(zone["center_lon"]), float(zone.get("radius_m") or 0)
        dlat = r / 111_320.0
        dlon = r / (111_320.0 * max(math.cos(math.radians(lat)), 1e-6))
        return [(lat - dlat, lon - dlon), (lat + dlat, lon + dlon)]
    return [(float(a), float(b)) for a, b in zone.get("polygon") or []]


def fit_zoom(points: Sequence[tuple[float, float]], width: int, height: int, max_zoom: int = 17) -> int:
    for z in range(max_zoom, -1, -1):
        xs, ys = zip(*(_world_px(lat, lon, z) for lat, lon in points), strict=True)
        if max(xs) - min(xs) <= width - 2 * MARGIN_PX and max(ys) - min(ys) <= height - 2 * MARGIN_PX:
            return z
    return 0


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def render(
    get_tile: TileGetter,
    track: Sequence[tuple[float, float]],
    zones: Sequence[dict[str, Any]],
    *,
    width: int = 1400,
    height: int = 868,
    attribution: str = "",
    max_zoom: int = 17,
) -> tuple[bytes, str]:
    """(PNG bytes, caption). `track` is [(lat, lon)] in time order; zones are the store's zone records."""
    points = list(track) + [pt for zone in zones for pt in _zone_points(zone)]
    if not points:
        raise ValueError("nothing to draw")
    best = fit_zoom(points, width, height, max_zoom)
    zoom, tiles, held, needed = best, {}, 0, 0
    for z in range(best, max(best - 5, -1), -1):
        tiles, held, needed = _fetch(get_tile, points, z, width, height)
        if held and held >= needed / 2:
            zoom = z
            break
    else:
        zoom = best
        tiles, held, needed = _fetch(get_tile, points, zoom, width, height)
    origin = _origin(points, zoom, width, height)
    canvas = Image.new("RGB", (width, height), (236, 236, 232))
    _paste_tiles(canvas, tiles, origin)
    if not held:
        _grid(canvas)
    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)

    def px(lat: float, lon: float) -> tuple[float, float]:
        x, y = _world_px(lat, lon, zoom)
        return x - origin[0], y - origin[1]

    for zone in zones:
        colour = ZONE_COLOURS.get(str(zone.get("kind")), (40, 80, 160))
        if zone.get("shape") == "circle" and zone.get("center_lat") is not None:
            cx, cy = px(float(zone["center_lat"]), float(zone["center_lon"]))
            r = float(zone.get("radius_m") or 0) / _metres_per_px(float(zone["center_lat"]), zoom)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*colour, 40), outline=(*colour, 220), width=3)
            label_at = (cx, cy - r)
        else:
            ring = [px(float(a), float(b)) for a, b in zone.get("polygon") or []]
            if len(ring) < 3:
                continue
            draw.polygon(ring, fill=(*colour, 40), outline=(*colour, 220), width=3)
            label_at = ring[0]
        draw.text((label_at[0] + 4, label_at[1] + 2), str(zone.get("name") or ""), fill=(*colour, 255), font=_font(18))
    line = [px(lat, lon) for lat, lon in track]
    if len(line) > 1:
        draw.line(line, fill=(*TRACK_COLOUR, 235), width=3, joint="curve")
    step = max(1, len(line) // 400)  # dots for the fixes, thinned so a week does not turn into a smear
    for x, y in line[::step]:
        draw.ellipse((x - 2.5, y - 2.5, x + 2.5, y + 2.5), fill=(*TRACK_COLOUR, 255))
    for (x, y), colour, label in ((line[0], (20, 130, 60), "start"), (line[-1], (30, 30, 30), "end")) if line else ():
        draw.ellipse((x - 8, y - 8, x + 8, y + 8), fill=(*colour, 255), outline=(255, 255, 255, 255), width=2)
        draw.text((x + 10, y - 10), label, fill=(*colour, 255), font=_font(18), stroke_width=2, stroke_fill=(255, 255, 255, 255))
    _scale_bar(draw, points, zoom, height)
    if attribution:
        draw.rectangle((width - 8 - 9 * len(attribution), height - 26, width, height), fill=(255, 255, 255, 190))
        draw.text((width - 4 - 9 * len(attribution), height - 22), attribution, fill=(60, 60, 60, 255), font=_font(14))
    canvas = Image.alpha_composite(canvas.convert("RGBA"), overlay).convert("RGB")
    out = io.BytesIO()
    canvas.save(out, "PNG", optimize=False)
    if held == 0:
        tiles_text = "no map tiles for this area are held on this laptop: the track is drawn on a plain grid"
    elif held < needed:
        tiles_text = f"{held} of {needed} map tiles held on this laptop (grey where missing)"
    else:
        tiles_text = f"all {needed} map tiles held on this laptop"
    caption = (f"{len(track):,} positions (start green, end black) and {len(zones)} zones; zoom {zoom}; {tiles_text}; "
               "drawn offline from the workstation's tile store.")
    return out.getvalue(), caption


def _origin(points: Sequence[tuple[float, float]], z: int, width: int, height: int) -> tuple[float, float]:
    xs, ys = zip(*(_world_px(lat, lon, z) for lat, lon in points), strict=True)
    return (min(xs) + max(xs)) / 2 - width / 2, (min(ys) + max(ys)) / 2 - height / 2


def _fetch(get_tile: TileGetter, points: Sequence[tuple[float, float]], z: int, width: int, height: int):
    ox, oy = _origin(points, z, width, height)
    n = 1 << z
    tiles: dict[tuple[int, int], bytes] = {}
    needed = 0
    for ty in range(max(int(oy // TILE), 0), min(int((oy + height) // TILE), n - 1) + 1):
        for tx in range(int(ox // TILE), int((ox + width) // TILE) + 1):
            needed += 1
            data = get_tile(z, tx % n, ty)
            if data is not None:
                tiles[(tx, ty)] = data
    return tiles, len(tiles), needed


def _paste_tiles(canvas: Image.Image, tiles: dict[tuple[int, int], bytes], origin: tuple[float, float]) -> None:
    for (tx, ty), data in tiles.items():
        try:
            with Image.open(io.BytesIO(data)) as tile:
                canvas.paste(tile.convert("RGB"), (round(tx * TILE - origin[0]), round(ty * TILE - origin[1])))
        except OSError:
            continue  # an unreadable tile stays grey like a missing one


def _grid(canvas: Image.Image) -> None:
    draw = ImageDraw.Draw(canvas)
    for x in range(0, canvas.width, 64):
        draw.line((x, 0, x, canvas.height), fill=(215, 215, 210))
    for y in range(0, canvas.height, 64):
        draw.line((0, y, canvas.width, y), fill=(215, 215, 210))


def _scale_bar(draw: ImageDraw.ImageDraw, points: Sequence[tuple[float, float]], z: int, height: int) -> None:
    lat = sum(p[0] for p in points) / len(points)
    mpp = _metres_per_px(lat, z)
    target = mpp * 200
    nice = next(v for v in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 10**6) if v >= target / 2)
    length = nice / mpp
    x0, y0 = 20, height - 30
    draw.rectangle((x0 - 6, y0 - 22, x0 + length + 60, y0 + 10), fill=(255, 255, 255, 200))
    draw.line((x0, y0, x0 + length, y0), fill=(30, 30, 30, 255), width=3)
    for x in (x0, x0 + length):
        draw.line((x, y0 - 6, x, y0 + 4), fill=(30, 30, 30, 255), width=2)
    draw.text((x0, y0 - 22), f"{nice / 1000:g} km" if nice >= 1000 else f"{nice} m", fill=(30, 30, 30, 255), font=_font(15))


class OfflineTrackMaps:
    """The renderer the report generator calls: the data dir's tile store, read-only use, never the network."""

    def __init__(self, data_dir: Path, cache_key: bytes | None) -> None:
        from maps.tiles import TileStore

        # the same packages in the same order as the map (maps/packages.py), never the network
        self.tiles = TileStore.for_data_dir(Path(data_dir), tile_url=None, cache_key=cache_key)

    def __call__(self, track: Sequence[tuple[float, float]], zones: Sequence[dict[str, Any]]) -> tuple[bytes, str]:
        return render(self.tiles.get_tile, track, zones, attribution=self.tiles.attribution)

    def close(self) -> None:
        self.tiles.close()
