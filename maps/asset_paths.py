"""Where the map's generated assets live, for the run-time code (the page, the self-test, the demo).

Kept apart from maps.build_assets, which renders them: importing the builder would pull its
dependencies (folium with NumPy, the vector-tile renderer with Shapely, protobuf and Pillow) into the
frozen app, where none of them is needed once the assets exist (installer/bundle_manifest.py keeps
them out).
"""

from __future__ import annotations

from pathlib import Path

from workstation.resources import resource_path


def vendor_dir() -> Path:
    """Leaflet and its plugins, copied from node_modules."""
    return resource_path("maps", "assets", "vendor")


def basemap_path() -> Path:
    """The demo basemap rendered from the @mapbox/mvt-fixtures Chicago tiles."""
    return resource_path("maps", "assets", "basemap", "chicago.mbtiles")


def page_template_path() -> Path:
    """The map page as folium renders it, with placeholders for the values known only at run time."""
    return resource_path("maps", "assets", "generated", "map.template.html")


def no_tiles_png_path() -> Path:
    """The tile shown where nothing is cached or imported."""
    return resource_path("maps", "assets", "generated", "no-tiles.png")
