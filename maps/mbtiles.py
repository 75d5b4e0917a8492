"""MBTiles files: reading them safely, checking them, and making the app's own clean copy on import.

An MBTiles file is an SQLite database written by someone else, so it is treated as hostile:

- it is opened read-only through a URI built by pathlib (a `#` or `?` in the file name is a literal
  character, not the start of a fragment or of URI parameters), with `PRAGMA trusted_schema=OFF`, so
  nothing the schema declares can call an application-defined or otherwise unsafe SQL function;
- its schema must be one of the known layouts: a plain `tiles` table, or the deduplicated `map` +
  `images` tables (mbutil, TileMill) or `tiles_shallow` + `tiles_data` (Planetiler), each with an
  optional `tiles` view that is never queried (we join the tables ourselves). Any other view, any
  trigger or any virtual table is refused: a view can return anything, or run forever;
- every tile read is capped in size (`length()` is read before the blob) and checked to be the
  package's format (PNG/JPEG/WebP, or gzip-compressed Mapbox Vector Tile);
- every query runs under a deadline enforced by SQLite's progress handler.

No Qt here: plain blocking Python, called from worker threads and the command line.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: one tile may not be bigger than this (a 512 px satellite JPEG is ~150 KB, Planetiler caps vector
#: tiles at 500 KB); a bigger blob is a broken or hostile file, never loaded
MAX_TILE_BYTES = 2 * 1024 * 1024
#: a vector tile may not inflate beyond this (gzip bombs)
MAX_VECTOR_TILE_BYTES = 8 * 1024 * 1024
#: one import (check + copy) may take at most this long; a city extract takes seconds
IMPORT_TIME_LIMIT_S = 600.0
#: one tile lookup in an open package may take at most this long
LOOKUP_TIME_LIMIT_S = 2.0
RASTER_FORMATS = frozenset({"png", "jpg", "webp"})
VECTOR_FORMAT = "pbf"


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


def tile_kind(data: bytes) -> str | None:
    """image_kind(), or 'pbf' for a vector tile: gzip (what the MBTiles spec asks for) or a bare
    protobuf whose first field is a layer (field 3, length-delimited: byte 0x1a)."""
    kind = image_kind(data)
    if kind is not None:
        return kind
    if data.startswith(b"\x1f\x8b") or data.startswith(b"\x1a"):
        return VECTOR_FORMAT
    return None


def vector_tile_bytes(data: bytes) -> bytes | None:
    """The protobuf of a vector tile, inflated when gzip-compressed; None if it does not inflate within
    MAX_VECTOR_TILE_BYTES or is not a vector tile at all."""
    if data.startswith(b"\x1a"):
        return data if _is_layer_sequence(data) else None
    if not data.startswith(b"\x1f\x8b"):
        return None
    inflater = zlib.decompressobj(wbits=31)
    try:
        raw = inflater.decompress(data, MAX_VECTOR_TILE_BYTES)
    except zlib.error:
        return None
    if inflater.unconsumed_tail or not inflater.eof:
        return None  # bigger than the cap, or truncated
    return raw if _is_layer_sequence(raw) else None


def _is_layer_sequence(raw: bytes) -> bool:
    """True when `raw` is a protobuf made only of Tile.layers fields (number 3, length-delimited) that
    exactly fill it: the top level of every Mapbox Vector Tile. Layers' insides are the renderer's job."""
    pos, end = 0, len(raw)
    while pos < end:
        if raw[pos] != 0x1A:
            return False
        pos += 1
        length = shift = 0
        while True:
            if pos >= end or shift > 28:
                return False
            byte = raw[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        pos += length
    return pos == end


def tms_row(z: int, y: int) -> int:
    """MBTiles stores rows bottom-up (TMS); XYZ counts top-down."""
    return (1 << z) - 1 - y


def valid_tile_address(z: int, x: int, y: int) -> bool:
    return 0 <= z <= 22 and 0 <= x < (1 << z) and 0 <= y < (1 << z)


def display_name(path: Path) -> str:
    """A file name fit for one sentence: control characters (a newline in a name) shown escaped."""
    name = Path(path).name
    return name if name.isprintable() else repr(name)


def readonly_uri(path: Path) -> str:
    """file: URI for SQLite that names exactly `path`, whatever characters the name holds."""
    return Path(path).resolve().as_uri() + "?mode=ro"


# --------------------------------------------------------------------------- writing (tests, the demo)


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


# --------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class _Layout:
    """Where the tiles of one MBTiles layout are: the tables, and the SQL we read them with."""

    name: str
    tables: dict[str, frozenset[str]]  # table -> columns it must have
    source: str  # FROM clause yielding zoom_level, tile_column, tile_row, tile_data
    index_table: str  # the table whose rows are the tile addresses (for counting)
    allows_tiles_view: bool


_LAYOUTS = (
    _Layout(
        "deduplicated (map + images)",
        {"map": frozenset({"zoom_level", "tile_column", "tile_row", "tile_id"}),
         "images": frozenset({"tile_id", "tile_data"})},
        "map JOIN images ON images.tile_id = map.tile_id",
        "map",
        True,
    ),
    _Layout(
        "deduplicated (tiles_shallow + tiles_data)",
        {"tiles_shallow": frozenset({"zoom_level", "tile_column", "tile_row", "tile_data_id"}),
         "tiles_data": frozenset({"tile_data_id", "tile_data"})},
        "tiles_shallow JOIN tiles_data ON tiles_data.tile_data_id = tiles_shallow.tile_data_id",
        "tiles_shallow",
        True,
    ),
    _Layout(
        "plain (tiles table)",
        {"tiles": frozenset({"zoom_level", "tile_column", "tile_row", "tile_data"})},
        "tiles",
        "tiles",
        False,
    ),
)

_COLUMNS = "zoom_level, tile_column, tile_row"


def _open_readonly(path: Path, name: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(readonly_uri(path), uri=True, check_same_thread=False)
        conn.execute("PRAGMA trusted_schema=OFF")
        conn.execute("PRAGMA query_only=ON")
    except sqlite3.Error as exc:
        raise TileStoreError(f"{name} cannot be opened ({exc}).") from exc
    return conn


class _Deadline:
    """SQLite's progress handler aborting any statement that runs past a moment (sqlite3 raises
    OperationalError 'interrupted'); `arm()` moves the moment, `hit` tells whether it fired."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.until = math.inf
        self.hit = False
        conn.set_progress_handler(self._check, 10_000)

    def arm(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds
        self.hit = False

    def _check(self) -> int:
        if time.monotonic() > self.until:
            self.hit = True
            return 1
        return 0


def _layout_of(conn: sqlite3.Connection, name: str) -> _Layout:
    """The file's layout, after refusing triggers, virtual tables and any view but a dedup `tiles`."""
    objects = conn.execute("SELECT type, name, coalesce(sql, '') FROM sqlite_master").fetchall()
    tables = {n for t, n, sql in objects if t == "table"}
    for kind, obj, sql in objects:
        if kind == "trigger":
            raise TileStoreError(f"{name} contains a database trigger ({obj!r}); MBTiles files have none, so it was refused.")
        if kind == "table" and sql.lstrip().upper().startswith("CREATE VIRTUAL"):
            raise TileStoreError(f"{name} contains a virtual table ({obj!r}); MBTiles files have none, so it was refused.")
    for layout in _LAYOUTS:
        if not set(layout.tables) <= tables:
            continue
        for table, needed in layout.tables.items():
            columns = {row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))}
            if not needed <= columns:
                raise TileStoreError(f"{name}: its {table!r} table lacks the columns {sorted(needed - columns)}.")
        break
    else:
        raise TileStoreError(f"{name} is not an MBTiles file (it has no 'tiles' table).")
    if "metadata" not in tables:
        raise TileStoreError(f"{name} is not an MBTiles file (it has no 'metadata' table).")
    for kind, obj, _sql in objects:
        if kind == "view" and not (layout.allows_tiles_view and obj == "tiles"):
            raise TileStoreError(
                f"{name} contains a database view ({obj!r}) that is not part of the standard MBTiles layout, so it was refused."
            )
    return layout


