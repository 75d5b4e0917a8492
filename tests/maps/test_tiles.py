"""Tile store: cache with LRU cap, imported packages, agency fetch validation, offline download."""

from __future__ import annotations

import sqlite3
import threading

import mercantile
import pytest

from maps.tiles import (
    MAX_DOWNLOAD_TILES,
    TYPICAL_TILE_BYTES,
    TileStore,
    TileStoreError,
    create_mbtiles,
    inspect_mbtiles,
    write_tiles,
)
from tests.maps.conftest import png_bytes

CHICAGO = (41.86, -87.66, 41.90, -87.61)  # south, west, north, east


def make_package(path, tiles, meta=None):
    conn = create_mbtiles(path, {"name": "test pack", "format": "png", "attribution": "© test", **(meta or {})})
    write_tiles(conn, tiles)
    conn.commit()
    conn.close()
    return path


def test_fetched_tile_is_cached_and_served_without_the_server(tmp_path, tile_server):
    store = TileStore(tmp_path / "cache.mbtiles", tile_url=tile_server.url("png"))
    assert store.get_tile(13, 2100, 3045) == tile_server.png
    assert store.get_tile(13, 2100, 3045) == tile_server.png
    assert len(tile_server.requests) == 1  # the second lookup came from the cache
    assert store.agency_host == "127.0.0.1"
    store.close()


@pytest.mark.parametrize("kind", ["html", "err"])
def test_error_or_html_answer_is_neither_cached_nor_served(tmp_path, tile_server, kind, caplog):
    store = TileStore(tmp_path / "cache.mbtiles", tile_url=tile_server.url(kind))
    assert store.get_tile(13, 2100, 3045) is None
    assert store.cache_bytes() == 0
    assert "not cached" in caplog.text
    store.close()


def test_unreachable_server_backs_off_and_returns_nothing(tmp_path):
    # a port nobody listens on: connection refused, then no further attempts during the backoff
    store = TileStore(tmp_path / "cache.mbtiles", tile_url="http://127.0.0.1:9/{z}/{x}/{y}.png")
    assert store.get_tile(13, 2100, 3045) is None
    assert store._offline_until > 0
    assert store.get_tile(13, 2100, 3046) is None
    store.close()


def test_lru_eviction_keeps_cache_under_cap_and_spares_pinned(tmp_path, tile_server):
    tile = tile_server.png
    store = TileStore(tmp_path / "cache.mbtiles", tile_url=tile_server.url("png"), max_cache_bytes=len(tile) * 5)
    store._store(10, 0, 0, tile, pinned=True)
    for x in range(8):
        assert store.get_tile(12, x, 0) is not None
    assert store.cache_bytes() <= len(tile) * 5
    # oldest unpinned went first, the newest and the pinned tile stay
    assert store._cached(12, 0, 0) is None
    assert store._cached(12, 7, 0) is not None
    assert store._cached(10, 0, 0) is not None
    store.close()


def test_packages_serve_tiles_and_invalid_addresses_are_refused(tmp_path):
    pack = make_package(tmp_path / "p.mbtiles", [(13, 2100, 3045, png_bytes())])
    store = TileStore(tmp_path / "cache.mbtiles", packages=[pack])
    assert store.get_tile(13, 2100, 3045) == png_bytes()
    assert store.get_tile(13, 2100, 3046) is None
    assert store.get_tile(3, 99, 0) is None
    assert "© test" in store.attribution
    store.close()


def test_import_valid_package(tmp_path):
    pack = make_package(tmp_path / "area.mbtiles", [(14, 4200, 6090, png_bytes())])
    store = TileStore(tmp_path / "data" / "cache.mbtiles")
    info = store.import_mbtiles(pack)
    assert info.tile_count == 1 and info.path.parent == tmp_path / "data" / "packages"
    assert store.get_tile(14, 4200, 6090) == png_bytes()
    store.close()


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "no_tiles_table", "empty", "not_a_tile"],
)
def test_import_bad_file_is_refused_and_changes_nothing(tmp_path, damage):
    bad = tmp_path / "bad.mbtiles"
    if damage == "garbage":
        bad.write_bytes(b"this is not sqlite at all" * 100)
    elif damage == "truncated":
        make_package(bad, [(14, x, 6090, png_bytes()) for x in range(50)])
        bad.write_bytes(bad.read_bytes()[:3000])
    elif damage == "no_tiles_table":
        conn = sqlite3.connect(bad)
        conn.execute("CREATE TABLE metadata (name, value)")
        conn.commit()
        conn.close()
    elif damage == "empty":
        make_package(bad, [])
    else:
        make_package(bad, [(14, 1, 1, b"\x1a\x00vector-tile-protobuf")])
    store = TileStore(tmp_path / "data" / "cache.mbtiles")
    with pytest.raises(TileStoreError) as err:
        store.import_mbtiles(bad)
    assert "bad.mbtiles" in str(err.value)
    assert store.packages() == []
    packages_dir = tmp_path / "data" / "packages"
    assert not packages_dir.exists() or not any(packages_dir.iterdir())
    store.close()


