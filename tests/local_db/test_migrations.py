"""Migrations on open: a real first-release database upgrades and keeps its data (with an
encrypted backup made first), the models and the migrations agree, and a database from a
newer version is refused untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from local_db import keys
from local_db.engine import make_engine
from local_db.migrate import current_revision, head_revision
from local_db.models import Base, OutboxAction, Participant
from local_db.queries import caseload_rows
from local_db.store import Store, StoreTooNew, open_store
from tests.local_db.fixtures.build_v1_store import V1_HOME, V1_PARTICIPANTS, V1_PASSWORD, V1_REVISION

PLAINTEXT = b"SQLite format 3\x00"


@pytest.fixture
def v1_home(tmp_path: Path) -> Path:
    home = tmp_path / "v1"
    shutil.copytree(V1_HOME, home)
    return home


def _revision(home: Path, db_file: Path | None = None) -> str | None:
    engine = make_engine(db_file or home / "store.db", keys.unwrap_data_key(home, V1_PASSWORD))
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def test_the_fixture_really_is_at_the_first_revision(v1_home: Path) -> None:
    assert V1_REVISION != head_revision()
    assert _revision(v1_home) == V1_REVISION
    assert not (v1_home / "store.db").read_bytes().startswith(PLAINTEXT)


def test_opening_an_old_database_upgrades_it_keeps_data_and_backs_it_up(v1_home: Path) -> None:
    original = (v1_home / "store.db").read_bytes()
    with open_store(v1_home, V1_PASSWORD) as store:
        assert store.backup_made is not None
        with store.read_session() as session:
            assert session.scalar(select(func.count()).select_from(Participant)) == len(V1_PARTICIPANTS)
            assert session.scalar(select(func.count()).select_from(OutboxAction)) == len(V1_PARTICIPANTS)
            indexes = {ix["name"] for ix in inspect(session.connection()).get_indexes("outbox_action")}
            assert "ix_outbox_participant_seq" in indexes  # revision 2
            triggers = set(session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
            assert {"audit_event_no_update", "audit_event_no_delete"} <= triggers  # revision 3
            # the search index made by revision 1 still answers after the upgrade
            (row,) = caseload_rows(session, "garcia maria")
            assert (row.participant_id, row.device_id, row.legal_flags) == (
                "p-v1-1",
                "d-p-v1-1",
                ("asylum_pending",),
            )
        backup = v1_home / "backups" / store.backup_made
    assert _revision(v1_home) == head_revision()
    # the backup is the old file, byte for byte: still encrypted, still at the old revision
    assert backup.read_bytes() == original
    assert _revision(v1_home, backup) == V1_REVISION

    with open_store(v1_home, V1_PASSWORD) as again:  # second open: nothing to do
        assert again.backup_made is None
    assert len(list((v1_home / "backups").iterdir())) == 1


def test_models_and_migrations_agree(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": lambda name, type_, _: not (name or "").startswith("participant_fts")}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_database_from_a_newer_version_is_refused_untouched(v1_home: Path) -> None:
    engine = make_engine(v1_home / "store.db", keys.unwrap_data_key(v1_home, V1_PASSWORD))
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    engine.dispose()
    before = {p.name: p.read_bytes() for p in v1_home.iterdir()}
    with pytest.raises(StoreTooNew, match="newer version"):
        open_store(v1_home, V1_PASSWORD)
    assert {p.name: p.read_bytes() for p in v1_home.iterdir()} == before


def test_the_revisions_are_one_numbered_chain_so_the_newest_file_is_the_head() -> None:
    """Opening a store at the head skips alembic (local_db.migrate.newest_revision_file): that is
    only right while the ids are NNNN_<slug>, each revising the one numbered before it."""
    from alembic.script import ScriptDirectory

    from local_db.migrate import alembic_config, newest_revision_file

    script = ScriptDirectory.from_config(alembic_config())
    revisions = sorted(script.walk_revisions(), key=lambda r: r.revision)
    assert [r.revision[:4] for r in revisions] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    assert [r.down_revision for r in revisions] == [None] + [r.revision for r in revisions[:-1]]
    assert newest_revision_file() == head_revision() == revisions[-1].revision
