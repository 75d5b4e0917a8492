"""The map's commands in the main window: the devices-in-view list (the accessible alternative to
the map, a centre tab), "download this area for offline use" and importing an MBTiles file.

Kept out of main_window.py so the window only wires three handlers and one tab. The heavy parts run
off the GUI thread: the download in DownloadAreaDialog's worker, the import (validate + copy of a
file that may be hundreds of MB) through run_task.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox, QWidget

from ui.tasks import run_task

if TYPE_CHECKING:
    from maps.device_list import DeviceListWidget
    from maps.download_dialog import DownloadAreaDialog
    from maps.tiles import MBTilesInfo
    from ui.offline_maps_dialog import OfflineMapsDialog

DEVICES_TAB_TITLE = "Devices in view"


def add_devices_tab(window) -> DeviceListWidget | None:
    """Add the devices-in-view table as a centre tab (None when this build has no map)."""
    if window.map is None:
        return None
    from maps.device_list import DeviceListWidget

    widget = DeviceListWidget(window.map, window)
    widget.setAccessibleName("Devices in view")
    widget.participantActivated.connect(window.show_participant)
    window.centre.addTab(widget, DEVICES_TAB_TITLE)
    return widget


def show_devices(window) -> None:
    widget = getattr(window, "devices_list", None)
    if widget is None:
        _unavailable(window, "Devices in view")
        return
    window.centre.setCurrentWidget(widget)
    widget.table.setFocus(Qt.FocusReason.ShortcutFocusReason)


def download_area(window) -> DownloadAreaDialog | None:
    """Open "download this area" for the area and zoom the map shows now."""
    store = window._tile_store
    if window.map is None or store is None:
        _unavailable(window, "Download this area")
        return None
    state = window.map.view_state()
    if not state.get("bounds"):
        QMessageBox.information(window, "Download this area", "The map has not shown an area yet.")
        return None
    if store.tile_url is None:
        QMessageBox.information(
            window, "Download this area",
            "No agency tile server is configured (tile_url), so there is nothing to download from. "
            "Agency IT can set it in config.toml, or you can import an MBTiles file.",
        )  # fmt: skip
        return None
    from maps.download_dialog import DownloadAreaDialog

    dialog = DownloadAreaDialog(store, tuple(state["bounds"]), int(state.get("zoom") or 13), window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def import_tiles(window, path: str | None = None) -> None:
    """Ask for an .mbtiles file (unless given) and import it on a worker; the map reloads on success."""
    store = window._tile_store
    if store is None:
        _unavailable(window, "Import map tiles")
        return
    if path is None:
        from ui.offline_maps_dialog import choose_mbtiles_file

        path = choose_mbtiles_file(window)
        if not path:
            return
    from ui.offline_maps_dialog import ImportProgress

    name = Path(path).name
    window.statusBar().showMessage(f"Importing map tiles from {name}…")
    progress = ImportProgress()
    ticker = QTimer(window)  # the worker only writes two ints; the status bar reads them here
    ticker.setInterval(200)
    ticker.timeout.connect(lambda: progress.total and window.statusBar().showMessage(
        f"Importing map tiles from {name}: {progress.done:,} of {progress.total:,} tiles checked…"))
    ticker.start()

    def stop_ticker() -> None:
        ticker.stop()
        ticker.deleteLater()

    def done(info) -> None:
        stop_ticker()
        window.statusBar().showMessage(f"Imported map tiles: {describe(info)}", 10_000)
        if window.map is not None:
            window.map.reload()  # the page learns the new zoom range and bounds

    def failed(exc: BaseException) -> None:
        stop_ticker()
        window.statusBar().clearMessage()
        QMessageBox.warning(window, "Import map tiles", f"The file was not imported, nothing changed:\n{exc}")

    run_task(lambda: store.import_mbtiles(Path(path), progress=progress), done, failed, owner=window)


def offline_maps(window) -> OfflineMapsDialog | None:
    """Map → Offline maps…: the packages in priority order; the map reloads after each change."""
    store = window._tile_store
    if store is None:
        _unavailable(window, "Offline maps")
        return None
    from ui.offline_maps_dialog import OfflineMapsDialog

    dialog = OfflineMapsDialog(store, window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if window.map is not None:
        dialog.packagesChanged.connect(window.map.reload)
    dialog.open()
    return dialog


def describe(info: MBTilesInfo) -> str:
    return f"{info.name or info.path.name}, {info.tile_count:,} tiles, zoom {info.min_zoom}–{info.max_zoom}"


def _unavailable(window: QWidget, title: str) -> None:
    QMessageBox.information(window, title, "The map is not available in this build.")
