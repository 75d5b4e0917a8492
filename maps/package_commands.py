"""The work behind `workstation maps ...` (workstation/commands/maps.py parses the arguments).

Refusals are one sentence on stderr and exit code 1; nothing here prints a traceback for a bad file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from maps.asset_paths import basemap_path
from maps.mbtiles import TileStoreError, tile_kind
from maps.packages import PackageRegistry, RegistryError
from maps.tiles import PackageView, TileStore


def run_maps_command(args: argparse.Namespace, *, data_dir: Path, preloaded: Iterable[Path] = ()) -> int:
    registry = PackageRegistry(data_dir, preloaded)
    for problem in registry.problems:
        print(f"workstation maps: {problem}", file=sys.stderr)
    store = TileStore(None, registry=registry, basemap=basemap_path())
    try:
        return _ACTIONS[args.maps_action](args, store)
    except (TileStoreError, RegistryError) as exc:
        print(f"workstation maps {args.maps_action}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _import(args: argparse.Namespace, store: TileStore) -> int:
    show = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show:
            print(f"\rchecking and copying tiles: {done:,} of {total:,}", end="", file=sys.stderr, flush=True)

    info = store.import_mbtiles(Path(args.file), progress=progress)
    if show:
        print(file=sys.stderr)
    print(f"imported {info.name}: {info.tile_count:,} {'vector' if info.is_vector else 'raster'} tiles, "
          f"zoom {info.min_zoom}-{info.max_zoom}, as {info.path.name} (first in the list)")
    return 0


def package_rows(views: list[PackageView]) -> list[dict]:
    """The packages as plain rows (the JSON of `maps list --json` and the Offline maps dialog)."""
    rows = []
    for position, view in enumerate(views, start=1):
        info = view.info
        rows.append({
            "position": position,
            "file": view.entry.path.name,
            "path": str(view.entry.path),
            "origin": view.entry.origin,
            "removable": view.entry.removable,
            "name": info.name if info else None,
            "kind": (("vector" if info.is_vector else "raster") if info else None),
            "tiles": info.tile_count if info else None,
            "size_bytes": info.size_bytes if info else None,
            "min_zoom": info.min_zoom if info else None,
            "max_zoom": info.max_zoom if info else None,
            "bounds": list(info.bounds) if info and info.bounds else None,
            "error": view.error or None,
        })
    return rows


def _list(args: argparse.Namespace, store: TileStore) -> int:
    rows = package_rows(store.package_views())
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        if row["error"]:
            print(f"{row['position']:>2}. {row['file']} ({row['origin']}): unusable: {row['error']}")
            continue
        bounds = ", ".join(f"{v:.3f}" for v in row["bounds"]) if row["bounds"] else "bounds unknown"
        print(f"{row['position']:>2}. {row['file']} ({row['origin']}, {row['kind']}): {row['name']}, "
              f"{row['tiles']:,} tiles, {row['size_bytes'] / 1e6:,.1f} MB, zoom {row['min_zoom']}-{row['max_zoom']}, {bounds}")
    if not rows:
        print("no offline map packages")
    return 0


def _remove(args: argparse.Namespace, store: TileStore) -> int:
    entry = store.registry.find(args.name)  # type: ignore[union-attr]
    store.remove_package(entry.path)
    print(f"removed {entry.path.name}")
    return 0


def _tile(args: argparse.Namespace, store: TileStore) -> int:
    found = store.lookup(args.z, args.x, args.y)
    if found is None:
        print(f"workstation maps tile: no package has a tile at {args.z}/{args.x}/{args.y}", file=sys.stderr)
        return 1
    data, source = found
    Path(args.out).write_bytes(data)
    print(f"{args.z}/{args.x}/{args.y}: {tile_kind(data)}, {len(data):,} bytes from {source} -> {args.out}")
    return 0


_ACTIONS = {"import": _import, "list": _list, "remove": _remove, "tile": _tile}
