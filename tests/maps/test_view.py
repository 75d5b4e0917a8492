"""MapView with a real QtWebEngine page offscreen: bridge, ready gating, tiles through the scheme,
the request guard, bad input, late callbacks. One shared view for the module (WebEngine is slow to start)."""

from __future__ import annotations

import json
import math
import time

import pytest
from PySide6.QtCore import QCoreApplication, QEvent

from maps.scheme import RequestGuard, no_tiles_png
from maps.tiles import TileStore
from maps.view import MapView
from tests.maps.conftest import TileServer, png_bytes

pytestmark = pytest.mark.webengine

ZONES = [
    {"id": "z-home", "name": "Home", "kind": "inclusion", "shape": "circle", "center_lat": 41.88,
     "center_lon": -87.63, "radius_m": 150, "schedule": [], "active_now": True},
    {"id": "z-bow", "name": "Bow tie", "kind": "exclusion", "shape": "polygon",
     "polygon": [[41.88, -87.64], [41.89, -87.62], [41.88, -87.62], [41.89, -87.64]]},
]


def devices(n, lat0=41.87, lon0=-87.65):
    return [
        {"device_id": f"d{i}", "participant_id": f"p{i}", "label": f"Person {i}", "lat": lat0 + 0.0004 * (i % 50),
         "lon": lon0 + 0.0004 * (i // 50), "fix_time": "2026-11-23T18:00:00Z", "accuracy_m": 20, "state": "ok"}
        for i in range(n)
    ]


def wait_until(qapp, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the map page"
        qapp.processEvents()
        time.sleep(0.005)


def dispose(qapp, widget):
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qapp.processEvents()


def js(qapp, view, script):
    out = []
    view.evaluate(script, out.append)
    wait_until(qapp, lambda: bool(out))
    return out[0]


def status(qapp, view):
    return json.loads(js(qapp, view, "FieldMap.status()"))


@pytest.fixture(scope="module")
def server():
    srv = TileServer()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory, server):
    pack_dir = tmp_path_factory.mktemp("pack")
    from maps.tiles import create_mbtiles, write_tiles

    conn = create_mbtiles(pack_dir / "p.mbtiles", {"name": "t", "format": "png", "attribution": "© test"})
    write_tiles(conn, [(13, 2100, 3045, png_bytes((1, 2, 3)))])
    conn.commit()
    conn.close()
    # the agency URL answers HTML: the page must get the "no map tiles here" tile, never the HTML
    s = TileStore(tmp_path_factory.mktemp("cache") / "cache.mbtiles", tile_url=server.url("html"),
                  packages=[pack_dir / "p.mbtiles"])
    yield s
    s.close()


@pytest.fixture(scope="module")
def view(qapp, store):
    v = MapView(store, coalesce_ms=100)
    v.resize(900, 600)
    v.show()
    # issued before the page is ready: must be held back and applied once it is
    v.set_devices(devices(200))
    v.show_zones(ZONES)
    seen = []
    v.evaluate("typeof L", seen.append)
    assert not v.is_ready and seen == []
    wait_until(qapp, lambda: v.is_ready and seen)
    assert seen == ["object"]
    yield v
    v.shutdown()
    dispose(qapp, v)


@pytest.fixture(autouse=True)
def tiles_settled(qapp, view):
    """A pan or zoom leaves tile requests in flight; let them finish before the leak check runs."""
    yield
    handler = view.scheme_handler
    wait_until(qapp, lambda: handler.pending_tiles() == 0 and not handler._drain.isActive()
               and not view._timer.isActive())
    qapp.processEvents()


def test_calls_before_ready_are_applied_after_ready(qapp, view):
    st = status(qapp, view)
    assert st["leaflet"] == "1.9.4" and st["map"] is True
    assert st["devices"] == 200
    assert st["zones"] == 1  # the self-intersecting one was skipped
    assert view.leaflet_version == "1.9.4"
    assert view.profile.isOffTheRecord()
    assert view.page_errors == []


def test_updates_are_coalesced_into_one_batch_and_keep_the_view(qapp, view):
    js(qapp, view, "FieldMap._batches = 0; FieldMap._upd = FieldMap.updateDevices;"
                   "FieldMap.updateDevices = function (r) { FieldMap._batches++; return FieldMap._upd(r); }; 1")
    zoom_before = status(qapp, view)["zoom"]
    moved = [dict(d, lat=d["lat"] + 0.001) for d in devices(200)]
    view.update_devices(moved[:100])
    view.update_devices(moved[100:])
    view.update_devices([{"device_id": "d0", "participant_id": "p0", "lat": math.nan, "lon": 1.0}])  # skipped
    wait_until(qapp, lambda: not view._timer.isActive() and not view._pending)
    assert js(qapp, view, "FieldMap._batches") == 1
    lat0 = js(qapp, view, "FieldMap.devices._devices.get('d0').lat")
    assert lat0 == pytest.approx(41.871)
    assert status(qapp, view)["zoom"] == zoom_before


def test_select_pans_and_click_reports_participant(qapp, view):
    view.select_participant("p7")
    wait_until(qapp, lambda: (view.view_state()["zoom"] or 0) >= 15)
    target = [d for d in view.devices() if d["device_id"] == "d7"][0]
    south, west, north, east = view.view_state()["bounds"]
    assert south < target["lat"] < north and west < target["lon"] < east
    clicked = []
    view.participantClicked.connect(clicked.append)
    point = json.dumps([target["lat"], target["lon"]])
    js(qapp, view, f"var p = FieldMap.map.latLngToContainerPoint({point});"
                   "FieldMap.map.fire('click', {containerPoint: p, latlng: FieldMap.map.containerPointToLatLng(p)}); 1")
    wait_until(qapp, lambda: clicked)
    assert clicked == ["p7"]
    view.participantClicked.disconnect()
    in_view = view.devices_in_view()
    assert "d7" in {d["device_id"] for d in in_view} and len(in_view) < 200


def test_device_list_shows_devices_in_view_and_selects(qapp, view):
    from maps.device_list import DeviceListWidget

    widget = DeviceListWidget(view)
    in_view = view.devices_in_view()
    assert widget.model.rowCount() == len(in_view) > 0
    assert widget.summary.text() == f"{len(in_view)} devices in view"
    activated = []
    widget.participantActivated.connect(activated.append)
    widget.table.activated.emit(widget.table.model().index(0, 0))
    assert activated and view._selected == activated[0]
    dispose(qapp, widget)


def test_tiles_come_through_the_scheme_and_missing_ones_get_the_placeholder(qapp, view, server):
    def fetch_size(z, x, y):
        js(qapp, view, f"window._size = null; fetch('fieldmap://app/tiles/{z}/{x}/{y}.png').then(function (r)"
                       " { return r.arrayBuffer(); }).then(function (b) { window._size = b.byteLength; }); 1")
        out = []
        wait_until(qapp, lambda: out.append(json.loads(js(qapp, view, "JSON.stringify(window._size)")))
                   or out[-1] is not None)
        return out[-1]

    assert fetch_size(13, 2100, 3045) == len(png_bytes((1, 2, 3)))  # from the package
    before = len(server.requests)
    assert fetch_size(13, 2000, 3000) == len(no_tiles_png())  # agency answered HTML: placeholder, not HTML
    assert len(server.requests) == before + 1


def test_outside_requests_are_stopped_by_the_page_policy(qapp, view):
    """The page's CSP refuses them before they are made; the request guard stays behind it (see
    tests/maps/test_page_security.py for a navigation only the guard can stop)."""
    js(qapp, view, "window.__violations = []; document.addEventListener('securitypolicyviolation', "
                   "function (e) { window.__violations.push(e.effectiveDirective + ' ' + e.blockedURI); }); 1")
    js(qapp, view, "fetch('https://cdn.jsdelivr.net/npm/leaflet/x.js').catch(function () {}); "
                   "var i = new Image(); i.src = 'https://tile.openstreetmap.org/1/1/1.png'; 1")
    wait_until(qapp, lambda: len(json.loads(js(qapp, view, "JSON.stringify(window.__violations)"))) >= 2)
    violations = json.loads(js(qapp, view, "JSON.stringify(window.__violations)"))
    assert any(v.startswith("img-src https://tile.openstreetmap.org") for v in violations)
    assert any(v.startswith("connect-src https://cdn.jsdelivr.net") for v in violations)


def test_reloaded_page_gets_the_whole_state_again(qapp, view):
    readies = []
    view.ready.connect(lambda: readies.append(1))
    before = status(qapp, view)
    view.reload()
    wait_until(qapp, lambda: readies)
    after = status(qapp, view)
    assert after["devices"] == before["devices"] == 200
    assert after["zones"] == before["zones"] == 1
    view.ready.disconnect()


def test_request_guard_policy():
    guard = RequestGuard(["tiles.agency.example"])
    assert guard.allows("fieldmap", "app") and guard.allows("data", "")
    assert guard.allows("https", "TILES.agency.example")
    assert not guard.allows("https", "cdn.jsdelivr.net")
    assert not guard.allows("file", "")
    assert not guard.allows("ws", "tiles.agency.example")


def test_track_and_zones_draw_without_page_errors(qapp, view):
    positions = [
        {"fix_time": f"2026-11-23T08:{m:02d}:00Z", "lat": 41.88 + 0.0005 * m, "lon": -87.63,
         "accuracy_m": 10, "flags": ["impossible_speed"] if m == 30 else []}
        for m in range(60)
    ] + [{"fix_time": "2026-11-23T09:00:00Z", "lat": math.nan, "lon": -87.63}]
    view.show_track(positions, alerts=[{"lat": 41.89, "lon": -87.63, "kind": "zone_exit", "severity": "high",
                                        "opened_at": "2026-11-23T08:20:00Z"}])
    wait_until(qapp, lambda: status(qapp, view)["trackPoints"] == 60)
    js(qapp, view, "FieldMap.seekTrackFraction(0.5); 1")
    assert status(qapp, view)["trackTime"] == "2026-11-23T08:29:30.000Z"
    view.clear_track()
    wait_until(qapp, lambda: status(qapp, view)["trackPoints"] == 0)
    assert view.page_errors == []


def test_late_callbacks_and_messages_after_shutdown_are_ignored(qapp):
    v = MapView(None)
    wait_until(qapp, lambda: v.is_ready)
    results, clicks = [], []
    v.participantClicked.connect(clicks.append)
    v.evaluate("1 + 1", results.append)  # in flight when the view shuts down
    v.shutdown()
    v._bridge.participantClicked("p1")
    v.update_devices(devices(3))
    v.evaluate("2", results.append)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    assert results == [] and clicks == []
    assert not v._timer.isActive()
    dispose(qapp, v)


def test_selftest_loads_bundled_page_with_network_blocked(qapp):
    from maps.selftest import check_map_page

    result = check_map_page(timeout_s=20)
    assert result["ok"], result
    assert result["leaflet_version"] == "1.9.4" and result["interceptor_verified"]
    assert result["blocked_requests"] == 0  # the page itself asked for nothing outside the app