# --------------------------------------------------------------------------- description


@dataclass(frozen=True)
class MBTilesInfo:
    path: Path
    name: str
    tile_count: int
    min_zoom: int
    max_zoom: int
    bounds: tuple[float, float, float, float] | None  # west, south, east, north
    attribution: str
    #: 'png' / 'jpg' / 'webp' (raster; a raster package may mix them) or 'pbf' (vector)
    format: str = "png"
    size_bytes: int = 0

    @property
    def is_vector(self) -> bool:
        return self.format == VECTOR_FORMAT


def _metadata(conn: sqlite3.Connection, name: str) -> dict[str, str]:
    meta: dict[str, str] = {}
    for key, value in conn.execute("SELECT name, value FROM metadata LIMIT 1000"):
        if isinstance(key, str) and isinstance(value, str | int | float):
            meta[key] = str(value)[:2000]
    return meta


def _bounds(meta: dict[str, str]) -> tuple[float, float, float, float] | None:
    try:
        parts = [float(v) for v in str(meta.get("bounds") or "").split(",")]
    except ValueError:
        return None
    if len(parts) == 4 and all(math.isfinite(p) for p in parts):
        return (parts[0], parts[1], parts[2], parts[3])
    return None


def _check_tile(name: str, z: object, x: object, row: object, size: object, data: object) -> tuple[int, int, int, bytes, str]:
    """One row of a tiles query, checked: a valid address, a blob within the cap, a known format."""
    if not all(isinstance(v, int) for v in (z, x, row)) or not valid_tile_address(z, x, row):  # type: ignore[arg-type]
        raise TileStoreError(f"{name} has a tile at an impossible address (zoom {z!r}, column {x!r}, row {row!r}).")
    if not isinstance(size, int) or size > MAX_TILE_BYTES:
        raise TileStoreError(
            f"{name} has a tile of {size:,} bytes at zoom {z}; the limit is {MAX_TILE_BYTES:,}."
            if isinstance(size, int) else f"{name} has a tile whose data is not a byte string (zoom {z})."
        )
    if not isinstance(data, bytes):
        raise TileStoreError(f"{name} has a tile whose data is not a byte string (zoom {z}).")
    kind = tile_kind(data)
    if kind == VECTOR_FORMAT and vector_tile_bytes(data) is None:
        kind = None
    if kind is None:
        raise TileStoreError(
            f"{name} has a tile at zoom {z} that is neither a PNG/JPEG/WebP image nor a Mapbox vector tile."
        )
    return z, x, row, data, kind  # type: ignore[return-value]


