"""The one frozen-aware resource helper: every bundled file (map assets, basemap, icons,
migrations) is found through resource_path(), so the same code works from a source checkout and
from a PyInstaller bundle, where files live under sys._MEIPASS at the same relative paths.

It also says how to start the reference server as a child process (server_command()), because a
frozen build has no Python interpreter to run `-m sync_server` with: the frozen `workstation`
executable carries the server itself and runs it when its first argument is FROZEN_SERVER_MODE.

Standard library only: maps/ and sync_server/ may import it (import-linter contract).
"""

from __future__ import annotations

import sys
from pathlib import Path

# `field-workstation server --seed ...` in a frozen build runs sync_server's main() with the rest
# of the arguments (installer/frozen_entry.py dispatches on it).
FROZEN_SERVER_MODE = "server"


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


def server_command() -> list[str]:
    """argv prefix that starts the reference sync server in a child process; append its options.

    From source: the current interpreter with `-m sync_server`. Frozen: the app's own executable
    in server mode (sys.executable is the frozen binary there, and `-m` would mean nothing to it).
    """
    if is_frozen():
        return [sys.executable, FROZEN_SERVER_MODE]
    return [sys.executable, "-m", "sync_server"]
