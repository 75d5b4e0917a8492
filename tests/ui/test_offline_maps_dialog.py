"""Map → Offline maps…: list, import with progress, move, remove, refusals in one sentence. A real
tile store with its registry in a temporary data directory; the work runs on the real thread pool."""

from __future__ import annotations

from maps.tiles import TileStore
from tests.maps.mbtiles_files import CHICAGO_Z14, png, write_pymbtiles
from ui import map_actions
from ui.offline_maps_dialog import OfflineMapsDialog

RED, BLUE = png((200, 30, 30)), png((30, 30, 200))


def _wait_idle(qtbot, dialog):
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=15_000)


def test_offline_maps_lists_imports_reorders_and_removes(qtbot, tmp_path):
    store = TileStore.for_data_dir(tmp_path / "home")
    dialog = OfflineMapsDialog(store)
    qtbot.addWidget(dialog)
    changes = []
    dialog.packagesChanged.connect(lambda: changes.append(1))
    assert [dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())] == ["built in"]
    assert not dialog.remove_button.isEnabled()

    for color, name in ((RED, "red"), (BLUE, "blue")):
        dialog.start_import(str(write_pymbtiles(tmp_path / f"{name}.mbtiles", {CHICAGO_Z14: color}, name=name)))
        _wait_idle(qtbot, dialog)
    assert "first in the list" in dialog.status.text()
    assert (dialog._progress.done, dialog._progress.total) == (1, 1)  # the worker reported its progress
    assert not dialog.progress.isVisible()
    assert [dialog.table.item(r, 1).text() for r in range(3)][:2] == ["blue", "red"]
    assert dialog.table.item(0, 4).text() == "1" and dialog.table.item(0, 6).text() == "14–14"
    assert store.get_tile(*CHICAGO_Z14) == BLUE

    dialog.table.selectRow(0)
    assert dialog.up_button.isEnabled() is False and dialog.down_button.isEnabled()
    dialog.down_button.click()
    _wait_idle(qtbot, dialog)
    assert [dialog.table.item(r, 1).text() for r in range(2)] == ["red", "blue"]
    assert store.get_tile(*CHICAGO_Z14) == RED

    dialog.table.selectRow(0)
    dialog.remove_button.click()
    _wait_idle(qtbot, dialog)
    assert [dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())][0] == "blue"
    assert store.get_tile(*CHICAGO_Z14) == BLUE
    assert len(changes) == 4
    store.close()


def test_a_refused_file_is_one_sentence_and_changes_nothing(qtbot, tmp_path):
    store = TileStore.for_data_dir(tmp_path / "home")
    dialog = OfflineMapsDialog(store)
    qtbot.addWidget(dialog)
    junk = tmp_path / "holiday photos.mbtiles"
    junk.write_bytes(b"\x00not sqlite" * 300)
    dialog.start_import(str(junk))
    _wait_idle(qtbot, dialog)
    text = dialog.status.text()
    assert text.startswith("The file was not imported; nothing changed. holiday photos.mbtiles")
    assert "Traceback" not in text and "\n" not in text
    assert dialog.table.rowCount() == 1
    packages = tmp_path / "home" / "packages"
    assert not packages.exists() or not any(packages.iterdir())
    store.close()


def test_the_map_menu_opens_offline_maps(qtbot, make_window, offline_session, tmp_path):
    store = TileStore.for_data_dir(tmp_path / "home")
    window = make_window(offline_session, with_map=False, tile_store=store)
    window.actions_by_id["offline_maps"].trigger()
    dialog = window.findChild(OfflineMapsDialog)
    assert dialog is not None and dialog.isVisible()
    assert map_actions.offline_maps(window) is not None
    dialog.reject()
    store.close()