def _describe(conn: sqlite3.Connection, path: Path, name: str, layout: _Layout, fmt: str) -> MBTilesInfo:
    meta = _metadata(conn, name)
    count, zmin, zmax = conn.execute(
        f"SELECT count(*), min(zoom_level), max(zoom_level) FROM {layout.index_table}"
    ).fetchone()
    if not count:
        raise TileStoreError(f"{name} contains no tiles.")
    if not all(isinstance(v, int) for v in (zmin, zmax)) or not 0 <= zmin <= zmax <= 22:
        raise TileStoreError(f"{name} has tiles with a zoom level that is not a whole number from 0 to 22.")
    return MBTilesInfo(
        path=path,
        name=meta.get("name") or path.stem,
        tile_count=int(count),
        min_zoom=int(zmin),
        max_zoom=int(zmax),
        bounds=_bounds(meta),
        attribution=meta.get("attribution", ""),
        format=fmt,
        size_bytes=path.stat().st_size,
    )


def _sample_format(conn: sqlite3.Connection, name: str, layout: _Layout) -> str:
    row = conn.execute(
        f"SELECT {_COLUMNS}, length(tile_data), CASE WHEN length(tile_data) <= ? THEN tile_data END "
        f"FROM {layout.source} WHERE length(tile_data) > 0 LIMIT 1",
        (MAX_TILE_BYTES,),
    ).fetchone()
    if row is None:
        raise TileStoreError(f"{name} contains no tiles.")
    kind = _check_tile(name, *row)[4]
    return VECTOR_FORMAT if kind == VECTOR_FORMAT else "raster"


