"""Key file: the data key is random, wrapped under the password, never on disk in clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_db import keys
from local_db.errors import StoreCorrupt, StoreNotFound, WrongPassword


def test_create_then_unwrap_returns_the_same_random_key(tmp_path: Path) -> None:
    data_key = keys.create_keyfile(tmp_path, "s3cret pass")
    assert len(data_key) == 32
    assert keys.unwrap_data_key(tmp_path, "s3cret pass") == data_key

    raw = keys.keyfile_path(tmp_path).read_bytes()
    record = json.loads(raw)
    assert record["kdf"] == "pbkdf2-sha256"
    assert record["iterations"] >= 600_000
    # neither the key (raw or hex) nor the password is in the file
    assert data_key not in raw and data_key.hex().encode() not in raw
    assert b"s3cret" not in raw
    assert keys.keyfile_path(tmp_path).stat().st_mode & 0o077 == 0
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]  # no temp file left behind


def test_wrong_password_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    keys.create_keyfile(tmp_path, "right")
    before = keys.keyfile_path(tmp_path).read_bytes()
    with pytest.raises(WrongPassword, match="Wrong password"):
        keys.unwrap_data_key(tmp_path, "wrong")
    with pytest.raises(WrongPassword):
        keys.change_password(tmp_path, "wrong", "new")
    assert keys.keyfile_path(tmp_path).read_bytes() == before


def test_change_password_rewraps_the_same_key_with_fresh_salt(tmp_path: Path) -> None:
    data_key = keys.create_keyfile(tmp_path, "old")
    salt_before = json.loads(keys.keyfile_path(tmp_path).read_bytes())["salt"]
    keys.change_password(tmp_path, "old", "new")
    assert keys.unwrap_data_key(tmp_path, "new") == data_key
    assert json.loads(keys.keyfile_path(tmp_path).read_bytes())["salt"] != salt_before
    with pytest.raises(WrongPassword):
        keys.unwrap_data_key(tmp_path, "old")


def test_existing_key_file_is_never_replaced(tmp_path: Path) -> None:
    keys.create_keyfile(tmp_path, "first")
    before = keys.keyfile_path(tmp_path).read_bytes()
    with pytest.raises(StoreCorrupt, match="already exists"):
        keys.create_keyfile(tmp_path, "second")
    assert keys.keyfile_path(tmp_path).read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"format": 1, "kdf": "pbkdf2-sha256"}', b'{"format": 99}', b"[1, 2]"],
)
def test_damaged_key_file_is_reported_as_corrupt(tmp_path: Path, content: bytes) -> None:
    keys.keyfile_path(tmp_path).write_bytes(content)
    with pytest.raises(StoreCorrupt, match="damaged or not ours"):
        keys.unwrap_data_key(tmp_path, "any")


def test_weakened_iteration_count_is_refused(tmp_path: Path) -> None:
    keys.create_keyfile(tmp_path, "pw")
    record = json.loads(keys.keyfile_path(tmp_path).read_bytes())
    record["iterations"] = 1000
    keys.keyfile_path(tmp_path).write_text(json.dumps(record))
    with pytest.raises(StoreCorrupt):
        keys.unwrap_data_key(tmp_path, "pw")


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound):
        keys.unwrap_data_key(tmp_path, "pw")
