"""Vector MBTiles on the map: the package's priority decides per tile between the image layer and the
vector layer, and a real QtWebEngine page draws the vector tiles (VectorGrid) past the package's last
zoom. The package is the OpenMapTiles-schema sample built from the real Chicago fixtures."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from maps.tiles import TRANSPARENT_PNG, TileStore
from maps.vector_sample import LOOP_Z13, build
from maps.view import MapView
from tests.maps.mbtiles_files import png, write_pymbtiles
from tests.maps.test_view import dispose, status, wait_until

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
Z14 = (14, LOOP_Z13[0] * 2, LOOP_Z13[1] * 2)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return build(NODE_MODULES, tmp_path_factory.mktemp("vector") / "loop.mbtiles", only={LOOP_Z13})


def test_priority_picks_the_vector_or_the_image_layer_tile_by_tile(tmp_path, sample):
    store = TileStore.for_data_dir(tmp_path / "home")
    info = store.import_mbtiles(sample)
    assert info.is_vector and store.vector_zoom_range == (13, 14)
    z, x, y = Z14
    raw = store.vector_tile(z, x, y)
    assert raw.startswith(b"\x1a") and raw == gzip.decompress(store.get_tile(z, x, y))
    assert store.raster_tile(z, x, y) == TRANSPARENT_PNG  # over the basemap: the vector package wins
    assert store.raster_tile(17, x * 8, y * 8) == TRANSPARENT_PNG  # its overzoomed area too
    assert store.vector_tile(17, x * 8, y * 8) == b""  # the page cuts z17 from the z14 tile itself

    red = png((200, 0, 0))
    store.import_mbtiles(write_pymbtiles(tmp_path / "photo.mbtiles", {Z14: red}))  # newer, raster
    assert store.raster_tile(z, x, y) == red and store.vector_tile(z, x, y) == b""
    store.move_package(store.package_views()[0].entry.path, +1)
    assert store.raster_tile(z, x, y) == TRANSPARENT_PNG and store.vector_tile(z, x, y).startswith(b"\x1a")
    store.close()


@pytest.mark.webengine
def test_a_vector_package_is_drawn_at_street_zoom(qapp, tmp_path, sample):
    store = TileStore(tmp_path / "cache.mbtiles", packages=[sample])
    view = MapView(store, center=(41.8810, -87.6298), zoom=17)
    view.resize(700, 500)
    view.show()
    wait_until(qapp, lambda: view.is_ready, timeout=30)
    wait_until(qapp, lambda: status(qapp, view)["vectorTilesDrawn"] >= 4, timeout=30)
    assert status(qapp, view)["zoom"] == 17 and view.page_errors == []
    # the empty map background is #dddddd; the vector layer paints land and streets over it
    wait_until(qapp, lambda: view.grab().toImage().pixelColor(350, 250).name() != "#dddddd", timeout=20)
    view.shutdown()
    dispose(qapp, view)
    store.close()