def inspect_mbtiles(path: Path, *, time_limit_s: float = 30.0) -> MBTilesInfo:
    """Check an MBTiles file's layout and one tile, and describe it (no full scan: see import_package).
    Raises TileStoreError with one readable sentence."""
    path = Path(path)
    name = display_name(path)
    if not path.is_file():
        raise TileStoreError(f"{name}: no such file.")
    conn = _open_readonly(path, name)
    deadline = _Deadline(conn)
    deadline.arm(time_limit_s)
    try:
        layout = _layout_of(conn, name)
        kind = _sample_format(conn, name, layout)
        return _describe(conn, path, name, layout, "pbf" if kind == VECTOR_FORMAT else "png")
    except sqlite3.OperationalError as exc:
        if deadline.hit:
            raise TileStoreError(f"{name} took longer than {time_limit_s:.0f} s to read, so it was refused.") from exc
        raise TileStoreError(f"{name} is not a readable MBTiles file ({exc}).") from exc
    except (sqlite3.DatabaseError, UnicodeDecodeError, OverflowError, ValueError) as exc:
        raise TileStoreError(f"{name} is not a readable MBTiles file ({exc}).") from exc
    finally:
        conn.close()


# --------------------------------------------------------------------------- import (the clean copy)

_COPY_SCHEMA = """
CREATE TABLE metadata (name TEXT, value TEXT);
CREATE TABLE map (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_id INTEGER);
CREATE TABLE images (tile_id INTEGER, tile_data BLOB);
CREATE UNIQUE INDEX map_index ON map (zoom_level, tile_column, tile_row);
CREATE UNIQUE INDEX images_id ON images (tile_id);
CREATE VIEW tiles AS SELECT map.zoom_level AS zoom_level, map.tile_column AS tile_column,
    map.tile_row AS tile_row, images.tile_data AS tile_data FROM map JOIN images ON images.tile_id = map.tile_id;
"""

Progress = Callable[[int, int], None]


def import_package(
    source: Path,
    target: Path,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    time_limit_s: float = IMPORT_TIME_LIMIT_S,
) -> MBTilesInfo:
    """Check every tile of `source` and write a clean, deduplicated copy at `target`.

    The copy holds only the standard tables we create ourselves, so nothing the source's schema declared
    comes along. Raises TileStoreError (one sentence) on any problem, after removing the partial copy:
    a refused file leaves nothing behind.
    """
    source, target = Path(source), Path(target)
    name = display_name(source)
    if not source.is_file():
        raise TileStoreError(f"{name}: no such file.")
    started = time.monotonic()
    src = _open_readonly(source, name)
    deadline = _Deadline(src)
    deadline.arm(time_limit_s)
    partial = target.with_name(f".{target.name}.partial")
    out: sqlite3.Connection | None = None
    try:
        check = src.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            raise TileStoreError(f"{name} is damaged (SQLite's check says: {str(check and check[0])[:120]}).")
        layout = _layout_of(src, name)
        meta = _metadata(src, name)
        total = src.execute(f"SELECT count(*) FROM {layout.index_table}").fetchone()[0]
        if not total:
            raise TileStoreError(f"{name} contains no tiles.")
        out = sqlite3.connect(partial, isolation_level=None)
        out.execute("PRAGMA journal_mode=OFF")
        out.execute("PRAGMA synchronous=OFF")
        out.executescript(_COPY_SCHEMA)
        out.execute("BEGIN")
        out.executemany("INSERT INTO metadata VALUES (?, ?)", sorted(meta.items()))
        fmt = _copy_tiles(src, out, name, layout, total, progress, cancel)
        out.execute("COMMIT")
        out.close()
        out = None
        check_out = sqlite3.connect(readonly_uri(partial), uri=True)
        try:
            info = _describe(check_out, partial, name, _LAYOUTS[0], fmt)
        finally:
            check_out.close()
        partial.replace(target)
    except sqlite3.OperationalError as exc:
        _discard(out, partial)
        if deadline.hit:
            raise TileStoreError(
                f"{name} took longer than {time_limit_s:.0f} s to import, so it was stopped and nothing was kept."
            ) from exc
        raise TileStoreError(f"{name} is not a readable MBTiles file ({exc}).") from exc
    except (sqlite3.DatabaseError, UnicodeDecodeError, OverflowError, ValueError) as exc:
        _discard(out, partial)
        raise TileStoreError(f"{name} is not a readable MBTiles file ({exc}).") from exc
    except BaseException:
        _discard(out, partial)
        raise
    finally:
        src.close()
    log.info("imported %s: %d tiles (%s), z%d-%d in %.1f s", info.name, info.tile_count, info.format,
             info.min_zoom, info.max_zoom, time.monotonic() - started)
    return MBTilesInfo(**{**info.__dict__, "path": target})


