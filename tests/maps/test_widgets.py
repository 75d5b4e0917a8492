"""The accessible device list model and the offline-download dialog (real tile server on loopback)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import Qt

from maps.device_list import DeviceListModel, fix_age_text
from maps.download_dialog import DownloadAreaDialog
from maps.tiles import TileStore

AREA = (41.86, -87.66, 41.90, -87.61)


def wait_until(qapp, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        qapp.processEvents()
        time.sleep(0.005)


def test_fix_age_text_says_how_old_every_position_is():
    now = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    assert fix_age_text("2026-11-23T17:56:00Z", now) == "4 min ago"
    assert fix_age_text((now - timedelta(seconds=20)).isoformat(), now) == "20 s ago"
    assert fix_age_text("2026-11-23T15:00:00Z", now) == "3.0 h ago"
    assert fix_age_text("2026-11-13T18:00:00Z", now) == "10 days ago"
    assert fix_age_text(None, now) == "no fix"
    assert fix_age_text("garbage", now) == "unknown"


def test_device_list_model_rows(qapp):
    model = DeviceListModel()
    model.set_devices([
        {"device_id": "d1", "participant_id": "p1", "label": "Ada", "lat": 41.88, "lon": -87.63,
         "fix_time": None, "accuracy_m": 12.0, "state": "incident"},
    ])
    assert model.rowCount() == 1 and model.columnCount() == 6
    values = [model.data(model.index(0, c)) for c in range(6)]
    assert values == ["Ada", "Incident open", "no fix", "±12 m", "41.88000", "-87.63000"]
    assert model.headerData(2, Qt.Orientation.Horizontal) == "Last fix"


def test_download_dialog_estimates_downloads_and_reports(qapp, tmp_path, tile_server):
    store = TileStore(tmp_path / "cache.mbtiles", tile_url=tile_server.url("png"))
    dialog = DownloadAreaDialog(store, AREA, zoom=12)
    dialog.max_zoom.setValue(13)
    plan = store.plan_download(AREA, 12, 13)
    assert f"{plan.tile_count:,} tiles" in dialog.estimate.text()
    dialog.start()
    wait_until(qapp, lambda: dialog.result_value is not None)
    assert dialog.result_value.fetched == plan.tile_count and not dialog.result_value.cancelled
    assert dialog.progress.value() == plan.tile_count
    assert "Done" in dialog.estimate.text()
    dialog.close()
    store.close()


def test_download_dialog_refuses_areas_over_the_cap(qapp, tmp_path, tile_server):
    store = TileStore(tmp_path / "cache.mbtiles", tile_url=tile_server.url("png"))
    dialog = DownloadAreaDialog(store, (41.6, -88.0, 42.1, -87.5), zoom=12)
    dialog.max_zoom.setValue(18)
    assert not dialog.start_button.isEnabled()
    assert "limit" in dialog.estimate.text()
    dialog.close()
    store.close()


def test_device_list_sorts_names_ignoring_accents_and_case(qapp):
    from maps.device_list import sort_text

    names = ["Zúñiga, Ana", "Ávalos, Tomás", "abbott, Jeff", "Acosta, Flavio"]
    assert sorted(names, key=sort_text) == ["abbott, Jeff", "Acosta, Flavio", "Ávalos, Tomás", "Zúñiga, Ana"]
