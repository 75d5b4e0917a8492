"""The one tile store: every map tile the page shows comes through here.

Lookup order for a tile z/x/y: the offline map packages in their priority order (maps/packages.py: newest
import first, agency-preloaded ones after; read-only, never evicted), then the local cache (an MBTiles file
inside the data directory, size-capped, least-recently-used tiles evicted first), then the agency XYZ tile
server (fetched with httpx, validated, stored in the cache), and last the bundled demo basemap. A miss
everywhere returns None and the scheme handler answers with a "no map tiles here" tile, so the page never
breaks offline. Reading MBTiles files safely is maps/mbtiles.py's job.

No Qt in this module: it is plain blocking Python, called from worker threads by maps/scheme.py and from
the offline-download operation. One sqlite connection guarded by a lock serves all threads (tiles are small,
lookups take microseconds; the network fetch happens outside the lock).
"""

from __future__ import annotations

import logging
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

from maps.mbtiles import (  # noqa: F401 (re-exported: the tile store's callers know these names from here)
    MBTilesInfo,
    MBTilesReader,
    TileStoreError,
    create_mbtiles,
    image_kind,
    import_package,
    inspect_mbtiles,
    tms_row,
    valid_tile_address,
    vector_tile_bytes,
    write_tiles,
)
from maps.packages import BUNDLED, PackageEntry, PackageRegistry

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


@dataclass(frozen=True)
class PackageView:
    """One package as the Offline maps dialog and `workstation maps list` show it."""

    entry: PackageEntry
    info: MBTilesInfo | None  # None: the file could not be opened (see error)
    error: str = ""


#: what the page's raster layer gets where a vector package supplies the map (the vector layer
#: underneath shows through): a fully transparent 1x1 PNG, which Leaflet stretches to the tile
TRANSPARENT_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


