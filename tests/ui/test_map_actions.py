"""The map's commands in the main window: devices-in-view tab, download this area, MBTiles import.
A real map page (QtWebEngine, offscreen), a real tile store and a real tile server on loopback; only
the modal message boxes are replaced, because a test cannot click them."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

from maps.download_dialog import DownloadAreaDialog
from maps.tiles import TileStore
from tests.maps.conftest import TileServer, png_bytes
from tests.maps.test_tiles import make_package
from ui import map_actions

pytestmark = pytest.mark.webengine


@pytest.fixture
def tiles_on_loopback():
    server = TileServer()
    yield server
    server.close()


@pytest.fixture
def messages(monkeypatch):
    shown: list[tuple[str, str]] = []
    for kind in ("information", "warning"):
        monkeypatch.setattr(map_actions.QMessageBox, kind,
                            lambda _parent, title, text, kind=kind: shown.append((kind, text)))
    return shown


def map_window(qtbot, make_window, offline_session, store):
    window = make_window(offline_session, with_map=True, tile_store=store)
    window.show()
    with qtbot.waitSignal(window.snapshotApplied, timeout=15_000):
        window.start()
    qtbot.waitUntil(lambda: window.map.view_state()["bounds"] is not None, timeout=20_000)
    return window


def test_devices_in_view_tab_lists_the_map_devices_and_opens_the_record(qtbot, make_window, offline_session,
                                                                        tmp_path):
    store = TileStore(tmp_path / "cache.mbtiles")
    window = map_window(qtbot, make_window, offline_session, store)
    window.actions_by_id["focus_devices"].trigger()
    assert window.centre.currentWidget() is window.devices_list
    qtbot.waitUntil(lambda: window.devices_list.model.rowCount() > 0, timeout=10_000)
    assert window.devices_list.summary.text().endswith("devices in view")
    table = window.devices_list.table
    top = table.model().index(0, 0)  # the table sorts: the top row is not the model's first
    first = window.devices_list.model.device_at(table.model().mapToSource(top).row())["participant_id"]
    table.activated.emit(top)
    qtbot.waitUntil(lambda: window.record.record is not None and window.record.record.id == first, timeout=5000)


def test_download_without_a_tile_server_says_why(qtbot, make_window, offline_session, tmp_path, messages):
    store = TileStore(tmp_path / "cache.mbtiles")
    window = map_window(qtbot, make_window, offline_session, store)
    assert map_actions.download_area(window) is None
    assert "No agency tile server is configured" in messages[-1][1]


def test_download_dialog_opens_on_the_visible_area(qtbot, make_window, offline_session, tmp_path,
                                                   tiles_on_loopback):
    store = TileStore(tmp_path / "cache.mbtiles", tile_url=tiles_on_loopback.url("png"))
    window = map_window(qtbot, make_window, offline_session, store)
    window.actions_by_id["download_area"].trigger()
    dialog = window.findChild(DownloadAreaDialog)
    assert dialog is not None and dialog.isVisible()
    south, west, north, east = window.map.view_state()["bounds"]
    labels = [label.text() for label in dialog.findChildren(QLabel)]
    assert f"{south:.4f}, {west:.4f} – {north:.4f}, {east:.4f}" in labels
    assert "tiles, about" in dialog.estimate.text()
    dialog.reject()


def test_import_valid_package_then_a_broken_one_changes_nothing(qtbot, make_window, offline_session, tmp_path,
                                                               messages):
    store = TileStore(tmp_path / "data" / "cache.mbtiles")
    window = map_window(qtbot, make_window, offline_session, store)
    pack = make_package(tmp_path / "area.mbtiles", [(14, 4200, 6090, png_bytes())])
    map_actions.import_tiles(window, str(pack))
    qtbot.waitUntil(lambda: "Imported map tiles" in window.statusBar().currentMessage(), timeout=10_000)
    assert store.get_tile(14, 4200, 6090) == png_bytes()
    packages = sorted(p.name for p in (tmp_path / "data" / "packages").iterdir())

    broken = tmp_path / "broken.mbtiles"
    broken.write_bytes(b"this is not a database" * 100)
    map_actions.import_tiles(window, str(broken))
    qtbot.waitUntil(lambda: bool(messages), timeout=10_000)
    assert messages[-1][0] == "warning" and "nothing changed" in messages[-1][1]
    assert sorted(p.name for p in (tmp_path / "data" / "packages").iterdir()) == packages
