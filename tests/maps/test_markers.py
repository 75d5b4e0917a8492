"""Device markers as drawn on the real page: colour-blind safe, different shapes, staleness on every
marker (incidents too), and a dark basemap in the dark palette. Pixels are read back from the page's
device canvas, so what is checked is what the officer sees."""

from __future__ import annotations

import json

import pytest

from tests.maps import test_view as shared
from tests.maps.test_view import js, wait_until

# the page fixtures of the view tests (one map page per module: WebEngine is slow to start)
server, store, view, tiles_settled = shared.server, shared.store, shared.view, shared.tiles_settled

pytestmark = pytest.mark.webengine

LAT, LON = 41.8800, -87.6300
CASES = {  # device id -> (state, stale)
    "m-ok": ("ok", False),
    "m-inc": ("incident", False),
    "m-inc-stale": ("incident", True),
    "m-stale": ("stale", True),
}


def _luminance(rgb) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a, b) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _deuteranopia(rgb):
    """Machado et al. (2009), severity 1.0, applied in linear RGB."""
    m = ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881))

    def lin(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    def enc(c):
        c = min(max(c, 0.0), 1.0)
        return 255 * (12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055)

    r, g, b = (lin(c) for c in rgb[:3])
    return tuple(enc(row[0] * r + row[1] * g + row[2] * b) for row in m)


def _pixels(qapp, view, offsets):
    """{device id: {(dx, dy): rgba}} read from the device canvas around each marker's centre."""
    script = (
        "(function(){var out={};var m=FieldMap.map;var c=FieldMap.devices._canvas.getContext('2d');"
        "FieldMap.devices._devices.forEach(function(r){if(!r.id.startsWith('m-'))return;"
        "var p=m.latLngToContainerPoint([r.lat,r.lon]);out[r.id]={};"
        f"{json.dumps(offsets)}.forEach(function(o){{var d=c.getImageData(Math.round(p.x+o[0]),Math.round(p.y+o[1]),1,1).data;"
        "out[r.id][o[0]+','+o[1]]=[d[0],d[1],d[2],d[3]];});});return JSON.stringify(out);})()"
    )
    return json.loads(js(qapp, view, script))


def test_markers_differ_by_shape_and_colour_and_show_staleness(qapp, view):
    placed = [
        {"device_id": did, "participant_id": f"pp-{did}", "label": did, "lat": LAT, "lon": LON + i * 0.0006,
         "fix_time": "2026-11-23T18:00:00Z", "accuracy_m": 0, "state": state, "stale": stale}
        for i, (did, (state, stale)) in enumerate(CASES.items())
    ]
    view.set_devices(placed)
    wait_until(qapp, lambda: js(qapp, view, "FieldMap.devices.count()") == len(placed))
    js(qapp, view, f"FieldMap.map.setView([{LAT}, {LON + 0.0009}], 18, {{animate: false}}); 1")
    wait_until(qapp, lambda: js(qapp, view, "FieldMap.map.getZoom()") == 18)
    px = _pixels(qapp, view, [[0, 0], [0, -8], [-7, 0]])

    ok, inc = px["m-ok"]["0,0"], px["m-inc"]["0,0"]
    assert ok[3] == 255 and inc[3] == 255
    # told apart by lightness as well as hue, with and without deuteranopia (was 1.03:1 and 1.28:1)
    assert _contrast(ok, inc) >= 2.5, (ok, inc)
    assert _contrast(_deuteranopia(ok), _deuteranopia(inc)) >= 2.5
    # shape: the incident's triangle reaches 8 px above its centre, the OK circle (6 px) does not
    assert px["m-inc"]["0,-8"][3] == 255 and px["m-ok"]["0,-8"][3] < 128, (px["m-inc"], px["m-ok"])
    # staleness on every marker: stale ones are hollow (pale centre), the incident's stays amber-edged
    for stale_id in ("m-inc-stale", "m-stale"):
        centre = px[stale_id]["0,0"]
        assert min(centre[:3]) > 200, (stale_id, centre)
    assert _contrast(px["m-inc-stale"]["0,0"], inc) >= 1.8


def test_dark_palette_darkens_the_basemap(qapp, view):
    view.set_dark(True)
    wait_until(qapp, lambda: js(qapp, view, "FieldMap.map.getContainer().classList.contains('fm-dark')"))
    tile_filter = js(qapp, view, "getComputedStyle(document.querySelector('.leaflet-tile-pane')).filter")
    assert "invert(1)" in tile_filter
    legend = js(qapp, view, "getComputedStyle(document.querySelector('.fm-legend')).backgroundColor")
    assert legend == "rgba(32, 34, 36, 0.92)", legend
    view.set_dark(False)
    wait_until(qapp, lambda: not js(qapp, view, "FieldMap.map.getContainer().classList.contains('fm-dark')"))


def test_the_days_route_is_drawn_and_cleared(qapp, view):
    from datetime import datetime, timedelta

    from workstation.route import PlannedVisit, plan_route, route_payload

    now = datetime(2026, 3, 2, 15, 0)
    visits = [PlannedVisit(f"r{i}", f"R {i}", f"C-{i}", now + timedelta(hours=i + 1), "home_visit", "home",
                           41.88 + 0.005 * i, -87.63) for i in range(3)]
    plan = plan_route(visits, (41.8807, -87.6256), now)
    view.show_route(route_payload(plan))
    wait_until(qapp, lambda: json.loads(js(qapp, view, "FieldMap.status()"))["routeStops"] == 3)
    labels = js(qapp, view, "Array.from(document.querySelectorAll('.fm-route-stop')).map(e => e.textContent).join(',')")
    assert labels == "1,2,3"
    view.show_route(None)
    wait_until(qapp, lambda: json.loads(js(qapp, view, "FieldMap.status()"))["routeStops"] == 0)
