"""What goes into the frozen bundle, as plain data the PyInstaller spec applies and the tests check.

Kept apart from field-workstation.spec (which only PyInstaller can execute) so that
tests/installer can assert, without building anything, that the QtWebEngine pieces the map needs
survive the trimming, and so the spec stays a short list of steps.

Standard library only: it is imported by the spec inside PyInstaller and by pytest.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

APP_NAME = "field-workstation"
APP_ID = "org.fieldworkstation.FieldWorkstation"

# Our own packages. Every submodule is a hidden import (the launcher imports the GUI lazily and
# the server is reached only through the `server` mode), and every non-Python file inside them is
# bundled at the same relative path, which is where workstation.resources.resource_path looks.
PROJECT_PACKAGES = ("workstation", "ui", "maps", "local_db", "sync_server")

# Directories whose .py files are data, not modules: Alembic loads its env.py and revision
# scripts by file path (ScriptDirectory), never through the import system.
PYTHON_SOURCE_AS_DATA = ("local_db/migrations",)

# The Qt Python modules the app needs. QtWebEngineCore/Widgets and QtWebChannel carry the map;
# their PyInstaller hooks collect QtWebEngineProcess, icudtl.dat, the .pak resources and locales.
REQUIRED_QT_MODULES = (
    "PySide6.QtCore",
    "PySide6.QtGui",
    "PySide6.QtWidgets",
    "PySide6.QtNetwork",
    "PySide6.QtSvg",
    "PySide6.QtPrintSupport",
    "PySide6.QtWebChannel",
    "PySide6.QtWebEngineCore",
    "PySide6.QtWebEngineWidgets",
)

# Imports PyInstaller cannot see because they happen by name at run time.
THIRD_PARTY_HIDDEN_IMPORTS = (
    # SQLAlchemy's pysqlcipher dialect imports the driver inside a function.
    "sqlcipher3",
    "sqlcipher3.dbapi2",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.sqlite.pysqlcipher",
    "sqlalchemy.dialects.sqlite.pysqlite",
    # Alembic revision scripts run `from alembic import op` from files loaded by path.
    "alembic",
    "alembic.op",
    "alembic.context",
    "alembic.runtime.migration",
    "alembic.runtime.environment",
    "alembic.script",
    "alembic.ddl.sqlite",
    "alembic.ddl.impl",
    "alembic.operations.toimpl",
    # uvicorn picks its event loop and protocol implementations by name (its hook adds the rest).
    "uvicorn.loops.auto",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.lifespan.on",
    # anyio loads its backend by name.
    "anyio._backends._asyncio",
    "pydantic",
    "pydantic_core",
    "zstandard",
    "platformdirs",
    "faker",
)

# Qt bindings the app never imports. Excluding the Python module also skips its hook, so its QML
# tree, plugins and translations stay out; C++ libraries that QtWebEngineCore links to (Qml,
# Quick, OpenGL, Positioning) still arrive through binary dependency analysis, as they must. The
# QtWebEngine bindings themselves import only QtCore/Gui/Widgets/Network/PrintSupport/WebChannel.
EXCLUDED_QT_MODULES = tuple(
    f"PySide6.{name}"
    for name in (
        "Qt3DAnimation", "Qt3DCore", "Qt3DExtras", "Qt3DInput", "Qt3DLogic", "Qt3DRender",
        "QtAxContainer", "QtBluetooth", "QtCanvasPainter", "QtCharts", "QtConcurrent", "QtDBus",
        "QtDataVisualization", "QtDesigner", "QtGraphs", "QtGraphsWidgets", "QtHelp", "QtHttpServer",
        "QtLabsStyleKit", "QtLocation", "QtMultimedia", "QtMultimediaWidgets", "QtNetworkAuth",
        "QtNfc", "QtOpenGL", "QtOpenGLWidgets", "QtPdf", "QtPdfWidgets", "QtPositioning", "QtQml", "QtQmlFeatures", "QtQuick", "QtQuick3D",
        "QtQuickControls2", "QtQuickTest", "QtQuickWidgets", "QtRemoteObjects", "QtScxml",
        "QtSensors", "QtSerialBus", "QtSerialPort", "QtSpatialAudio", "QtSql", "QtStateMachine",
        "QtTest", "QtTextToSpeech", "QtUiTools", "QtWebEngineQuick", "QtWebSockets", "QtWebView",
        "QtXml",
    )
)

# Our modules that only build assets (`python -m maps.build_assets`) or are developer tools. The
# app reads what they produced (maps/assets/generated, the basemap) and never imports them.
BUILD_TIME_MODULES = ("maps.build_assets", "maps.basemap", "maps.demo_window", "maps.vector_sample")

# What only those build-time modules import: folium renders the page template (and imports NumPy,
# ~40 MiB with OpenBLAS); the basemap renderer needs mapbox-vector-tile, Shapely, pyclipper and
# protobuf. Excluded by name, because the app's lazy fall-backs for a source checkout
# (maps.page.page_template, maps.scheme.no_tiles_png) mention them. Pillow is not among them: the
# evidence packet's track map (maps.track_map) and its images in the PDF (ReportLab) need it.
BUILD_TIME_PYTHON_MODULES = (
    "folium", "branca", "jinja2", "numpy", "shapely", "mapbox_vector_tile", "pyclipper",
    "google.protobuf",
)

# Development-only Python packages that must never ride along (test runners, linters, the freezer).
EXCLUDED_PYTHON_MODULES = (
    "tkinter", "_tkinter", "pytest", "_pytest", "pytestqt", "hypothesis", "ruff", "importlinter",
    "grimp", "trustme", "psycopg2", "PyInstaller", "pip", "setuptools", "pkg_resources", "IPython",
    "matplotlib", "PySide6.scripts", "PySide6.support.deprecated", "zstandard.backend_cffi",
) + BUILD_TIME_MODULES + BUILD_TIME_PYTHON_MODULES

# Faker ships its providers as source for some 80 locales (12 MiB). The demo server's seeder reads
# the person-name tables of en_US and es_MX only; faker imports every provider package's
# __init__ (kept) and the locale packages on demand (all but these dropped).
FAKER_LOCALES_KEPT = ("en_US", "en", "es", "es_MX")

# Bundle-relative paths (PyInstaller destination names, POSIX separators) dropped after analysis.
# Qt's own .qm translations: the UI is English and ships no Qt translation; the WebEngine
# locales are handled by WEBENGINE_LOCALES_KEPT. Devtools resources: the app never opens
# the inspector. Qt plugins for things we do not use (multimedia, sql drivers, sensors...).
DROPPED_BUNDLE_PATTERNS = (
    "PySide6/Qt/translations/*.qm",
    "PySide6/Qt/resources/qtwebengine_devtools_resources.pak",
    "PySide6/Qt/qml/*",
    "PySide6/Qt/plugins/multimedia/*",
    "PySide6/Qt/plugins/sqldrivers/*",
    "PySide6/Qt/plugins/sensors/*",
    "PySide6/Qt/plugins/position/*",
    "PySide6/Qt/plugins/qmltooling/*",
    "PySide6/Qt/plugins/designer/*",
    "PySide6/Qt/plugins/texttospeech/*",
    "PySide6/Qt/plugins/canbus/*",
    "PySide6/Qt/plugins/geoservices/*",
    "PySide6/Qt/plugins/renderers/*",
    "PySide6/Qt/plugins/sceneparsers/*",
    "PySide6/Qt/plugins/assetimporters/*",
    "PySide6/Qt/plugins/scxmldatamodel/*",
    "PySide6/Qt/plugins/help/*",
    # Embedded-device platforms (framebuffer, EGLFS, VNC) and their evdev input plugins.
    "PySide6/Qt/plugins/egldeviceintegrations/*",
    "PySide6/Qt/plugins/generic/*",
    "PySide6/Qt/plugins/platforms/libqeglfs.so",
    "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so",
    "PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so",
    "PySide6/Qt/plugins/platforms/libqvnc.so",
    "PySide6/Qt/lib/libQt6EglFSDeviceIntegration.so.6",
    "PySide6/Qt/lib/libQt6EglFsKmsSupport.so.6",
    # GTK file dialogs would pull GTK 3 in; Qt's own dialogs are used instead.
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
    # The virtual keyboard is a QML component, and the QML tree is not shipped.
    "PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
    "PySide6/Qt/lib/libQt6VirtualKeyboard*.so.6",
    # zstandard's CFFI backend duplicates its C extension, which is the one it loads.
    "zstandard/_cffi.*",
    # Image formats Qt widgets never meet here (map tiles are decoded by Chromium, not by Qt;
    # photos and icons are PNG, JPEG, GIF, SVG or ICO).
    "PySide6/Qt/plugins/imageformats/libqtiff.so",
    "PySide6/Qt/plugins/imageformats/libqwebp.so",
    "PySide6/Qt/plugins/imageformats/libqtga.so",
    "PySide6/Qt/plugins/imageformats/libqwbmp.so",
    "PySide6/Qt/plugins/imageformats/libqicns.so",
    # Qt's TLS backends serve QSslSocket/QNetworkAccessManager, which the app does not use: the sync
    # client is httpx (Python's ssl) and QtWebEngine has Chromium's own TLS stack.
    "PySide6/Qt/plugins/tls/*",
    # East Asian legacy codecs (Shift-JIS, Big5, GB2312, EUC-KR, ISO-2022): every payload here is
    # UTF-8 JSON, HTML or PNG.
    "python3.11/lib-dynload/_codecs_*",
)

# When building the .deb, libraries PyInstaller picked up from the distribution itself (NSS,
# GnuTLS, OpenSSL, X11/xcb, fontconfig...) are left out and become package dependencies
# (dpkg-shlibdeps in build_deb.sh), so Debian's security updates reach them. Libraries that come
# from wheels (Qt, ICU, numpy.libs...) and from the Python build stay bundled.
SYSTEM_LIBRARY_DIRS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")

WEBENGINE_LOCALES_DIR = "PySide6/Qt/translations/qtwebengine_locales"
WEBENGINE_LOCALES_KEPT = ("en-US.pak",)

# What a built bundle must contain for the map to work (checked by installer/test_deb.sh and by
# tests against the installed wheel's layout). Missing any of these is the classic
# "Could not find QtWebEngineProcess" / blank page failure (pyinstaller #4341, tufup #145).
REQUIRED_WEBENGINE_FILES = (
    "PySide6/Qt/libexec/QtWebEngineProcess",
    "PySide6/Qt/resources/icudtl.dat",
    "PySide6/Qt/resources/qtwebengine_resources.pak",
    "PySide6/Qt/resources/qtwebengine_resources_100p.pak",
    "PySide6/Qt/resources/qtwebengine_resources_200p.pak",
    "PySide6/Qt/resources/v8_context_snapshot.bin",
    f"{WEBENGINE_LOCALES_DIR}/en-US.pak",
    "PySide6/QtWebEngineCore.abi3.so",
    "PySide6/QtWebEngineWidgets.abi3.so",
    "PySide6/QtWebChannel.abi3.so",
    "PySide6/Qt/lib/libQt6WebEngineCore.so.6",
)


# Transient files a build step may leave next to real assets (SQLite journals, partial downloads).
EXCLUDED_DATA_PATTERNS = ("*.partial", "*.partial-journal", "*-journal", "*-wal", "*-shm", "*.tmp", ".*")


_LOCALE = re.compile(r"[a-z]{2,3}(_[A-Z]{2}|_[A-Z][a-z]{3})?")


def _posix(dest: str) -> str:
    return PurePosixPath(*Path(dest).parts).as_posix()


def faker_locale(module_or_path: str) -> str | None:
    """The locale of a faker provider module or file (faker.providers.person.de_DE -> "de_DE"), else None."""
    parts = module_or_path.replace("\\", "/").replace("/", ".").split(".")
    if parts[:2] != ["faker", "providers"] or len(parts) < 4:
        return None
    candidate = parts[3]
    if candidate == parts[2]:  # faker.providers.sbn.sbn: a provider's own module, not a locale
        return None
    return candidate if _LOCALE.fullmatch(candidate) else None


def keep_faker_module(name: str) -> bool:
    locale = faker_locale(name)
    return locale is None or locale in FAKER_LOCALES_KEPT


def keep_in_bundle(dest: str) -> bool:
    """False for a bundle-relative destination the trimming rules drop."""
    path = _posix(dest)
    parent, _, name = path.rpartition("/")
    if parent == WEBENGINE_LOCALES_DIR:
        return name in WEBENGINE_LOCALES_KEPT
    if path.startswith("faker/providers/") and not keep_faker_module(path):
        return False
    return not any(fnmatch.fnmatchcase(path, pattern) for pattern in DROPPED_BUNDLE_PATTERNS)


def trim_python_modules(entries: Iterable[tuple]) -> list[tuple]:
    """Filter a PyInstaller pure-module TOC (module name, path, typecode): faker locales not kept."""
    return [entry for entry in entries if keep_faker_module(entry[0])]


def trim_toc(entries: Iterable[tuple]) -> list[tuple]:
    """Filter a PyInstaller TOC (dest_name, src_name, typecode) with keep_in_bundle."""
    return [entry for entry in entries if keep_in_bundle(entry[0])]


def is_system_library(source: str) -> bool:
    return source.startswith(SYSTEM_LIBRARY_DIRS)


def drop_system_libraries(entries: Iterable[tuple]) -> list[tuple]:
    """Filter a PyInstaller binaries TOC, leaving out libraries of the host distribution."""
    return [entry for entry in entries if not is_system_library(str(entry[1]))]


def _is_python_data(relative: PurePosixPath) -> bool:
    return any(relative.as_posix().startswith(prefix + "/") for prefix in PYTHON_SOURCE_AS_DATA)


def project_data_files(project_root: Path) -> Iterator[tuple[str, str]]:
    """(source file, destination directory) for every data file of our packages.

    Everything that is not Python source or bytecode is data (map assets, the demo basemap,
    migrations' alembic.ini, server JSON); Alembic's script directory is data wholesale.
    """
    for package in PROJECT_PACKAGES:
        base = project_root / package
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
            for filename in sorted(filenames):
                source = Path(dirpath) / filename
                relative = PurePosixPath(source.relative_to(project_root).as_posix())
                if source.suffix == ".pyc" or any(fnmatch.fnmatchcase(filename, p) for p in EXCLUDED_DATA_PATTERNS):
                    continue
                if source.suffix == ".py" and not _is_python_data(relative):
                    continue
                yield str(source), relative.parent.as_posix()


# Generated by `python -m maps.build_assets` (make setup) and read by the app instead of running
# folium and Pillow: a bundle without them would fall back to modules it does not carry.
REQUIRED_GENERATED_ASSETS = (
    "maps/assets/generated/map.template.html",
    "maps/assets/generated/no-tiles.png",
    "maps/assets/basemap/chicago.mbtiles",
    "maps/assets/vendor/leaflet/leaflet.js",
    "maps/assets/vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js",
)


def missing_required_files(bundle_root: Path) -> list[str]:
    """Required WebEngine files and generated map assets absent from a built bundle (its _internal)."""
    required = REQUIRED_WEBENGINE_FILES + REQUIRED_GENERATED_ASSETS
    return [rel for rel in required if not (bundle_root / rel).exists()]
