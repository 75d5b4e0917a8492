"""One version string, and the frozen-aware parts of workstation.resources / the frozen entry."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET

import pytest

from tests.installer.conftest import INSTALLER, REPO
from workstation import resources, version


def _pyproject_version() -> str:
    with open(REPO / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["version"]


@pytest.fixture
def fresh_version_cache():
    version.app_version.cache_clear()
    yield
    version.app_version.cache_clear()


def test_app_version_is_the_pyproject_version(fresh_version_cache):
    assert version.app_version() == _pyproject_version() == version.pyproject_version()


def test_appstream_metadata_lists_the_current_version_as_latest_release():
    tree = ET.parse(INSTALLER / "linux" / "org.fieldworkstation.FieldWorkstation.metainfo.xml")
    releases = tree.getroot().findall("./releases/release")
    assert releases, "the metainfo has no <release>"
    assert releases[0].get("version") == _pyproject_version(), (
        "add a <release> for the new version at the top of the metainfo <releases>"
    )


def test_frozen_build_reads_the_baked_version_file(monkeypatch, tmp_path, fresh_version_cache):
    (tmp_path / "workstation").mkdir()
    (tmp_path / "workstation" / "VERSION").write_text("9.8.7\n", encoding="ascii")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.is_frozen()
    assert resources.resource_path("maps", "assets") == tmp_path / "maps" / "assets"
    assert version.app_version() == "9.8.7"


def test_server_command_from_source_and_frozen(monkeypatch, tmp_path):
    assert resources.server_command() == [sys.executable, "-m", "sync_server"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.server_command() == [sys.executable, resources.FROZEN_SERVER_MODE]


def test_frozen_entry_dispatches_server_mode_to_the_sync_server():
    # The frozen binary runs this very script; from source it proves the `server` dispatch.
    done = subprocess.run(
        [sys.executable, str(INSTALLER / "frozen_entry.py"), resources.FROZEN_SERVER_MODE, "--help"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr
    assert "--seed" in done.stdout and "sync-server" in done.stdout


def test_frozen_entry_hands_everything_else_to_the_workstation_launcher():
    done = subprocess.run(
        [sys.executable, str(INSTALLER / "frozen_entry.py"), "selftest", "--help"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr
    assert "selftest" in done.stdout and "--json" in done.stdout
