"""The frozen bundle's contents rules (installer/bundle_manifest.py) against the real installed
PySide6 wheel and the real source tree: the QtWebEngine pieces survive trimming, nothing the
code imports is excluded, and the project's data files are found where resource_path() looks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import bundle_manifest as manifest
import PySide6
import pytest

from tests.installer.conftest import REPO

PYSIDE_DIR = Path(PySide6.__file__).resolve().parent
SITE_PACKAGES = PYSIDE_DIR.parent


def test_webengine_modules_are_required_and_never_excluded():
    required = set(manifest.REQUIRED_QT_MODULES)
    for module in ("PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.QtWebChannel"):
        assert module in required
    assert not required & set(manifest.EXCLUDED_QT_MODULES)


def test_every_required_webengine_file_exists_in_the_wheel_and_survives_trimming():
    for relative in manifest.REQUIRED_WEBENGINE_FILES:
        assert (SITE_PACKAGES / relative).exists(), f"{relative} is not where the PySide6 wheel puts it"
        assert manifest.keep_in_bundle(relative), f"trimming would drop {relative}"


def test_only_the_english_webengine_locale_is_kept():
    locales = sorted((PYSIDE_DIR / "Qt" / "translations" / "qtwebengine_locales").glob("*.pak"))
    assert len(locales) > 10  # the wheel ships many; the rule must pick exactly one
    kept = [p.name for p in locales if manifest.keep_in_bundle(p.relative_to(SITE_PACKAGES).as_posix())]
    assert kept == ["en-US.pak"]


def test_trim_toc_drops_translations_qml_and_unused_platforms_but_keeps_xcb_and_wayland():
    toc = [
        ("PySide6/Qt/translations/qtbase_de.qm", "/x", "DATA"),
        ("PySide6/Qt/qml/QtQuick/Controls/qmldir", "/x", "DATA"),
        ("PySide6/Qt/plugins/platforms/libqvnc.so", "/x", "BINARY"),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", "/x", "BINARY"),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", "/x", "BINARY"),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", "/x", "BINARY"),
        ("maps/assets/basemap/chicago.mbtiles", "/x", "DATA"),
    ]
    kept = [dest for dest, _, _ in manifest.trim_toc(toc)]
    assert kept == [
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "maps/assets/basemap/chicago.mbtiles",
    ]


def test_system_libraries_are_left_to_the_package_dependencies():
    toc = [
        ("libnss3.so", "/usr/lib/x86_64-linux-gnu/libnss3.so", "BINARY"),
        ("libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1", "BINARY"),
        ("PySide6/Qt/lib/libQt6Core.so.6", str(PYSIDE_DIR / "Qt/lib/libQt6Core.so.6"), "BINARY"),
    ]
    assert [dest for dest, _, _ in manifest.drop_system_libraries(toc)] == ["PySide6/Qt/lib/libQt6Core.so.6"]


def _qt_modules_imported_by(package_dir: Path) -> set[str]:
    """PySide6.QtXxx modules a package imports, read from the syntax tree of its sources."""
    found: set[str] = set()
    for source in package_dir.rglob("*.py"):
        try:
            tree = ast.parse(source.read_text(encoding="utf-8"))
        except SyntaxError:  # another part being edited right now; its own tests catch that
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("PySide6"):
                if node.module == "PySide6":
                    found.update(f"PySide6.{alias.name}" for alias in node.names)
                else:
                    found.add(".".join(node.module.split(".")[:2]))
            elif isinstance(node, ast.Import):
                found.update(".".join(a.name.split(".")[:2]) for a in node.names if a.name.startswith("PySide6."))
    return found


def test_no_qt_module_the_code_imports_is_excluded_from_the_bundle():
    imported: set[str] = set()
    for package in manifest.PROJECT_PACKAGES:
        imported |= _qt_modules_imported_by(REPO / package)
    excluded_but_used = imported & set(manifest.EXCLUDED_QT_MODULES)
    assert not excluded_but_used, f"the app imports {sorted(excluded_but_used)}; remove them from EXCLUDED_QT_MODULES"


def test_project_data_files_keep_layout_and_treat_migrations_as_data(tmp_path):
    (tmp_path / "maps" / "assets" / "basemap").mkdir(parents=True)
    (tmp_path / "maps" / "assets" / "basemap" / "chicago.mbtiles").write_bytes(b"x")
    (tmp_path / "maps" / "assets" / "basemap" / "chicago.partial").write_bytes(b"x")
    (tmp_path / "maps" / "assets" / "basemap" / "chicago.partial-journal").write_bytes(b"x")
    (tmp_path / "maps" / "page.py").write_text("")
    (tmp_path / "maps" / "__pycache__").mkdir()
    (tmp_path / "maps" / "__pycache__" / "page.cpython-311.pyc").write_bytes(b"")
    versions = tmp_path / "local_db" / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "0001_initial.py").write_text("")
    (tmp_path / "local_db" / "migrations" / "env.py").write_text("")
    (tmp_path / "local_db" / "migrations" / "script.py.mako").write_text("")
    (tmp_path / "local_db" / "store.py").write_text("")

    found = sorted((Path(src).relative_to(tmp_path).as_posix(), dest)
                   for src, dest in manifest.project_data_files(tmp_path))
    assert found == [
        ("local_db/migrations/env.py", "local_db/migrations"),
        ("local_db/migrations/script.py.mako", "local_db/migrations"),
        ("local_db/migrations/versions/0001_initial.py", "local_db/migrations/versions"),
        ("maps/assets/basemap/chicago.mbtiles", "maps/assets/basemap"),
    ]


def test_the_real_tree_bundles_the_migrations_and_the_server_schema():
    destinations = {Path(src).relative_to(REPO).as_posix() for src, _ in manifest.project_data_files(REPO)}
    assert "local_db/migrations/env.py" in destinations
    assert any(re.fullmatch(r"local_db/migrations/versions/\d+_\w+\.py", d) for d in destinations)
    if (REPO / "sync_server" / "openapi.json").exists():
        assert "sync_server/openapi.json" in destinations


def test_the_spec_applies_the_manifest():
    spec = (REPO / "installer" / "field-workstation.spec").read_text(encoding="utf-8")
    for step in ("manifest.project_data_files", "manifest.REQUIRED_QT_MODULES", "manifest.EXCLUDED_QT_MODULES",
                 "manifest.trim_toc(a.datas)", "manifest.trim_toc(a.binaries)", "frozen_entry.py",
                 "manifest.trim_python_modules(a.pure)", "manifest.BUILD_TIME_MODULES"):
        assert step in spec, f"field-workstation.spec no longer uses {step}"


@pytest.mark.parametrize("script", ["build_deb.sh", "test_deb.sh"])
def test_shell_scripts_parse(script):
    import subprocess

    subprocess.run(["bash", "-n", str(REPO / "installer" / script)], check=True)



def _module_level_imports(path: Path) -> set[str]:
    """Modules a file imports when it is imported (module level only; lazy imports inside functions
    are the source-checkout fall-backs the bundle does without)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_app_imports_nothing_the_bundle_leaves_out():
    left_out = manifest.BUILD_TIME_MODULES + manifest.BUILD_TIME_PYTHON_MODULES
    offenders = []
    for package in manifest.PROJECT_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            if module in manifest.BUILD_TIME_MODULES or "migrations" in path.parts:
                continue
            for name in _module_level_imports(path):
                if any(name == out or name.startswith(out + ".") for out in left_out):
                    offenders.append(f"{module} imports {name}")
    assert not offenders, offenders