def test_download_plan_estimate_cap_progress_and_cancel(tmp_path, tile_server):
    store = TileStore(tmp_path / "cache.mbtiles", tile_url=tile_server.url("png"))
    plan = store.plan_download(CHICAGO, 12, 14)
    west, south, east, north = CHICAGO[1], CHICAGO[0], CHICAGO[3], CHICAGO[2]
    assert plan.tile_count == len(list(mercantile.tiles(west, south, east, north, [12, 13, 14])))
    assert plan.estimated_bytes == plan.tile_count * TYPICAL_TILE_BYTES  # nothing cached yet
    with pytest.raises(TileStoreError, match="limit"):
        store.plan_download((41.77, -87.80, 41.97, -87.58), 12, 19)
    seen = []
    result = store.download(plan, progress=lambda done, total: seen.append((done, total)))
    assert result.fetched == plan.tile_count and not result.cancelled
    assert seen[-1] == (plan.tile_count, plan.tile_count)
    # downloaded tiles are pinned: a tiny cap does not evict them
    store.max_cache_bytes = 1
    store._store(5, 0, 0, tile_server.png, pinned=False)
    assert store._conn.execute("SELECT count(*) FROM tiles WHERE pinned=1").fetchone()[0] == plan.tile_count

    cancel = threading.Event()
    plan2 = store.plan_download(CHICAGO, 15, 15)

    def stop_after_three(done, total):
        if done == 3:
            cancel.set()

    partial = store.download(plan2, progress=stop_after_three, cancel=cancel)
    assert partial.cancelled and partial.fetched == 3
    assert MAX_DOWNLOAD_TILES >= 10_000
    store.close()


def test_download_needs_a_server(tmp_path):
    store = TileStore(tmp_path / "cache.mbtiles")
    with pytest.raises(TileStoreError, match="no agency tile server"):
        store.plan_download(CHICAGO, 12, 13)
    with pytest.raises(TileStoreError, match="valid area"):
        TileStore(tmp_path / "c2.mbtiles", tile_url="https://tiles.example/{z}/{x}/{y}.png").plan_download(
            (41.9, -87.6, 41.8, -87.7), 12, 13
        )
    store.close()


def test_bad_tile_url_is_refused(tmp_path):
    with pytest.raises(TileStoreError):
        TileStore(tmp_path / "c.mbtiles", tile_url="https://tiles.example/no-placeholders.png")
    with pytest.raises(TileStoreError):
        TileStore(tmp_path / "c.mbtiles", tile_url="file:///etc/{z}/{x}/{y}")


def test_inspect_reports_zoom_range_and_bounds(tmp_path):
    pack = make_package(
        tmp_path / "p.mbtiles", [(11, 524, 761, png_bytes()), (16, 16800, 24360, png_bytes())],
        {"bounds": "-87.8,41.77,-87.58,41.97"},
    )
    info = inspect_mbtiles(pack)
    assert (info.min_zoom, info.max_zoom, info.tile_count) == (11, 16, 2)
    assert info.bounds == (-87.8, 41.77, -87.58, 41.97)


def test_store_for_data_dir_uses_imported_packages_and_skips_broken_ones(tmp_path, caplog):
    packages = tmp_path / "packages"  # copies imported by versions that kept no registry: adopted
    packages.mkdir(parents=True)
    make_package(packages / "good.mbtiles", [(14, 4200, 6090, png_bytes())])
    (packages / "broken.mbtiles").write_bytes(b"not a database" * 50)
    store = TileStore.for_data_dir(tmp_path)
    assert store.get_tile(14, 4200, 6090) == png_bytes()
    assert len(store.package_errors) == 1 and "broken.mbtiles" in store.package_errors[0]
    assert "package skipped" in caplog.text
    assert store.get_tile(13, 2100, 3045) is not None  # the bundled demo basemap (built by make assets)
    store.close()


def test_cache_with_a_key_is_encrypted_and_a_plain_or_foreign_one_is_replaced(tmp_path, tile_server):
    key = bytes(range(32))
    cache = tmp_path / "cache.mbtiles"
    plain = TileStore(cache, tile_url=tile_server.url("png"))  # an older version's plaintext cache
    assert plain.get_tile(12, 1050, 1522) == tile_server.png
    plain.close()
    assert cache.read_bytes()[:16] == b"SQLite format 3\x00"

    store = TileStore(cache, tile_url=tile_server.url("png"), cache_key=key)
    assert store.get_tile(12, 1050, 1523) == tile_server.png
    store.close()
    for path in tmp_path.glob("cache.mbtiles*"):
        assert not path.read_bytes().startswith(b"SQLite format 3"), path

    tile_server.requests.clear()
    again = TileStore(cache, tile_url=tile_server.url("png"), cache_key=key)
    assert again.get_tile(12, 1050, 1523) == tile_server.png and tile_server.requests == []  # from the cache
    again.close()

    foreign = TileStore(cache, tile_url=tile_server.url("png"), cache_key=bytes(32))  # another key: afresh
    assert foreign.get_tile(12, 1050, 1523) == tile_server.png and len(tile_server.requests) == 1
    foreign.close()


def test_a_locked_workstation_closes_the_cache_and_unlock_reopens_it(tmp_path, tile_server):
    key = bytes(range(32))
    store = TileStore(tmp_path / "cache.mbtiles", tile_url=tile_server.url("png"), cache_key=key)
    assert store.get_tile(12, 1050, 1523) == tile_server.png
    store.close_cache()
    tile_server.requests.clear()
    # locked: served from the server, not from (or into) the closed cache
    assert store.get_tile(12, 1050, 1523) == tile_server.png and len(tile_server.requests) == 1
    assert store.get_tile(12, 1050, 1524) == tile_server.png and len(tile_server.requests) == 2
    store.reopen_cache(key)
    tile_server.requests.clear()
    assert store.get_tile(12, 1050, 1523) == tile_server.png and tile_server.requests == []
    assert store.get_tile(12, 1050, 1524) == tile_server.png and len(tile_server.requests) == 1
    store.close()