def _copy_tiles(
    src: sqlite3.Connection,
    out: sqlite3.Connection,
    name: str,
    layout: _Layout,
    total: int,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> str:
    """Every tile checked and copied (identical tiles stored once); returns 'pbf' or 'png'."""
    ids: dict[bytes, int] = {}
    family: str | None = None
    done = 0
    rows = src.execute(
        f"SELECT {_COLUMNS}, length(tile_data), CASE WHEN length(tile_data) <= ? THEN tile_data END "
        f"FROM {layout.source}",
        (MAX_TILE_BYTES,),
    )
    batch: list[tuple[int, int, int, int]] = []
    for z, x, row, size, data in rows:
        done += 1
        if size == 0 or data == b"":
            continue  # an empty tile means "nothing here"; some writers store those
        z, x, row, data, kind = _check_tile(name, z, x, row, size, data)
        this_family = VECTOR_FORMAT if kind == VECTOR_FORMAT else "raster"
        if family is None:
            family = this_family
        elif family != this_family:
            raise TileStoreError(f"{name} mixes image tiles and vector tiles, so it was refused.")
        digest = hashlib.blake2b(data, digest_size=16).digest()
        tile_id = ids.get(digest)
        if tile_id is None:
            tile_id = ids[digest] = len(ids) + 1
            out.execute("INSERT INTO images VALUES (?, ?)", (tile_id, data))
        batch.append((z, x, row, tile_id))
        if len(batch) >= 500:
            out.executemany("INSERT OR REPLACE INTO map VALUES (?, ?, ?, ?)", batch)
            batch.clear()
            if cancel is not None and cancel.is_set():
                raise TileStoreError(f"The import of {name} was cancelled; nothing was kept.")
            if progress is not None:
                progress(done, total)
    out.executemany("INSERT OR REPLACE INTO map VALUES (?, ?, ?, ?)", batch)
    if progress is not None:
        progress(done, total)
    if family is None:
        raise TileStoreError(f"{name} contains no tiles.")
    return VECTOR_FORMAT if family == VECTOR_FORMAT else "png"


def _discard(conn: sqlite3.Connection | None, partial: Path) -> None:
    if conn is not None:
        try:
            conn.close()
        except sqlite3.Error:
            pass
    for leftover in (partial, partial.with_name(partial.name + "-journal")):
        leftover.unlink(missing_ok=True)


# --------------------------------------------------------------------------- reading an open package


class MBTilesReader:
    """A read-only MBTiles package, opened once and queried from any thread."""

    def __init__(self, info: MBTilesInfo) -> None:
        self.info = info
        name = display_name(info.path)
        self._conn = _open_readonly(info.path, name)
        self._deadline = _Deadline(self._conn)
        self._lock = threading.Lock()
        try:
            layout = _layout_of(self._conn, name)
        except BaseException:
            self._conn.close()
            raise
        self._sql = (
            f"SELECT length(tile_data), CASE WHEN length(tile_data) <= {MAX_TILE_BYTES} THEN tile_data END "
            f"FROM {layout.source} WHERE zoom_level=? AND tile_column=? AND tile_row=? LIMIT 1"
        )

    def get(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's bytes when present, within the size cap and of the package's kind; else None."""
        if not self.info.min_zoom <= z <= self.info.max_zoom:
            return None
        try:
            with self._lock:
                self._deadline.arm(LOOKUP_TIME_LIMIT_S)
                row = self._conn.execute(self._sql, (z, x, tms_row(z, y))).fetchone()
        except sqlite3.Error as exc:
            log.warning("map package %s: tile %s/%s/%s unreadable (%s)", self.info.path.name, z, x, y, exc)
            return None
        if row is None or not isinstance(row[1], bytes) or not row[1]:
            return None
        data = row[1]
        kind = tile_kind(data)
        if kind is None or (kind == VECTOR_FORMAT) != self.info.is_vector:
            return None
        return data

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def gzip_vector_tile(raw: bytes) -> bytes:
    """How MBTiles stores a vector tile (tests and the demo package build them with this)."""
    return gzip.compress(raw, mtime=0)
