"""The encrypted store: single writer, readers on any thread, durable commits, and bad input
(wrong password, damaged/truncated/plaintext/foreign files, unusable data directories) that
is refused with one clear error and leaves every file as it was."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from local_db import keys
from local_db.models import Participant, Setting
from local_db.store import (
    DataDirError,
    Store,
    StoreCorrupt,
    StoreError,
    StoreNotFound,
    WrongPassword,
    open_store,
    open_store_with_key,
)
from tests.fixtures.store import run_with_read_only_dir

PLAINTEXT = b"SQLite format 3\x00"


def _participant(i: int) -> Participant:
    return Participant(
        id=f"p{i}", case_number=f"EM-{i:06d}", first_name="Ana", last_name=f"Lopez{i}", officer_id="o1"
    )


def _snapshot(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


def _count(store: Store) -> int:
    with store.read_session() as session:
        return session.scalar(select(func.count()).select_from(Participant)) or 0


def test_write_commits_and_returns_the_result_readable_from_another_thread(store: Store) -> None:
    assert store.write(lambda s: s.add(_participant(1)) or "done") == "done"
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.append(_count(store)))
    reader.start()
    reader.join()
    assert seen == [1]


def test_failed_write_rolls_back_and_reraises(store: Store) -> None:
    def half_then_fail(session: Session) -> None:
        session.add(_participant(1))
        session.flush()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        store.write(half_then_fail)
    assert _count(store) == 0
    store.write(lambda s: s.add(_participant(2)))  # the writer survives a failed write
    assert _count(store) == 1


def test_writes_run_on_one_writer_thread_and_durable_ones_use_synchronous_full(store: Store) -> None:
    def observe(session: Session) -> tuple[str, int]:
        level = session.execute(text("PRAGMA synchronous")).scalar_one()
        return threading.current_thread().name, int(level)

    name, normal = store.write(observe)
    name_again, full = store.write(observe, durable=True)
    _, normal_again = store.write(observe)
    assert name == name_again == "store-writer" != threading.current_thread().name
    assert (normal, full, normal_again) == (1, 2, 1)  # NORMAL, FULL for that commit only, NORMAL


def test_submit_returns_a_future_and_writes_keep_their_order(store: Store) -> None:
    futures = [store.submit(lambda s, i=i: s.add(_participant(i)) or i) for i in range(20)]
    assert [f.result(timeout=30) for f in futures] == list(range(20))
    assert _count(store) == 20


def test_nested_write_is_refused_instead_of_deadlocking(store: Store) -> None:
    with pytest.raises(RuntimeError, match="inside a write"):
        store.write(lambda s: store.write(lambda inner: None))


def test_readers_on_many_threads_never_see_locked_while_the_writer_works(store: Store) -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def read_loop() -> None:
        try:
            while not done.is_set():
                _count(store)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    readers = [threading.Thread(target=read_loop) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for batch in range(30):
            store.write(lambda s, b=batch: s.add_all(_participant(b * 10 + i) for i in range(10)))
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert errors == []
    assert _count(store) == 300


def test_close_stops_the_writer_and_refuses_new_writes(store_home: Path, store_password: str) -> None:
    opened = open_store(store_home, store_password, create=True)
    opened.write(lambda s: s.add(_participant(1)))
    opened.close()
    opened.close()  # idempotent
    assert not any(t.name == "store-writer" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(StoreError, match="closed"):
        opened.write(lambda s: None)


def test_files_on_disk_are_encrypted_and_private(store: Store) -> None:
    store.write(lambda s: s.add_all(_participant(i) for i in range(50)))
    files = [p for p in store.home.iterdir() if p.name.startswith("store.db")]
    assert {p.name for p in files} >= {"store.db", "store.db-wal"}
    for path in files:
        assert not path.read_bytes().startswith(PLAINTEXT)
        assert b"Lopez1" not in path.read_bytes()
        assert path.stat().st_mode & 0o077 == 0


def test_reopen_keeps_data_and_open_with_key_skips_the_password(
    store_home: Path, store_password: str
) -> None:
    with open_store(store_home, store_password, create=True) as first:
        first.write(lambda s: s.add(_participant(7)), durable=True)
    data_key = keys.unwrap_data_key(store_home, store_password)
    with open_store_with_key(store_home, data_key) as again:
        assert _count(again) == 1
        assert again.backup_made is None  # already at head: no migration, no backup


def test_change_password_leaves_the_database_untouched(store_home: Path, store_password: str) -> None:
    with open_store(store_home, store_password, create=True) as first:
        first.write(lambda s: s.add(_participant(1)))
    db_before = (store_home / "store.db").read_bytes()
    keys.change_password(store_home, store_password, "a new passphrase")
    assert (store_home / "store.db").read_bytes() == db_before
    with open_store(store_home, "a new passphrase") as again:
        assert _count(again) == 1


# -- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def filled_home(store_home: Path, store_password: str) -> Path:
    with open_store(store_home, store_password, create=True) as opened:
        opened.write(lambda s: s.add_all(_participant(i) for i in range(300)))
    return store_home


def test_wrong_password_changes_nothing(filled_home: Path) -> None:
    before = _snapshot(filled_home)
    with pytest.raises(WrongPassword, match="Wrong password"):
        open_store(filled_home, "not the password")
    assert _snapshot(filled_home) == before


def test_damaged_database_is_refused_and_left_as_it_is(
    filled_home: Path, store_password: str, tmp_path: Path
) -> None:
    # one filled store (creating one costs the real KDF), copied and damaged a different way each time
    for damage in ("garbage", "truncated_mid_page", "truncated_at_page", "first_page_flipped"):
        home = tmp_path / damage
        shutil.copytree(filled_home, home)
        db = home / "store.db"
        content = bytearray(db.read_bytes())
        if damage == "garbage":
            content = bytearray(os.urandom(len(content)))
        elif damage == "truncated_mid_page":
            content = content[: len(content) // 2 + 123]
        elif damage == "truncated_at_page":
            content = content[: (len(content) // 4096 // 2) * 4096]
        else:
            content[100] ^= 0xFF
        db.write_bytes(bytes(content))
        before = _snapshot(home)
        with pytest.raises(StoreCorrupt, match="damaged|truncated"):
            open_store(home, store_password)
        assert _snapshot(home) == before, damage


def test_empty_or_plaintext_database_is_refused(filled_home: Path, store_password: str) -> None:
    db = filled_home / "store.db"
    db.write_bytes(b"")
    with pytest.raises(StoreCorrupt, match="empty"):
        open_store(filled_home, store_password)
    db.write_bytes(PLAINTEXT + b"\x00" * 4080)
    with pytest.raises(StoreCorrupt, match="not encrypted"):
        open_store(filled_home, store_password)
    assert db.read_bytes().startswith(PLAINTEXT)


def test_database_without_its_key_file_is_refused(filled_home: Path, store_password: str) -> None:
    keys.keyfile_path(filled_home).unlink()
    before = _snapshot(filled_home)
    with pytest.raises(StoreCorrupt, match="no key file"):
        open_store(filled_home, store_password, create=True)
    assert _snapshot(filled_home) == before


def test_no_store_yet_without_create(store_home: Path, store_password: str) -> None:
    with pytest.raises(StoreNotFound):
        open_store(store_home, store_password)
    assert list(store_home.iterdir()) == []


def test_missing_or_non_directory_data_dir(tmp_path: Path, store_password: str) -> None:
    with pytest.raises(DataDirError, match="does not exist"):
        open_store(tmp_path / "nowhere", store_password, create=True)
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataDirError, match="not a directory"):
        open_store(tmp_path / "file", store_password, create=True)


@pytest.mark.parametrize("existing", [False, True])
def test_read_only_data_dir_is_refused(
    filled_home: Path, tmp_path: Path, store_password: str, existing: bool
) -> None:
    home = filled_home
    if not existing:
        home = tmp_path / "empty-home"
        home.mkdir()
    before = _snapshot(home)
    code = (
        "import sys; from pathlib import Path; from local_db.store import open_store, DataDirError\n"
        "try:\n    open_store(Path(sys.argv[1]), sys.argv[2], create=True)\n"
        "except DataDirError as e:\n    print(e); sys.exit(3)\n"
    )
    result = run_with_read_only_dir(home, [sys.executable, "-c", code, str(home), store_password])
    assert result.returncode == 3, result.stderr
    assert "read-only" in result.stdout
    assert _snapshot(home) == before


def test_failed_creation_leaves_nothing_behind(store_home: Path, store_password: str) -> None:
    # a directory where the write-ahead log must go makes creation fail after the key file was written
    (store_home / "store.db-wal").mkdir()
    with pytest.raises(StoreError):
        open_store(store_home, store_password, create=True)
    assert sorted(p.name for p in store_home.iterdir()) == ["store.db-wal"]


def test_settings_round_trip_json(store: Store) -> None:
    store.write(lambda s: s.add(Setting(key="map.layers", value={"zones": True, "n": [1, 2]})))
    with store.read_session() as session:
        assert session.get(Setting, "map.layers").value == {"zones": True, "n": [1, 2]}
