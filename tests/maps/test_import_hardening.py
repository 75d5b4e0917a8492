"""Hostile and broken MBTiles files: refused with one sentence, nothing left behind, never executed.

The standard deduplicated layout (mbutil: `map` + `images` with a `tiles` view) imports; any other view,
any trigger, a tile over the size cap, a tile of the wrong format, a gzip bomb, a mix of raster and
vector tiles, or an import past its time limit is refused."""

from __future__ import annotations

import gzip
import sqlite3
import threading

import pytest

from maps.mbtiles import MAX_TILE_BYTES, TileStoreError, import_package, inspect_mbtiles
from maps.tiles import TileStore
from tests.maps.mbtiles_files import CHICAGO_Z14, png, vector_tile, write_mbutil, write_pymbtiles
from tests.maps.test_tiles import make_package

Z, X, Y = CHICAGO_Z14
ROW = (1 << Z) - 1 - Y


def _plain(path, tiles=((Z, X, Y, None),)):
    return make_package(path, [(z, x, y, data if data is not None else png()) for z, x, y, data in tiles])


def _sql(path, script, base=_plain):
    base(path)
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return path


HOSTILE = {
    # a view answering a 400 MB tile (zeroblob) in place of the tiles table
    "huge_tile_view": ("DROP TABLE tiles; CREATE VIEW tiles AS SELECT 14 AS zoom_level, 0 AS tile_column, "
                       "0 AS tile_row, zeroblob(400000000) AS tile_data", "view"),
    # a view that never finishes (recursive CTE without a bound)
    "endless_view": ("DROP TABLE tiles; CREATE VIEW tiles AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                     "SELECT i + 1 FROM n) SELECT 14 AS zoom_level, i AS tile_column, 0 AS tile_row, "
                     "x'89504e47' AS tile_data FROM n", "view"),
    "extra_view": ("CREATE VIEW innocent AS SELECT * FROM tiles", "view"),
    "trigger": ("CREATE TABLE log (x); CREATE TRIGGER t AFTER INSERT ON tiles BEGIN INSERT INTO log VALUES (1); END",
                "trigger"),
    "oversized_tile": (f"UPDATE tiles SET tile_data = zeroblob({MAX_TILE_BYTES + 1})", "limit is"),
    "text_tile": ("UPDATE tiles SET tile_data = '<html>login</html>'", "not a byte string"),
    "not_an_image": ("UPDATE tiles SET tile_data = x'00112233445566778899'", "neither a PNG/JPEG/WebP"),
    "bad_address": ("UPDATE tiles SET zoom_level = 99", "impossible address"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_is_refused_in_one_sentence_and_leaves_nothing(tmp_path, case):
    script, words = HOSTILE[case]
    bad = _sql(tmp_path / f"{case}.mbtiles", script)
    store = TileStore.for_data_dir(tmp_path / "home")
    with pytest.raises(TileStoreError) as err:
        store.import_mbtiles(bad)
    message = str(err.value)
    assert words in message and f"{case}.mbtiles" in message and "\n" not in message
    assert [v.entry.origin for v in store.package_views()] == ["bundled"]
    packages = tmp_path / "home" / "packages"
    assert not packages.exists() or list(packages.iterdir()) == []
    store.close()


def test_the_deduplicated_layout_with_its_tiles_view_imports_and_an_extra_view_does_not(tmp_path):
    good = write_mbutil(tmp_path / "dedup.mbtiles", {CHICAGO_Z14: png(), (Z, X + 1, Y): png()})
    info = import_package(good, tmp_path / "copy.mbtiles")
    assert info.tile_count == 2 and not info.is_vector
    conn = sqlite3.connect(good)
    conn.execute("CREATE VIEW tiles2 AS SELECT * FROM map")
    conn.commit()
    conn.close()
    with pytest.raises(TileStoreError, match=r"view \('tiles2'\)"):
        inspect_mbtiles(good)


def test_mixed_raster_and_vector_tiles_and_gzip_bombs_are_refused(tmp_path):
    mixed = make_package(tmp_path / "mixed.mbtiles", [(Z, X, Y, png()), (Z, X + 1, Y, vector_tile())])
    with pytest.raises(TileStoreError, match="mixes image tiles and vector tiles"):
        import_package(mixed, tmp_path / "out.mbtiles")
    bomb = make_package(tmp_path / "bomb.mbtiles", [(Z, X, Y, gzip.compress(b"\x1a" + b"\x00" * 50_000_000))])
    with pytest.raises(TileStoreError, match="neither"):
        import_package(bomb, tmp_path / "out.mbtiles")
    assert not list(tmp_path.glob("*out*"))


def test_an_import_past_its_time_limit_is_stopped_and_leaves_nothing(tmp_path):
    tile = png()
    big = make_package(tmp_path / "big.mbtiles", [(16, x, y, tile) for x in range(60) for y in range(60)])
    with pytest.raises(TileStoreError, match="took longer than 0 s"):
        import_package(big, tmp_path / "out.mbtiles", time_limit_s=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.mbtiles"]


def test_import_reports_progress_and_can_be_cancelled(tmp_path):
    tile = png()
    tiles = {(16, x, y): tile for x in range(40) for y in range(40)}
    source = write_pymbtiles(tmp_path / "area.mbtiles", tiles)
    seen: list[tuple[int, int]] = []
    info = import_package(source, tmp_path / "a.mbtiles", progress=lambda d, t: seen.append((d, t)))
    assert info.tile_count == 1600 and seen[-1] == (1600, 1600) and len(seen) > 2
    assert info.size_bytes < source.stat().st_size  # 1,600 identical tiles stored once

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TileStoreError, match="cancelled"):
        import_package(source, tmp_path / "b.mbtiles", cancel=cancel)
    assert not (tmp_path / "b.mbtiles").exists() and not list(tmp_path.glob(".*partial*"))


def test_any_file_name_opens_that_file(tmp_path):
    """A '#' or '?' in a name must not cut the path short (a naive 'file:{path}?mode=ro' URI would)."""
    decoy = _plain(tmp_path / "area ", [(Z, X, Y, png((1, 2, 3)))])  # what 'area #1.mbtiles' used to open
    real = _plain(tmp_path / "real.mbtiles", [(Z, X, Y, png((9, 9, 9)))])
    named = real.rename(tmp_path / "area #1?.mbtiles")
    store = TileStore(tmp_path / "cache.mbtiles", packages=[named])
    assert store.get_tile(Z, X, Y) == png((9, 9, 9)) != decoy.read_bytes()
    store.close()


def test_a_preloaded_package_read_in_place_is_still_checked_tile_by_tile(tmp_path):
    """Preloaded packages are not copied (they may be GBs): the size cap and format check apply per read."""
    pack = _plain(tmp_path / "agency.mbtiles", [(Z, X, Y, png()), (Z, X + 1, Y, png()), (Z, X + 2, Y, png())])
    conn = sqlite3.connect(pack)
    conn.execute("UPDATE tiles SET tile_data = zeroblob(?) WHERE tile_column = ?", (MAX_TILE_BYTES + 1, X + 1))
    conn.execute("UPDATE tiles SET tile_data = x'3c68746d6c3e' WHERE tile_column = ?", (X + 2,))
    conn.commit()
    conn.close()
    store = TileStore(tmp_path / "cache.mbtiles", packages=[pack])
    assert store.get_tile(Z, X, Y) == png()
    assert store.get_tile(Z, X + 1, Y) is None and store.get_tile(Z, X + 2, Y) is None
    store.close()


def test_vector_packages_written_by_pymbtiles_and_mbutil_import(tmp_path):
    for writer in (write_pymbtiles, write_mbutil):
        source = writer(tmp_path / f"{writer.__name__}.mbtiles", {CHICAGO_Z14: vector_tile()}, "pbf")
        info = import_package(source, tmp_path / f"copy-{writer.__name__}.mbtiles")
        assert info.is_vector and info.tile_count == 1
