"""`workstation maps import FILE | list [--json] | remove NAME | tile Z X Y --out FILE`: the offline
map packages of this workstation, for agency IT and scripts. No password is needed: packages hold map
tiles, not participant data (the encrypted tile cache is not touched).

The work is done by the maps package (maps/package_commands.py), which the launcher hands in:
workstation core does not import maps (import-linter contract).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

NAME = "maps"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="offline map packages: import, list, remove, or show one tile",
        description="Offline map packages (MBTiles, raster or vector) of this workstation, in priority "
        "order: where packages overlap, the first one listed is shown. Agency-preloaded packages come "
        "from map_packages in the system configuration.",
    )
    actions = parser.add_subparsers(dest="maps_action", metavar="ACTION", required=True)
    add = actions.add_parser("import", help="check an MBTiles file and add a copy at the top of the list")
    add.add_argument("file", help="the .mbtiles file")
    listing = actions.add_parser("list", help="the packages in priority order")
    listing.add_argument("--json", action="store_true", help="print as JSON")
    remove = actions.add_parser("remove", help="remove an imported package (its copy is deleted)")
    remove.add_argument("name", help="the package's file name or its position in `maps list`")
    tile = actions.add_parser("tile", help="write the tile the map would show at an XYZ address")
    tile.add_argument("z", type=int)
    tile.add_argument("x", type=int)
    tile.add_argument("y", type=int)
    tile.add_argument("--out", required=True, help="file to write the tile to")


def run(args: argparse.Namespace, implementation: Callable[..., int] | None = None) -> int:
    from workstation import config as config_mod

    if implementation is None:
        print("workstation maps: the map component is not part of this installation", file=sys.stderr)
        return 1
    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    return implementation(args, data_dir=config.data_dir, preloaded=config.map_packages)
