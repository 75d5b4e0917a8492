"""Where the workstation keeps its data, and its settings.

Data directory: $WORKSTATION_HOME if set, else the platform's user data directory
(platformdirs: ~/.local/share/field-workstation on Linux, %LOCALAPPDATA%\\field-workstation
on Windows). It holds the encrypted store, its key file, backups, the workstation id and the
user's config.toml.

Settings, later layers winning field by field:
  1. the system file (agency-managed): /etc/field-workstation/config.toml on Linux,
     %PROGRAMDATA%\\field-workstation\\config.toml on Windows;
  2. the user's file: <data dir>/config.toml;
  3. environment: WORKSTATION_SERVER_URL, WORKSTATION_TILE_URL.
A file that does not parse, or a value of the wrong shape, is skipped with a message in
Config.problems (the app shows it) instead of stopping the app: a broken user file must not
lock an officer out in the field.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE, is_time_zone

APP_NAME = "field-workstation"
HOME_ENV = "WORKSTATION_HOME"
ENV_OVERRIDES = {"WORKSTATION_SERVER_URL": "server_url", "WORKSTATION_TILE_URL": "tile_url"}
CONFIG_FILE_NAME = "config.toml"
WORKSTATION_ID_FILE = "workstation_id"
DEFAULT_LOCK_TIMEOUT_MIN = 15
#: CJIS Security Policy 5.5.5: a session lock after at most 30 minutes of inactivity.
MAX_LOCK_TIMEOUT_MIN = 30
DEFAULT_RETENTION_DAYS = 7


@dataclass(frozen=True)
class Config:
    data_dir: Path
    server_url: str | None = None
    tile_url: str | None = None
    ca_bundle: Path | None = None
    cert_pin_sha256: str | None = None  # lowercase hex, no separators
    lock_timeout_min: int = DEFAULT_LOCK_TIMEOUT_MIN
    retention_days: int = DEFAULT_RETENTION_DAYS
    #: (security) agency setting: crypto-wipe after this many consecutive failed unlocks; None = never
    wipe_after_failures: int | None = None
    #: printed in the header of evidence packets and reports (workstation.reports); "" = not configured
    agency_name: str = ""
    #: (system configuration only) offline map packages agency IT preloads for every officer
    map_packages: tuple[Path, ...] = ()
    #: IANA zone of zones and schedules that name none, and of participants without zones (agency setting)
    agency_time_zone: str = DEFAULT_AGENCY_TIME_ZONE
    #: generated once and kept in the data dir; None when the data dir does not exist (yet)
    workstation_id: str | None = None
    #: officer-readable messages about skipped files or values
    problems: tuple[str, ...] = field(default=())
    #: which layer each non-default field came from ("system", "user", "env"), for diagnostics
    sources: Mapping[str, str] = field(default_factory=dict)


def data_dir() -> Path:
    """The data directory; not created here (see ensure_data_dir)."""
    override = os.environ.get(HOME_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


class NeverSynced(Exception):
    """The data directory holds no store yet: only a first sync (or the window's login) makes one."""


FIRST_SYNC_HINT = "run `workstation sync --server URL --user NAME` first"


def ensure_data_dir(*, create: bool = False) -> Path:
    """data_dir(), created (0700) on first run when it is the platform default or `create` is set
    (the first sync and the window's first login, which enrol this computer). Any other command
    on a directory that does not exist says so (NeverSynced) instead of making an empty one."""
    path = data_dir()
    if create or not os.environ.get(HOME_ENV, "").strip():
        if not path.exists():
            path.mkdir(parents=True, mode=0o700)
            path.chmod(0o700)  # mkdir's mode is cut by the umask
    elif not path.is_dir():
        raise NeverSynced(f"{path} does not exist: nothing has been synced here yet; {FIRST_SYNC_HINT}")
    return path


def system_config_path() -> Path:
    if os.name == "nt":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / APP_NAME / CONFIG_FILE_NAME
    return Path("/etc") / APP_NAME / CONFIG_FILE_NAME


def user_config_path(home: Path | None = None) -> Path:
    return (home or data_dir()) / CONFIG_FILE_NAME


def load_config(
    *,
    home: Path | None = None,
    system_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read the layers and return typed settings. Never raises for bad files or values."""
    home = home or data_dir()
    env = os.environ if environ is None else environ
    problems: list[str] = []
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    layers: list[tuple[str, Mapping[str, Any]]] = [
        ("system", _read_toml(system_path or system_config_path(), problems)),
        ("user", _read_toml(user_config_path(home), problems)),
        ("env", {key: env[var] for var, key in ENV_OVERRIDES.items() if env.get(var, "").strip()}),
    ]
    for layer, raw in layers:
        for key, raw_value in raw.items():
            parser = _FIELDS.get(key)
            if parser is None:
                problems.append(f"Unknown setting {key!r} in the {layer} configuration was ignored.")
                continue
            if key in _SYSTEM_ONLY and layer != "system":
                problems.append(f"Setting {key!r} is agency-managed (system configuration only); the {layer} one was ignored.")
                continue
            try:
                values[key] = parser(raw_value)
            except (TypeError, ValueError) as exc:
                problems.append(f"Setting {key!r} in the {layer} configuration was ignored: {exc}.")
                continue
            sources[key] = layer

    return Config(
        data_dir=home,
        workstation_id=_workstation_id(home, problems),
        problems=tuple(problems),
        sources=sources,
        **values,
    )


def _read_toml(path: Path, problems: list[str]) -> Mapping[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"Could not read the configuration file {path} ({exc}); it was ignored.")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"The configuration file {path} is not valid TOML ({exc}); it was ignored.")
    return {}


# -- field parsers: each turns a raw TOML/env value into the typed value or raises ValueError ----


def _http_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a URL string")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.strip().rstrip("/")


def _tile_url(value: Any) -> str:
    url = _http_url(value)
    if not all(token in url for token in ("{z}", "{x}", "{y}")):
        raise ValueError(f"{value!r} needs {{z}}, {{x}} and {{y}} placeholders")
    return url


def _path(value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a file path")
    return Path(value.strip()).expanduser()


def _path_list(value: Any) -> tuple[Path, ...]:
    if not isinstance(value, list):
        raise ValueError("expected a list of file paths")
    return tuple(_path(item) for item in value)


def _sha256_pin(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a SHA-256 fingerprint")
    digest = re.sub(r"[\s:]", "", value).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError("expected 64 hex digits (colons allowed)")
    return digest


def _lock_timeout(value: Any) -> int:
    minutes = _positive_int(value)
    return min(minutes, MAX_LOCK_TIMEOUT_MIN)


def _short_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected text")
    if len(value.strip()) > 200:
        raise ValueError("longer than 200 characters")
    return value.strip()


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("expected a whole number")
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _time_zone_name(value: Any) -> str:
    if not isinstance(value, str) or not is_time_zone(value.strip()):
        raise ValueError(f"{value!r} is not an IANA time zone name such as America/Chicago")
    return value.strip()


_FIELDS: dict[str, Callable[[Any], Any]] = {
    "server_url": _http_url,
    "tile_url": _tile_url,
    "ca_bundle": _path,
    "cert_pin_sha256": _sha256_pin,
    "lock_timeout_min": _lock_timeout,
    "retention_days": _positive_int,
    "wipe_after_failures": _positive_int,
    "agency_name": _short_text,
    "map_packages": _path_list,
    "agency_time_zone": _time_zone_name,
}
#: settings only the agency-managed system file may set
_SYSTEM_ONLY = frozenset({"map_packages"})


def _workstation_id(home: Path, problems: list[str]) -> str | None:
    """Read the id kept in the data dir, generating it the first time (atomically)."""
    path = home / WORKSTATION_ID_FILE
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"Could not read the workstation id in {path} ({exc}).")
        return None
    if existing:
        return existing
    if not home.is_dir():
        return None
    new_id = str(uuid.uuid4())
    try:
        fd, tmp = tempfile.mkstemp(prefix=".workstation_id-", dir=home)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(new_id + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        # link, not replace: if another process made the id meanwhile, its id wins
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text(encoding="ascii").strip()
        finally:
            os.unlink(tmp)
    except OSError as exc:
        problems.append(f"Could not store a workstation id in {home} ({exc.strerror}).")
        return None
    return new_id
