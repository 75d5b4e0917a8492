"""Layered configuration: system file, user file, environment; bad files and values are
skipped with a message; the workstation id is made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from workstation import config


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def _load(home: Path, system: Path, **env: str):  # type: ignore[no-untyped-def]
    return config.load_config(home=home, system_path=system, environ=env)


def test_defaults_when_nothing_is_configured(home: Path, tmp_path: Path) -> None:
    cfg = _load(home, tmp_path / "no-system.toml")
    assert cfg.data_dir == home
    assert (cfg.server_url, cfg.tile_url, cfg.ca_bundle, cfg.cert_pin_sha256) == (None, None, None, None)
    assert (cfg.lock_timeout_min, cfg.retention_days) == (15, 7)
    assert cfg.problems == ()


def test_layers_system_then_user_then_environment(home: Path, tmp_path: Path) -> None:
    system = tmp_path / "system.toml"
    system.write_text(
        'server_url = "https://agency.example/"\n'
        'tile_url = "https://tiles.agency.example/{z}/{x}/{y}.png"\n'
        "lock_timeout_min = 10\nretention_days = 14\n"
        'cert_pin_sha256 = "AB:' + ":".join(["cd"] * 31) + '"\n'
    )
    (home / "config.toml").write_text('server_url = "https://other.example"\nca_bundle = "~/agency-ca.pem"\n')
    cfg = _load(home, system, WORKSTATION_TILE_URL="http://127.0.0.1:9000/{z}/{x}/{y}.pbf")
    assert cfg.server_url == "https://other.example"  # user over system
    assert cfg.tile_url == "http://127.0.0.1:9000/{z}/{x}/{y}.pbf"  # environment over both
    assert cfg.lock_timeout_min == 10 and cfg.retention_days == 14  # system values kept
    assert cfg.cert_pin_sha256 == "ab" + "cd" * 31
    assert cfg.ca_bundle == Path("~/agency-ca.pem").expanduser()
    assert cfg.sources == {
        "server_url": "user",
        "tile_url": "env",
        "lock_timeout_min": "system",
        "retention_days": "system",
        "cert_pin_sha256": "system",
        "ca_bundle": "user",
    }
    assert _load(home, system, WORKSTATION_SERVER_URL="https://env.example").server_url == "https://env.example"


def test_lock_timeout_is_capped_at_30_minutes(home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text("lock_timeout_min = 240\n")
    assert _load(home, tmp_path / "none").lock_timeout_min == 30


def test_corrupt_user_file_is_skipped_with_a_clear_message(home: Path, tmp_path: Path) -> None:
    system = tmp_path / "system.toml"
    system.write_text('server_url = "https://agency.example"\n')
    (home / "config.toml").write_text("server_url = [unterminated\n")
    cfg = _load(home, system)
    assert cfg.server_url == "https://agency.example"
    (problem,) = cfg.problems
    assert str(home / "config.toml") in problem and "not valid TOML" in problem


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('server_url = "ftp://x"', "server_url"),
        ('tile_url = "https://tiles.example/tile.png"', "tile_url"),
        ('cert_pin_sha256 = "abc"', "cert_pin_sha256"),
        ("lock_timeout_min = 0", "lock_timeout_min"),
        ("retention_days = true", "retention_days"),
        ('colour = "blue"', "colour"),
    ],
)
def test_bad_values_are_skipped_and_named(home: Path, tmp_path: Path, line: str, key: str) -> None:
    (home / "config.toml").write_text(line + "\n")
    cfg = _load(home, tmp_path / "none")
    (problem,) = cfg.problems
    assert repr(key) in problem
    assert cfg == config.Config(data_dir=home, workstation_id=cfg.workstation_id, problems=cfg.problems)


def test_workstation_id_is_generated_once_and_kept(home: Path, tmp_path: Path) -> None:
    first = _load(home, tmp_path / "none").workstation_id
    assert first and len(first) == 36
    assert (home / "workstation_id").read_text().strip() == first
    assert _load(home, tmp_path / "none").workstation_id == first
    assert [p.name for p in home.iterdir()] == ["workstation_id"]  # no temp file left behind
    assert _load(tmp_path / "missing", tmp_path / "none").workstation_id is None


def test_data_dir_from_environment_or_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKSTATION_HOME", str(tmp_path / "explicit"))
    assert config.data_dir() == tmp_path / "explicit"
    with pytest.raises(config.NeverSynced, match="nothing has been synced here yet"):
        config.ensure_data_dir()
    assert not (tmp_path / "explicit").exists()  # an explicit home is created only by enrolment...
    assert config.ensure_data_dir(create=True) == tmp_path / "explicit"  # ...the first sync or login
    assert (tmp_path / "explicit").stat().st_mode & 0o777 == 0o700
    monkeypatch.delenv("WORKSTATION_HOME")
    assert config.data_dir().name == "field-workstation"