class TileStore:
    """Packages + cache + agency server + bundled basemap. Thread-safe; every method may block (call
    off the GUI thread).

    Lookup order for z/x/y, first hit wins: the registry's packages in their order (newest import first,
    then agency-preloaded ones, as the officer arranged them), packages passed in `packages`, the cache,
    the agency tile server, and last the bundled demo basemap (`basemap`)."""

    def __init__(
        self,
        cache_path: Path | None,
        *,
        tile_url: str | None = None,
        packages: Iterable[Path] = (),
        registry: PackageRegistry | None = None,
        basemap: Path | None = None,
        max_cache_bytes: int = DEFAULT_CACHE_BYTES,
        client: httpx.Client | None = None,
        attribution: str = "",
        cache_key: bytes | None = None,
    ) -> None:
        if tile_url is not None and not all(k in tile_url for k in ("{z}", "{x}", "{y}")):
            raise TileStoreError(f"tile URL must contain {{z}}, {{x}} and {{y}}: {tile_url!r}")
        if tile_url is not None and urlsplit(tile_url).scheme not in ("http", "https"):
            raise TileStoreError(f"tile URL must be http(s): {tile_url!r}")
        # cache_path None: no cache (the command line, which has no session key to open it with)
        self.cache_path = Path(cache_path) if cache_path is not None else None
        if self.cache_path is not None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        self.tile_url = tile_url
        self.max_cache_bytes = max_cache_bytes
        self.registry = registry
        self._attribution = attribution
        self._lock = threading.Lock()
        #: the encrypted cache; None without one, and while the workstation is locked (close_cache)
        self._conn: sqlite3.Connection | None = (
            open_cache(self.cache_path, cache_key) if self.cache_path is not None else None
        )
        self._cache_bytes, self._cache_tiles = self._conn.execute(
            "SELECT coalesce(sum(length(tile_data)), 0), count(*) FROM tiles WHERE pinned=0"
        ).fetchone() if self._conn is not None else (0, 0)
        self._owns_client = client is None and tile_url is not None
        self._client = client if client is not None else (
            httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0), follow_redirects=False)
            if tile_url is not None
            else None
        )
        self._offline_until = 0.0
        #: open packages in priority order; replaced whole (never mutated) so lookups iterate a snapshot
        self._packages: tuple[MBTilesReader, ...] = ()
        self._views: tuple[PackageView, ...] = ()
        self._basemap: MBTilesReader | None = None
        #: packages that could not be used, with the reason (shown to the officer; the map works without them)
        self.package_errors: list[str] = list(registry.problems) if registry else []
        entries = (registry.entries() if registry else []) + [PackageEntry(Path(p), "given") for p in packages]
        self._open_entries(entries)
        if basemap is not None and Path(basemap).exists():
            try:
                self._basemap = MBTilesReader(inspect_mbtiles(basemap))
            except TileStoreError as exc:
                log.warning("map tiles: bundled basemap skipped: %s", exc)

    def _open_entries(self, entries: list[PackageEntry]) -> None:
        opened = {reader.info.path: reader for reader in self._packages}
        readers, views = [], []
        for entry in entries:
            reader = opened.pop(entry.path, None)
            if reader is None:
                try:
                    reader = MBTilesReader(inspect_mbtiles(entry.path))
                except TileStoreError as exc:
                    log.warning("map tiles: package skipped: %s", exc)
                    self.package_errors.append(str(exc))
                    views.append(PackageView(entry, None, str(exc)))
                    continue
            readers.append(reader)
            views.append(PackageView(entry, reader.info))
        self._packages, self._views = tuple(readers), tuple(views)
        for reader in opened.values():
            reader.close()

    @classmethod
    def for_data_dir(cls, data_dir: Path, *, tile_url: str | None = None, preloaded: Iterable[Path] | None = None,
                     **kwargs) -> TileStore:
        """The app's store: the cache, the package registry of data_dir (imported and agency-preloaded
        packages), and the bundled demo basemap when it was built (python -m maps.build_assets)."""
        from maps.asset_paths import basemap_path

        data_dir = Path(data_dir)
        registry = PackageRegistry(data_dir, preloaded)
        return cls(data_dir / "tile-cache.mbtiles", tile_url=tile_url, registry=registry,
                   basemap=basemap_path(), **kwargs)

    # ---- description -----------------------------------------------------------------

    @property
    def agency_host(self) -> str | None:
        """The only non-app host the web view may contact (the request interceptor's allowlist)."""
        return urlsplit(self.tile_url).hostname if self.tile_url else None

    def _all_readers(self) -> tuple[MBTilesReader, ...]:
        return self._packages + ((self._basemap,) if self._basemap else ())

    @property
    def attribution(self) -> str:
        parts = [self._attribution] + [p.info.attribution for p in self._all_readers()]
        return " | ".join(dict.fromkeys(p for p in parts if p))

    @property
    def zoom_range(self) -> tuple[int, int]:
        """Native zooms of the image tiles (vector packages: vector_zoom_range)."""
        readers = [r for r in self._all_readers() if not r.info.is_vector]
        if self.tile_url or not readers:
            return (0, 19)
        return (min(p.info.min_zoom for p in readers), max(p.info.max_zoom for p in readers))

    def packages(self) -> list[MBTilesInfo]:
        """The open packages, in priority order (the bundled basemap last)."""
        return [p.info for p in self._all_readers()]

    def package_views(self) -> list[PackageView]:
        """Every package of the registry (and those passed in) in priority order, with the bundled
        basemap last; unreadable ones carry their error."""
        bundled = [PackageView(PackageEntry(self._basemap.info.path, BUNDLED), self._basemap.info)] if self._basemap else []
        return list(self._views) + bundled

    def cache_bytes(self) -> int:
        with self._lock:
            return self._cache_bytes

    # ---- lookup ----------------------------------------------------------------------

    def get_tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile bytes (image, or vector tile as stored) the map shows at z/x/y after priorities, or
        None when nobody has it (the caller shows 'no map tiles here')."""
        found = self.lookup(z, x, y)
        return found[0] if found else None

    def lookup(self, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        """(tile bytes, where they came from: a package's file name, 'cache' or 'server')."""
        if not valid_tile_address(z, x, y):
            return None
        for package in self._packages:
            data = package.get(z, x, y)
            if data is not None:
                return data, package.info.path.name
        data = self._cached(z, x, y)
        if data is not None:
            return data, "cache"
        data = self.fetch(z, x, y)
        if data is not None:
            self._store(z, x, y, data, pinned=False)
            return data, "server"
        data = self._basemap.get(z, x, y) if self._basemap else None
        return (data, self._basemap.info.path.name) if data is not None and self._basemap else None

    # ---- the page's two layers: raster images and vector tiles -------------------------------

    @property
    def vector_zoom_range(self) -> tuple[int, int] | None:
        """(min, max) native zoom of the vector packages, None without any (the page adds no vector layer)."""
        vector = [p.info for p in self._packages if p.info.is_vector]
        if not vector:
            return None
        return (min(i.min_zoom for i in vector), max(i.max_zoom for i in vector))

    def _top_package(self, z: int, x: int, y: int) -> tuple[MBTilesReader, bytes] | None:
        """The highest-priority package with data for z/x/y; a vector package also covers zooms past its
        own maximum (the page overzooms its tiles), so its tile there is the ancestor's."""
        for package in self._packages:
            info = package.info
            if info.is_vector and z > info.max_zoom:
                shift = z - info.max_zoom
                data = package.get(info.max_zoom, x >> shift, y >> shift)
            else:
                data = package.get(z, x, y)
            if data is not None:
                return package, data
        return None

    def raster_tile(self, z: int, x: int, y: int) -> bytes | None:
        """What the page's image layer shows at z/x/y: TRANSPARENT_PNG where a vector package has the
        higher priority (the vector layer underneath draws it), else as get_tile()."""
        if not valid_tile_address(z, x, y):
            return None
        top = self._top_package(z, x, y)
        if top is not None:
            return TRANSPARENT_PNG if top[0].info.is_vector else top[1]
        return self.get_tile(z, x, y)

    def vector_tile(self, z: int, x: int, y: int) -> bytes:
        """The inflated Mapbox Vector Tile the page's vector layer draws at z/x/y (a vector package's
        native zooms only); empty where no vector package has the highest priority there."""
        if not valid_tile_address(z, x, y):
            return b""
        top = self._top_package(z, x, y)
        if top is None or not top[0].info.is_vector or z > top[0].info.max_zoom:
            return b""
        return vector_tile_bytes(top[1]) or b""

    def _cached(self, z: int, x: int, y: int) -> bytes | None:
        if self._conn is None:
            return None
        key = (z, x, tms_row(z, y))
        with self._lock:
            if self._conn is None:
                return None
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
        if self._conn is None:
            return
        key = (z, x, tms_row(z, y))
        with self._lock:
            if self._conn is None:
                return  # locked: nothing is cached
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

    # ---- packages ---------------------------------------------------------------------------

    def add_package(self, path: Path) -> MBTilesInfo:
        """Consult an MBTiles file in place, after the others (checked first; the file is not copied)."""
        reader = MBTilesReader(inspect_mbtiles(Path(path)))
        self._packages += (reader,)
        self._views += (PackageView(PackageEntry(reader.info.path, "given"), reader.info),)
        return reader.info

    def import_mbtiles(
        self,
        source: Path,
        packages_dir: Path | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> MBTilesInfo:
        """Check every tile of `source`, write a clean copy into the packages directory and put it
        first (the newest import wins where packages overlap); registered, so it is there after a
        restart. Any problem raises TileStoreError and leaves nothing behind."""
        if packages_dir is None and self.registry is None and self.cache_path is None:
            raise TileStoreError("this tile store has nowhere to keep imported packages")
        target_dir = Path(packages_dir) if packages_dir else (
            self.registry.packages_dir if self.registry else self.cache_path.parent / "packages"  # type: ignore[union-attr]
        )
        target_dir.mkdir(parents=True, exist_ok=True)
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(source).stem)[:60] or "package"
        target = target_dir / f"{stem}-{uuid.uuid4().hex[:8]}.mbtiles"
        info = import_package(Path(source), target, progress=progress, cancel=cancel)
        try:
            reader = MBTilesReader(info)
            if self.registry is not None and target_dir == self.registry.packages_dir:
                self.registry.add_imported(target)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        entry = self.registry.find(target.name) if self.registry and target_dir == self.registry.packages_dir \
            else PackageEntry(target, "given")
        self._packages = (reader,) + self._packages
        self._views = (PackageView(entry, info),) + self._views
        return info

    def remove_package(self, path: Path) -> None:
        """Remove an imported package (its copy is deleted); preloaded ones raise RegistryError."""
        if self.registry is None:
            raise TileStoreError("this tile store has no package registry")
        self.registry.remove(Path(path))
        self._open_entries(self._current_entries())

    def move_package(self, path: Path, offset: int) -> None:
        """Raise (offset < 0) or lower a package's priority."""
        if self.registry is None:
            raise TileStoreError("this tile store has no package registry")
        self.registry.move(Path(path), offset)
        self._open_entries(self._current_entries())

    def _current_entries(self) -> list[PackageEntry]:
        given = [v.entry for v in self._views if v.entry.origin == "given"]
        return (self.registry.entries() if self.registry else []) + given

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

    def close_cache(self) -> None:
        """The workstation locks: close the encrypted cache, so its key leaves memory with the
        connection. Until reopen_cache, tiles come from the packages and the server, uncached."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def reopen_cache(self, cache_key: bytes | None) -> None:
        """After unlock: the cache again, with the key of the re-opened store."""
        with self._lock:
            if self._conn is None and self.cache_path is not None:
                self._conn = open_cache(self.cache_path, cache_key)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
        for package in self._all_readers():
            package.close()
        if self._owns_client and self._client is not None:
            self._client.close()
