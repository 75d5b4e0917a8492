"""The one frozen-aware resource helper: every bundled file (map assets, basemap, icons,
migrations) is found through resource_path(), so the same code works from a source checkout and
from a PyInstaller bundle, where files live under sys._MEIPASS at the same relative paths.

Standard library only: maps/ and sync_server/ may import it (import-linter contract).
"""

from __future__ import annotations

import sys
from pathlib import Path


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def resource_root() -> Path:
    """The directory that holds the packages (workstation/, maps/, ...) and their data files."""
    if is_frozen():
        return Path(sys._MEIPASS)  # type: ignore[attr-defined]
    return Path(__file__).resolve().parent.parent


def resource_path(*parts: str) -> Path:
    """resource_path("maps", "assets", "vendor", "leaflet.js") -> absolute path of a bundled file."""
    return resource_root().joinpath(*parts)
