"""The application's one version string (Help -> About, the workstation version sent to the server,
the installer file names).

The source of truth is `version` in pyproject.toml. An installed checkout reads it from the package
metadata pip wrote from pyproject; a frozen build reads the file the PyInstaller spec baked into the
bundle at build time (FROZEN_VERSION_FILE), because a frozen app must not depend on which
dist-info directories the freezer happened to collect. A bare source tree that was never installed
falls back to parsing pyproject.toml itself.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import metadata

from workstation.resources import is_frozen, resource_path

DISTRIBUTION = "field-workstation"
# Relative to the bundle root; written by installer/field-workstation.spec.
FROZEN_VERSION_FILE = ("workstation", "VERSION")


def pyproject_version(pyproject: str | None = None) -> str:
    path = resource_path("pyproject.toml") if pyproject is None else pyproject
    with open(path, "rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


@functools.cache
def app_version() -> str:
    if is_frozen():
        return resource_path(*FROZEN_VERSION_FILE).read_text(encoding="ascii").strip()
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return pyproject_version()


__all__ = ["DISTRIBUTION", "FROZEN_VERSION_FILE", "app_version", "pyproject_version"]
