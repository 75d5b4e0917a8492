"""The offline map packages of a workstation, in priority order, kept in the data directory.

Two kinds of package:
- imported: an MBTiles file the officer (or `workstation maps import`) imported; a checked copy lives
  in <data dir>/packages/ and is owned by the app (removing it deletes the copy);
- preloaded: a file agency IT lists in the system configuration (`map_packages = [...]`); read in
  place, never copied, never deleted; the officer can reorder it but not remove it.

The order (first wins where packages overlap) is stored in <data dir>/map-packages.json, written
atomically, and re-read at every start. A new import goes to the top; a preloaded package that
appears in the configuration goes below the imported ones. Copies found in the packages directory
but missing from the registry (imports made by versions that did not keep one) are adopted at the
bottom of the imported ones, oldest last.

No Qt, no SQLite: the registry holds paths and order only; maps.tiles opens the files.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REGISTRY_FILE = "map-packages.json"
PACKAGES_DIR = "packages"
IMPORTED = "imported"
PRELOADED = "preloaded"
BUNDLED = "bundled"


class RegistryError(Exception):
    """A change to the registry that cannot be made (one readable sentence)."""


@dataclass(frozen=True)
class PackageEntry:
    path: Path
    origin: str  # IMPORTED, PRELOADED or BUNDLED

    @property
    def removable(self) -> bool:
        return self.origin == IMPORTED


class PackageRegistry:
    """The ordered list of packages; every change is saved before the method returns (blocking I/O:
    call it off the GUI thread)."""

    def __init__(self, data_dir: Path, preloaded: Iterable[Path] | None = None) -> None:
        """preloaded: map_packages of the configuration; None (a reader that does not load the
        configuration) keeps the preloaded entries the registry already lists."""
        self.data_dir = Path(data_dir)
        self.packages_dir = self.data_dir / PACKAGES_DIR
        self.file = self.data_dir / REGISTRY_FILE
        self._knows_config = preloaded is not None
        self._preloaded = [Path(p) for p in preloaded or ()]
        self._entries: list[PackageEntry] = []
        self.problems: list[str] = []
        self._load()

    # ---- reading -----------------------------------------------------------------------

    def entries(self) -> list[PackageEntry]:
        return list(self._entries)

    def _load(self) -> None:
        stored: list[PackageEntry] = []
        try:
            raw = json.loads(self.file.read_text(encoding="utf-8"))
            rows = raw["packages"] if isinstance(raw, dict) else []
        except FileNotFoundError:
            rows = []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.problems.append(f"The list of offline map packages ({self.file.name}) was unreadable ({exc}); it was rebuilt.")
            rows = []
        for row in rows if isinstance(rows, list) else []:
            entry = self._entry_from_row(row)
            if entry is not None and entry.path not in {e.path for e in stored}:
                stored.append(entry)
        configured = {p.resolve() if p.is_absolute() else p for p in self._preloaded}
        # preloaded packages no longer in the configuration are gone; imported copies that vanished too
        entries = [
            e for e in stored
            if (e.origin == PRELOADED and (e.path in configured or not self._knows_config))
            or (e.origin == IMPORTED and e.path.is_file())
        ]
        known = {e.path for e in entries}
        last_imported = max((i + 1 for i, e in enumerate(entries) if e.origin == IMPORTED), default=0)
        orphans = sorted(
            (p for p in self.packages_dir.glob("*.mbtiles") if p not in known),
            key=lambda p: p.stat().st_mtime, reverse=True,
        ) if self.packages_dir.is_dir() else []
        for offset, orphan in enumerate(orphans):
            entries.insert(last_imported + offset, PackageEntry(orphan, IMPORTED))
            known.add(orphan)
        for path in self._preloaded:
            resolved = path.resolve()
            if resolved not in known:
                entries.append(PackageEntry(resolved, PRELOADED))
                known.add(resolved)
        self._entries = entries
        if entries != stored:
            try:
                self._save()
            except OSError as exc:
                self.problems.append(f"The list of offline map packages could not be saved ({exc.strerror}).")

    def _entry_from_row(self, row: object) -> PackageEntry | None:
        if not isinstance(row, dict) or not isinstance(row.get("path"), str):
            return None
        origin = row.get("origin")
        if origin == IMPORTED:
            # only a bare file name inside our packages directory: an edited registry cannot point an
            # "imported" entry (which remove() deletes) at a file elsewhere
            name = Path(row["path"]).name
            if not name or name != row["path"] or not name.endswith(".mbtiles"):
                return None
            return PackageEntry(self.packages_dir / name, IMPORTED)
        if origin == PRELOADED:
            return PackageEntry(Path(row["path"]), PRELOADED)
        return None

    # ---- changing ----------------------------------------------------------------------

    def add_imported(self, path: Path) -> PackageEntry:
        """Register a copy just written into packages_dir, at the top (the newest wins)."""
        path = Path(path)
        if path.parent != self.packages_dir:
            raise RegistryError(f"{path.name} is not in the packages directory.")
        entry = PackageEntry(path, IMPORTED)
        self._entries = [entry] + [e for e in self._entries if e.path != path]
        self._save()
        return entry

    def find(self, name_or_path: str) -> PackageEntry:
        """An entry by file name, path, or 1-based position in the list."""
        for entry in self._entries:
            if name_or_path in (entry.path.name, str(entry.path), entry.path.stem):
                return entry
        if name_or_path.isdigit() and 1 <= int(name_or_path) <= len(self._entries):
            return self._entries[int(name_or_path) - 1]
        raise RegistryError(f"No offline map package is called {name_or_path!r}.")

    def remove(self, path: Path) -> PackageEntry:
        """Forget an imported package and delete its copy. Preloaded packages belong to agency IT."""
        entry = self._entry(path)
        if not entry.removable:
            raise RegistryError(
                f"{entry.path.name} is preloaded by agency IT (map_packages in the system configuration) and cannot be removed here."
            )
        self._entries = [e for e in self._entries if e.path != entry.path]
        self._save()
        entry.path.unlink(missing_ok=True)
        return entry

    def move(self, path: Path, offset: int) -> int:
        """Move a package up (offset < 0: higher priority) or down; returns its new index."""
        entry = self._entry(path)
        index = self._entries.index(entry)
        new_index = max(0, min(len(self._entries) - 1, index + offset))
        if new_index != index:
            self._entries.pop(index)
            self._entries.insert(new_index, entry)
            self._save()
        return new_index

    def _entry(self, path: Path) -> PackageEntry:
        for entry in self._entries:
            if entry.path == Path(path):
                return entry
        raise RegistryError(f"{Path(path).name} is not an offline map package of this workstation.")

    def _save(self) -> None:
        rows = [
            {"path": e.path.name if e.origin == IMPORTED else str(e.path), "origin": e.origin}
            for e in self._entries
        ]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".map-packages-", suffix=".json", dir=self.data_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"version": 1, "packages": rows}, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
