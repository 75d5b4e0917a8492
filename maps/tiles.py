"""The one tile store: every map tile the page shows comes through here.

Lookup order for a tile z/x/y: the local cache (an MBTiles file inside the data directory, size-capped,
least-recently-used tiles evicted first), then imported MBTiles packages (read-only, never evicted), then
the agency XYZ tile server (fetched with httpx, validated, stored in the cache). A miss everywhere returns
None and the scheme handler answers with a "no map tiles here" tile, so the page never breaks offline.

No Qt in this module: it is plain blocking Python, called from worker threads by maps/scheme.py and from
the offline-download operation. One sqlite connection guarded by a lock serves all threads (tiles are small,
lookups take microseconds; the network fetch happens outside the lock).
"""

from __future__ import annotations

import logging
import math
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import mercantile
import sqlcipher3.dbapi2 as sqlcipher

log = logging.getLogger(__name__)

#: tiles kept in the cache before the least recently used unpinned ones are evicted
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
#: one "download this area" may not exceed this many tiles (about 300 MB of raster tiles)
MAX_DOWNLOAD_TILES = 20_000
#: used for the size estimate when nothing is cached yet (a typical 256 px raster street tile)
TYPICAL_TILE_BYTES = 18_000
#: after a connection failure the agency server is not asked again for this long (offline laptops)
OFFLINE_BACKOFF_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metadata (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS tiles (
    zoom_level INTEGER NOT NULL, tile_column INTEGER NOT NULL, tile_row INTEGER NOT NULL,
    tile_data BLOB NOT NULL,
    last_used REAL NOT NULL DEFAULT 0,
    pinned INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (zoom_level, tile_column, tile_row)
);
CREATE INDEX IF NOT EXISTS tiles_lru ON tiles (pinned, last_used);
"""


class TileStoreError(Exception):
    """A tile operation failed in a way the officer should read (bad file, cap exceeded, ...)."""


def image_kind(data: bytes) -> str | None:
    """'png', 'jpg' or 'webp' from the magic bytes; None for anything else (HTML error pages, JSON...)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if len(data) > 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def tms_row(z: int, y: int) -> int:
    """MBTiles stores rows bottom-up (TMS); XYZ counts top-down."""
    return (1 << z) - 1 - y


def valid_tile_address(z: int, x: int, y: int) -> bool:
    return 0 <= z <= 22 and 0 <= x < (1 << z) and 0 <= y < (1 << z)


# --------------------------------------------------------------------------- MBTiles files


def create_mbtiles(path: Path, metadata: dict[str, str]) -> sqlite3.Connection:
    """A new, empty MBTiles file (standard tables only) ready for write_tiles()."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE metadata (name TEXT, value TEXT);"
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);"
        "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);"
    )
    conn.executemany("INSERT INTO metadata VALUES (?, ?)", sorted(metadata.items()))
    return conn


def write_tiles(conn: sqlite3.Connection, tiles: Iterable[tuple[int, int, int, bytes]]) -> None:
    """(z, x, y-XYZ, data) rows into an MBTiles connection."""
    conn.executemany(
        "INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?)",
        ((z, x, tms_row(z, y), data) for z, x, y, data in tiles),
    )


@dataclass(frozen=True)
class MBTilesInfo:
    path: Path
    name: str
    tile_count: int
    min_zoom: int
    max_zoom: int
    bounds: tuple[float, float, float, float] | None  # west, south, east, north
    attribution: str


def inspect_mbtiles(path: Path) -> MBTilesInfo:
    """Validate an MBTiles file and describe it; raises TileStoreError with a readable reason."""
    path = Path(path)
    if not path.is_file():
        raise TileStoreError(f"{path.name}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise TileStoreError(f"{path.name} cannot be opened: {exc}") from exc
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            raise TileStoreError(f"{path.name} is damaged (sqlite quick_check: {check and check[0]})")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")}
        if not {"tiles", "metadata"} <= tables:
            raise TileStoreError(f"{path.name} is not an MBTiles file (needs 'tiles' and 'metadata' tables)")
        meta = dict(conn.execute("SELECT name, value FROM metadata").fetchall())
        count, zmin, zmax = conn.execute(
            "SELECT count(*), min(zoom_level), max(zoom_level) FROM tiles"
        ).fetchone()
        if not count:
            raise TileStoreError(f"{path.name} contains no tiles")
        sample = conn.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()[0]
        # (security helper) a TEXT or NULL tile_data is not an image either (found by the fuzz campaign)
        if not isinstance(sample, bytes | memoryview) or image_kind(bytes(sample)) is None:
            raise TileStoreError(
                f"{path.name} holds tiles that are not PNG/JPEG/WebP images (vector MBTiles are not supported)"
            )
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        # (security helper) UnicodeDecodeError: metadata TEXT that is not UTF-8 (found by the fuzz campaign)
        raise TileStoreError(f"{path.name} is not a readable MBTiles file: {exc}") from exc
    finally:
        conn.close()
    bounds = None
    try:
        parts = [float(v) for v in str(meta.get("bounds") or "").split(",")]
        if len(parts) == 4 and all(math.isfinite(p) for p in parts):
            bounds = (parts[0], parts[1], parts[2], parts[3])
    except ValueError:
        bounds = None
    # (security helper) NULL metadata values and non-integer zoom levels are refused or defaulted
    # instead of crashing (found by the fuzz campaign)
    if not all(isinstance(v, int) for v in (zmin, zmax)):
        raise TileStoreError(f"{path.name} has tiles with a zoom level that is not a whole number")
    return MBTilesInfo(
        path=path,
        name=str(meta.get("name") or path.stem),
        tile_count=int(count),
        min_zoom=int(zmin),
        max_zoom=int(zmax),
        bounds=bounds,
        attribution=str(meta.get("attribution") or ""),
    )


class _Package:
    """A read-only MBTiles file consulted after the cache (imported packages, the demo basemap)."""

    def __init__(self, info: MBTilesInfo) -> None:
        self.info = info
        self._conn = sqlite3.connect(f"file:{info.path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()

    def get(self, z: int, x: int, y: int) -> bytes | None:
        if not self.info.min_zoom <= z <= self.info.max_zoom:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                (z, x, tms_row(z, y)),
            ).fetchone()
        return bytes(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# --------------------------------------------------------------------------- offline download


@dataclass(frozen=True)
class DownloadPlan:
    bounds: tuple[float, float, float, float]  # south, west, north, east
    min_zoom: int
    max_zoom: int
    tile_count: int
    estimated_bytes: int


@dataclass(frozen=True)
class DownloadResult:
    fetched: int
    already_stored: int
    failed: int
    cancelled: bool


def tiles_in_bounds(bounds: tuple[float, float, float, float], min_zoom: int, max_zoom: int) -> Iterator:
    south, west, north, east = bounds
    return mercantile.tiles(west, south, east, north, range(min_zoom, max_zoom + 1))


def count_tiles(bounds: tuple[float, float, float, float], min_zoom: int, max_zoom: int) -> int:
    south, west, north, east = bounds
    total = 0
    for z in range(min_zoom, max_zoom + 1):
        ul = mercantile.tile(west, north, z)
        lr = mercantile.tile(east, south, z)
        total += (lr.x - ul.x + 1) * (lr.y - ul.y + 1)
    return total


# --------------------------------------------------------------------------- the cache file


def open_cache(path: Path, key: bytes | None):
    """The cache database. With `key` (the app always passes one: Store.cache_key) it is a SQLCipher
    file, because the areas an officer looked at are location metadata about the caseload; without
    it (tests, the map demo) plain SQLite. A cache that does not open with the key (plaintext from an
    older version, or damaged) is discarded and started afresh: it only ever holds copies."""
    if key is None:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        return conn
    for attempt in (1, 2):
        conn = sqlcipher.connect(str(path), check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA cipher_log_level = NONE")
            conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            return conn
        except sqlcipher.DatabaseError as exc:
            conn.close()
            if attempt == 2:
                raise TileStoreError(f"the tile cache {path} cannot be created: {exc}") from exc
            log.warning("map tiles: cache %s is unreadable with this workstation's key (%s); starting afresh",
                        path.name, exc)
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- the store


class TileStore:
    """Cache + packages + agency server. Thread-safe; every method may block (call off the GUI thread)."""

    def __init__(
        self,
        cache_path: Path,
        *,
        tile_url: str | None = None,
        packages: Iterable[Path] = (),
        max_cache_bytes: int = DEFAULT_CACHE_BYTES,
        client: httpx.Client | None = None,
        attribution: str = "",
        cache_key: bytes | None = None,
    ) -> None:
        if tile_url is not None and not all(k in tile_url for k in ("{z}", "{x}", "{y}")):
            raise TileStoreError(f"tile URL must contain {{z}}, {{x}} and {{y}}: {tile_url!r}")
        if tile_url is not None and urlsplit(tile_url).scheme not in ("http", "https"):
            raise TileStoreError(f"tile URL must be http(s): {tile_url!r}")
        self.cache_path = Path(cache_path)
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        self.tile_url = tile_url
        self.max_cache_bytes = max_cache_bytes
        self._attribution = attribution
        self._lock = threading.Lock()
        self._conn = open_cache(self.cache_path, cache_key)
        self._cache_bytes, self._cache_tiles = self._conn.execute(
            "SELECT coalesce(sum(length(tile_data)), 0), count(*) FROM tiles WHERE pinned=0"
        ).fetchone()
        self._owns_client = client is None and tile_url is not None
        self._client = client if client is not None else (
            httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0), follow_redirects=False)
            if tile_url is not None
            else None
        )
        self._offline_until = 0.0
        self._packages: list[_Package] = []
        #: packages that could not be used, with the reason (shown to the officer; the map works without them)
        self.package_errors: list[str] = []
        for package in packages:
            try:
                self.add_package(package)
            except TileStoreError as exc:
                log.warning("map tiles: package skipped: %s", exc)
                self.package_errors.append(str(exc))

    @classmethod
    def for_data_dir(cls, data_dir: Path, *, tile_url: str | None = None, **kwargs) -> TileStore:
        """The app's store: cache and imported packages under data_dir/tiles, plus the bundled demo
        basemap when it was built (python -m maps.build_assets)."""
        from workstation.resources import resource_path

        tiles_dir = Path(data_dir) / "tiles"
        packages: list[Path] = sorted((tiles_dir / "packages").glob("*.mbtiles"))
        basemap = resource_path("maps", "assets", "basemap", "chicago.mbtiles")
        if basemap.exists():
            packages.append(basemap)
        return cls(tiles_dir / "cache.mbtiles", tile_url=tile_url, packages=packages, **kwargs)

    # ---- description -----------------------------------------------------------------

    @property
    def agency_host(self) -> str | None:
        """The only non-app host the web view may contact (the request interceptor's allowlist)."""
        return urlsplit(self.tile_url).hostname if self.tile_url else None

    @property
    def attribution(self) -> str:
        parts = [self._attribution] + [p.info.attribution for p in self._packages]
        return " | ".join(dict.fromkeys(p for p in parts if p))

    @property
    def zoom_range(self) -> tuple[int, int]:
        if self.tile_url:
            return (0, 19)
        if not self._packages:
            return (0, 19)
        return (min(p.info.min_zoom for p in self._packages), max(p.info.max_zoom for p in self._packages))

    def packages(self) -> list[MBTilesInfo]:
        return [p.info for p in self._packages]

    def cache_bytes(self) -> int:
        with self._lock:
            return self._cache_bytes

    # ---- lookup ----------------------------------------------------------------------

    def get_tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile image bytes, or None when nobody has it (the caller shows 'no map tiles here')."""
        if not valid_tile_address(z, x, y):
            return None
        data = self._cached(z, x, y)
        if data is not None:
            return data
        for package in self._packages:
            data = package.get(z, x, y)
            if data is not None:
                return data
        data = self.fetch(z, x, y)
        if data is not None:
            self._store(z, x, y, data, pinned=False)
        return data

    def _cached(self, z: int, x: int, y: int) -> bytes | None:
        key = (z, x, tms_row(z, y))
        with self._lock:
            row = self._conn.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?", key
            ).fetchone()
            if row is None:
                return None
            self._conn.execute(
                "UPDATE tiles SET last_used=? WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                (time.time(), *key),
            )
        return bytes(row[0])

    def fetch(self, z: int, x: int, y: int) -> bytes | None:
        """One tile from the agency server; None (and a log line) for errors, HTML or non-images."""
        if self._client is None or self.tile_url is None:
            return None
        if time.monotonic() < self._offline_until:
            return None
        url = self.tile_url.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
        try:
            response = self._client.get(url)
        except httpx.TransportError as exc:
            log.info("tile server unreachable (%s); offline for %.0f s", exc.__class__.__name__, OFFLINE_BACKOFF_S)
            self._offline_until = time.monotonic() + OFFLINE_BACKOFF_S
            return None
        if response.status_code != 200:
            log.warning("tile %s/%s/%s: server answered HTTP %s; not cached", z, x, y, response.status_code)
            return None
        data = response.content
        if image_kind(data) is None:
            log.warning(
                "tile %s/%s/%s: server answered %s (%d bytes), not an image; not cached",
                z, x, y, response.headers.get("content-type", "no content-type"), len(data),
            )
            return None
        return data

    # ---- cache maintenance -------------------------------------------------------------

    def _store(self, z: int, x: int, y: int, data: bytes, *, pinned: bool) -> None:
        key = (z, x, tms_row(z, y))
        with self._lock:
            old = self._conn.execute(
                "SELECT length(tile_data), pinned FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                key,
            ).fetchone()
            keep_pinned = pinned or bool(old and old[1])
            self._conn.execute(
                "INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?, ?, ?)",
                (*key, data, time.time(), int(keep_pinned)),
            )
            if old and not old[1]:
                self._cache_bytes -= old[0]
                self._cache_tiles -= 1
            if not keep_pinned:
                self._cache_bytes += len(data)
                self._cache_tiles += 1
            self._evict_locked()

    def _evict_locked(self) -> None:
        if self._cache_bytes <= self.max_cache_bytes:
            return
        # Evict down to 90 % of the cap so that a full cache does not evict on every single store.
        target = int(self.max_cache_bytes * 0.9)
        rows = self._conn.execute(
            "SELECT zoom_level, tile_column, tile_row, length(tile_data) FROM tiles "
            "WHERE pinned=0 ORDER BY last_used"
        )
        doomed = []
        for z, x, row, size in rows:
            if self._cache_bytes <= target:
                break
            doomed.append((z, x, row))
            self._cache_bytes -= size
            self._cache_tiles -= 1
        self._conn.executemany(
            "DELETE FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?", doomed
        )
        log.info("tile cache over its cap: evicted %d least recently used tiles", len(doomed))

    # ---- imported packages ----------------------------------------------------------------

    def add_package(self, path: Path) -> MBTilesInfo:
        """Consult an MBTiles file in place (validated first; the file is not copied)."""
        info = inspect_mbtiles(Path(path))
        self._packages.append(_Package(info))
        return info

    def import_mbtiles(self, source: Path, packages_dir: Path | None = None) -> MBTilesInfo:
        """Validate `source`, copy it into the data directory and start using it.

        Any problem raises TileStoreError before anything changed (the copy lands under a temporary
        name and is renamed into place only after it validated).
        """
        info = inspect_mbtiles(Path(source))
        target_dir = packages_dir or self.cache_path.parent / "packages"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{Path(source).stem}-{uuid.uuid4().hex[:8]}.mbtiles"
        partial = target.with_suffix(".partial")
        try:
            shutil.copyfile(source, partial)
            copied = inspect_mbtiles(partial)
            partial.replace(target)
        except (OSError, TileStoreError):
            partial.unlink(missing_ok=True)
            raise
        log.info("imported %s: %d tiles, z%d-%d", info.name, info.tile_count, info.min_zoom, info.max_zoom)
        package = _Package(MBTilesInfo(**{**copied.__dict__, "path": target}))
        self._packages.append(package)
        return package.info

    # ---- download this area ----------------------------------------------------------------

    def plan_download(
        self, bounds: tuple[float, float, float, float], min_zoom: int, max_zoom: int
    ) -> DownloadPlan:
        """Tile count and size estimate for bounds (south, west, north, east); raises over the cap.

        Pure arithmetic plus in-memory counters (no disk, no network): safe to call from the GUI thread.
        """
        south, west, north, east = bounds
        if not (-85.06 <= south < north <= 85.06 and -180 <= west < east <= 180):
            raise TileStoreError(f"not a valid area: {bounds}")
        if not 0 <= min_zoom <= max_zoom <= 19:
            raise TileStoreError(f"not a valid zoom range: {min_zoom}-{max_zoom}")
        if self.tile_url is None:
            raise TileStoreError("no agency tile server is configured; import an MBTiles file instead")
        count = count_tiles(bounds, min_zoom, max_zoom)
        with self._lock:
            n, total = self._cache_tiles, self._cache_bytes
        per_tile = total // n if n else TYPICAL_TILE_BYTES
        plan = DownloadPlan(bounds, min_zoom, max_zoom, count, count * per_tile)
        if count > MAX_DOWNLOAD_TILES:
            raise TileStoreError(
                f"that area needs {count:,} tiles (about {plan.estimated_bytes / 1e6:,.0f} MB); the limit is "
                f"{MAX_DOWNLOAD_TILES:,}. Zoom in or lower the maximum zoom."
            )
        return plan

    def download(
        self,
        plan: DownloadPlan,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> DownloadResult:
        """Fetch every tile of the plan into the cache, pinned (never evicted). Blocking; call off the GUI thread."""
        fetched = stored = failed = done = 0
        for tile in tiles_in_bounds(plan.bounds, plan.min_zoom, plan.max_zoom):
            if cancel is not None and cancel.is_set():
                return DownloadResult(fetched, stored, failed, cancelled=True)
            z, x, y = tile.z, tile.x, tile.y
            existing = self._cached(z, x, y)
            if existing is not None:
                self._store(z, x, y, existing, pinned=True)
                stored += 1
            else:
                data = self.fetch(z, x, y)
                if data is None:
                    failed += 1
                else:
                    self._store(z, x, y, data, pinned=True)
                    fetched += 1
            done += 1
            if progress is not None:
                progress(done, plan.tile_count)
        return DownloadResult(fetched, stored, failed, cancelled=False)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        for package in self._packages:
            package.close()
        if self._owns_client and self._client is not None:
            self._client.close()
