"""The Linux desktop integration files and the example system configuration."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET

import bundle_manifest as manifest
import pytest

from tests.installer.conftest import INSTALLER
from workstation import config

LINUX = INSTALLER / "linux"
DESKTOP = LINUX / f"{manifest.APP_ID}.desktop"
METAINFO = LINUX / f"{manifest.APP_ID}.metainfo.xml"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validates():
    done = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error" not in done.stdout.lower()


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_validates():
    done = subprocess.run(["appstreamcli", "validate", "--no-net", "--no-color", str(METAINFO)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_desktop_file_metainfo_and_launcher_agree():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(DESKTOP, encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Exec"].split()[0] == manifest.APP_NAME
    assert desktop["Icon"] == manifest.APP_ID
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == manifest.APP_ID
    assert root.findtext("launchable") == DESKTOP.name
    assert root.findtext("./provides/binary") == manifest.APP_NAME
    launcher = (LINUX / manifest.APP_NAME).read_text(encoding="utf-8")
    assert re.search(rf"^exec /opt/{manifest.APP_NAME}/{manifest.APP_NAME} \"\$@\"$", launcher, re.M)


def _uncommented_example(text: str) -> str:
    """The example with every commented-out `# key = value` setting switched on."""
    return "\n".join(re.sub(r"^# (\w+ = .*)$", r"\1", line) for line in text.splitlines())


def test_example_system_config_is_accepted_by_the_loader(tmp_path):
    example = (LINUX / "config.toml").read_text(encoding="utf-8")
    assert tomllib.loads(example) == {}, "the shipped file must change nothing until IT edits it"
    enabled = tmp_path / "config.toml"
    enabled.write_text(_uncommented_example(example), encoding="utf-8")
    settings = tomllib.loads(enabled.read_text(encoding="utf-8"))
    assert set(settings) == {"server_url", "tile_url", "ca_bundle", "cert_pin_sha256", "lock_timeout_min",
                             "retention_days"}
    home = tmp_path / "home"
    home.mkdir()
    loaded = config.load_config(home=home, system_path=enabled, environ={})
    assert loaded.problems == ()
    assert {key for key, layer in loaded.sources.items() if layer == "system"} == set(settings)
