"""Offline map packages that last: registered in the data directory, re-opened at start, newest import
first, agency-preloaded ones from the system configuration, order changeable, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maps.packages import IMPORTED, PRELOADED, PackageRegistry, RegistryError
from maps.tiles import TileStore
from tests.maps.mbtiles_files import CHICAGO_Z14, png, vector_tile, write_mbutil, write_pymbtiles
from workstation import config as config_mod

RED, GREEN, BLUE = png((200, 30, 30)), png((30, 200, 30)), png((30, 30, 200))


def _store(home: Path, preloaded=()) -> TileStore:
    return TileStore.for_data_dir(home, preloaded=preloaded)


def test_import_survives_a_restart_and_wins_over_the_bundled_basemap(tmp_path):
    home = tmp_path / "home"
    basemap_tile = _store(home).get_tile(*CHICAGO_Z14)
    assert basemap_tile is not None  # the demo basemap covers central Chicago (built by make assets)
    source = write_pymbtiles(tmp_path / "agency area.mbtiles", {CHICAGO_Z14: RED})

    store = _store(home)
    info = store.import_mbtiles(source)
    assert store.get_tile(*CHICAGO_Z14) == RED
    store.close()

    again = _store(home)  # the app starts again
    assert again.get_tile(*CHICAGO_Z14) == RED
    views = again.package_views()
    assert [v.entry.origin for v in views] == [IMPORTED, "bundled"]
    assert views[0].info.path == info.path and views[0].info.name == "pymbtiles pack"
    again.close()


def test_newest_import_wins_the_order_changes_and_persists_and_remove_deletes_the_copy(tmp_path):
    home = tmp_path / "home"
    older = write_mbutil(tmp_path / "older.mbtiles", {CHICAGO_Z14: GREEN})
    newer = write_pymbtiles(tmp_path / "newer.mbtiles", {CHICAGO_Z14: BLUE})
    store = _store(home)
    first = store.import_mbtiles(older)
    second = store.import_mbtiles(newer)
    assert store.get_tile(*CHICAGO_Z14) == BLUE
    store.move_package(second.path, +1)  # the officer moves the newer one down
    assert store.get_tile(*CHICAGO_Z14) == GREEN
    store.close()

    store = _store(home)
    assert [v.entry.path for v in store.package_views()[:2]] == [first.path, second.path]
    assert store.get_tile(*CHICAGO_Z14) == GREEN
    store.remove_package(first.path)
    assert not first.path.exists()
    assert store.get_tile(*CHICAGO_Z14) == BLUE
    store.close()
    assert [e.path for e in PackageRegistry(home).entries()] == [second.path]


def test_agency_preloaded_packages_come_from_the_system_configuration(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "agency").mkdir()
    # pymbtiles itself builds its URI by hand (a '#' would cut its path short): renamed afterwards
    agency = write_pymbtiles(tmp_path / "agency" / "county.mbtiles", {CHICAGO_Z14: GREEN})
    agency = agency.rename(agency.with_name("county #2?.mbtiles"))
    system = tmp_path / "system.toml"
    system.write_text(f'map_packages = ["{agency}"]\n')
    (home / "config.toml").write_text(f'map_packages = ["{tmp_path / "other.mbtiles"}"]\n')
    config = config_mod.load_config(home=home, system_path=system, environ={})
    assert config.map_packages == (agency,)
    assert any("agency-managed" in p for p in config.problems)  # an officer's file cannot add any

    store = _store(home, config.map_packages)
    assert store.get_tile(*CHICAGO_Z14) == GREEN  # read in place, over the basemap; '#' in the name is fine
    imported = store.import_mbtiles(write_pymbtiles(tmp_path / "mine.mbtiles", {CHICAGO_Z14: RED}))
    assert [v.entry.origin for v in store.package_views()] == [IMPORTED, PRELOADED, "bundled"]
    assert store.get_tile(*CHICAGO_Z14) == RED
    with pytest.raises(RegistryError, match="preloaded by agency IT"):
        store.remove_package(agency)
    assert agency.exists()
    store.close()

    # agency IT drops it from the configuration: it is gone at the next start, the import stays
    store = _store(home, ())
    assert [v.entry.path for v in store.package_views()][:-1] == [imported.path]
    store.close()


def test_an_edited_registry_cannot_point_an_imported_entry_outside_the_packages_directory(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    victim = tmp_path / "precious.mbtiles"
    victim.write_bytes(b"keep me")
    (home / "map-packages.json").write_text(json.dumps(
        {"version": 1, "packages": [{"path": str(victim), "origin": "imported"}, {"path": "../x.mbtiles", "origin": "imported"}]}
    ))
    assert PackageRegistry(home).entries() == []
    (home / "map-packages.json").write_text("{not json")
    registry = PackageRegistry(home)
    assert registry.entries() == [] and "unreadable" in registry.problems[0]
    assert victim.read_bytes() == b"keep me"


def test_vector_package_imports_and_is_served_as_stored(tmp_path):
    home = tmp_path / "home"
    tile = vector_tile()
    store = _store(home)
    info = store.import_mbtiles(write_pymbtiles(tmp_path / "streets.mbtiles", {CHICAGO_Z14: tile}, "pbf"))
    assert info.is_vector and info.format == "pbf"
    assert store.get_tile(*CHICAGO_Z14) == tile
    store.close()


# --------------------------------------------------------------------------- the command line


def _cli(monkeypatch, capsys, home: Path, *argv: str, system: Path | None = None) -> tuple[int, str, str]:
    from ui import launcher

    monkeypatch.setenv("WORKSTATION_HOME", str(home))
    monkeypatch.setattr(config_mod, "system_config_path", lambda: system or home / "no-system.toml")
    rc = launcher.main(["maps", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_import_list_tile_remove(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    agency = write_pymbtiles(tmp_path / "agency.mbtiles", {CHICAGO_Z14: GREEN})
    system = tmp_path / "system.toml"
    system.write_text(f'map_packages = ["{agency}"]\n')
    source = write_mbutil(tmp_path / "streets.mbtiles", {CHICAGO_Z14: RED})
    source = source.rename(tmp_path / "streets?v=1#x.mbtiles")

    rc, out, err = _cli(monkeypatch, capsys, home, "import", str(source), system=system)
    assert rc == 0 and "imported mbutil pack: 1 raster tiles" in out, err
    rc, out, _ = _cli(monkeypatch, capsys, home, "list", "--json", system=system)
    rows = json.loads(out)
    assert [r["origin"] for r in rows] == ["imported", "preloaded", "bundled"]
    assert rows[0]["tiles"] == 1 and rows[0]["min_zoom"] == 14 and rows[0]["kind"] == "raster"
    assert rows[1]["path"] == str(agency) and not rows[1]["removable"]

    out_file = tmp_path / "tile.png"
    rc, out, _ = _cli(monkeypatch, capsys, home, "tile", *map(str, CHICAGO_Z14), "--out", str(out_file), system=system)
    assert rc == 0 and out_file.read_bytes() == RED and rows[0]["file"] in out

    rc, _, err = _cli(monkeypatch, capsys, home, "remove", "agency.mbtiles", system=system)
    assert rc == 1 and "preloaded by agency IT" in err and "Traceback" not in err
    rc, out, _ = _cli(monkeypatch, capsys, home, "remove", rows[0]["file"], system=system)
    assert rc == 0
    rc, out, _ = _cli(monkeypatch, capsys, home, "tile", *map(str, CHICAGO_Z14), "--out", str(out_file), system=system)
    assert rc == 0 and out_file.read_bytes() == GREEN and "agency.mbtiles" in out
    rc, out, _ = _cli(monkeypatch, capsys, home, "list", system=system)
    assert out.splitlines()[0].startswith(" 1. agency.mbtiles (preloaded, raster)")


def test_cli_refusals_are_one_sentence(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    junk = tmp_path / "junk.mbtiles"
    junk.write_bytes(b"not sqlite" * 100)
    rc, out, err = _cli(monkeypatch, capsys, home, "import", str(junk))
    assert rc == 1 and err.count("\n") == 1 and "junk.mbtiles" in err and "Traceback" not in err
    rc, _, err = _cli(monkeypatch, capsys, home, "tile", "3", "99", "0", "--out", str(tmp_path / "t"))
    assert rc == 1 and "no package has a tile at 3/99/0" in err
    rc, _, err = _cli(monkeypatch, capsys, home, "remove", "nothing")
    assert rc == 1 and "No offline map package is called 'nothing'" in err
    assert not any((home / "packages").glob("*")) if (home / "packages").exists() else True