def test_faker_keeps_the_seeders_name_tables_and_drops_other_locales():
    keep = manifest.keep_faker_module
    assert keep("faker.providers.person") and keep("faker.providers.person.en_US")
    assert keep("faker.providers.person.es_MX") and keep("faker.providers.person.es")  # es_MX's parent
    assert keep("faker.providers.color.color") and keep("faker.providers.sbn.rules")  # not locales
    assert keep("faker.providers.sbn.sbn")  # three lower-case letters, but the provider's own module
    assert not keep("faker.providers.person.de_DE") and not keep("faker.providers.address.zh_TW")
    assert not keep("faker.providers.person.sr_Latn_RS".rsplit("_", 1)[0])  # sr_Latn
    assert manifest.keep_in_bundle("faker/providers/person/en_US/__init__.py")
    assert not manifest.keep_in_bundle("faker/providers/person/fr_FR/__init__.py")
    toc = [("faker.providers.person.fr_FR", "x", "PYMODULE"), ("faker.providers.person.en_US", "y", "PYMODULE")]
    assert manifest.trim_python_modules(toc) == toc[1:]


def test_the_seeders_faker_imports_are_kept():
    seeder = (REPO / "sync_server" / "seeder.py").read_text(encoding="utf-8")
    for module in re.findall(r"^from (faker\.[\w.]+) import", seeder, flags=re.MULTILINE):
        assert manifest.keep_faker_module(module), module


def test_the_app_does_not_use_qt_networking_whose_tls_plugins_are_dropped():
    assert not manifest.keep_in_bundle("PySide6/Qt/plugins/tls/libqopensslbackend.so")
    for package in manifest.PROJECT_PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "QtNetwork" not in text and "QSslSocket" not in text, path
    assert manifest.keep_in_bundle("PySide6/Qt/plugins/imageformats/libqjpeg.so")


def test_every_faker_module_that_faker_imports_itself_is_kept():
    """faker imports each provider package, which imports its own non-locale modules (sbn.sbn,
    isbn.isbn, color.color): all of them must survive the locale trimming (the frozen demo crashed
    on faker.providers.sbn.sbn once)."""
    import subprocess
    import sys

    probe = ("import sys; from faker.providers.person.en_US import Provider; "
             "from faker.providers.person.es_MX import Provider; "
             "print('\\n'.join(m for m in sys.modules if m.startswith('faker.providers.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    dropped = [name for name in out.split() if not manifest.keep_faker_module(name)]
    assert not dropped, dropped
