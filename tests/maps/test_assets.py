"""The generated page links nothing outside the app; bundled assets and the demo basemap are in place."""

from __future__ import annotations

import json
import time

from maps import basemap, build_assets
from maps.page import build_page_html, external_urls
from maps.tiles import inspect_mbtiles
from workstation.resources import resource_path

CDN_HOSTS = ("jsdelivr", "cdnjs", "jquery", "bootstrapcdn", "openstreetmap.org", "unpkg", "googleapis")


def test_page_html_has_no_external_url():
    html = build_page_html(attribution="© OpenStreetMap contributors, © Mapbox")
    assert external_urls(html) == []
    assert "http://" not in html and "https://" not in html
    assert not any(host in html for host in CDN_HOSTS)
    assert "fieldmap://app/vendor/leaflet/leaflet.js" in html
    assert "fieldmap://app/tiles/{z}/{x}/{y}.png" in html
    assert "FieldMap.init(map_fieldmap)" in html


def test_external_url_detector_catches_cdn_links():
    assert external_urls('<script src="https://cdn.jsdelivr.net/x.js"></script><link href="//cdnjs.com/y">')


def test_vendor_assets_match_node_modules_and_second_build_is_a_noop():
    node_modules = resource_path("node_modules")
    started = time.perf_counter()
    build_assets.copy_vendor(node_modules)  # may refresh a stale copy
    assert build_assets.copy_vendor(node_modules) is False
    assert build_assets.build_demo_basemap(node_modules) is None  # up to date: nothing rendered
    assert time.perf_counter() - started < 5
    vendor = build_assets.vendor_dir()
    assert (vendor / "leaflet" / "leaflet.js").read_bytes() == (node_modules / "leaflet/dist/leaflet.js").read_bytes()
    versions = json.loads((vendor / "versions.json").read_text())
    assert versions["leaflet"] == "1.9.4"


def test_demo_basemap_covers_the_chicago_fixtures():
    info = inspect_mbtiles(build_assets.basemap_path())
    assert (info.min_zoom, info.max_zoom) == (11, 16)
    assert "OpenStreetMap" in info.attribution and "Mapbox" in info.attribution
    west, south, east, north = basemap.coverage_bounds(basemap.source_tiles(resource_path("node_modules")))
    # the seeded caseload area must be inside
    assert west < -87.66 and east > -87.61 and south < 41.86 and north > 41.90
    assert info.bounds == tuple(round(v, 6) for v in (west, south, east, north))
    # z16 covers every z13 source tile 8x8
    assert info.tile_count == sum(30 * 4 ** (z - 13) for z in (13, 14, 15, 16)) + 4 + 9


def test_page_is_folium_rendered_at_build_time_and_filled_at_run_time():
    """The app fills the build-time template; the result equals what folium renders for the same values
    (apart from the values), and an attribution from an imported file cannot add markup to the page."""
    import subprocess
    import sys

    from maps import page
    from maps.asset_paths import page_template_path

    assert page_template_path().read_text(encoding="utf-8") == page.render_page_template()
    html = build_page_html(center=(41.9, -87.7), zoom=14, min_zoom=11, max_zoom=18, max_native_zoom=16,
                           attribution='© OSM </script><img src=x onerror="bridge()">')
    assert "@@" not in html and "-11.1234567" not in html
    assert "center: [41.9, -87.7]" in html
    assert '"minZoom": 11' in html and '"maxZoom": 18' in html and '"maxNativeZoom": 16' in html
    assert "</script><img" not in html and "<img" not in html
    # filling needs neither folium nor NumPy (the frozen app carries neither)
    probe = ("import sys; from maps.page import build_page_html; build_page_html(); "
             "print(sorted(m for m in ('folium', 'numpy', 'branca', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_page_refuses_an_out_of_range_centre():
    import pytest

    with pytest.raises(ValueError, match="centre"):
        build_page_html(center=(95.0, 0.0))
