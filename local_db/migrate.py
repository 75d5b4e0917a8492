"""Alembic migrations applied when the store opens.

Before any upgrade of an existing database, the (encrypted) file is copied to <home>/backups/
so a failed or regretted upgrade can be undone by hand. A database stamped with a revision this
code does not know was written by a newer version: it is refused, never touched.

Alembic is imported only when there is something to do: a store already at the head (every
open but the first after an upgrade) is recognised by one SELECT, which keeps alembic's import
(~0.15 s) off the sign-in path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError

from local_db.engine import checkpoint
from local_db.errors import DataDirError, StoreTooNew

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BACKUPS_DIR_NAME = "backups"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # revision ids already read NNNN_<slug> (local_db.make_migration); the file is named after them
    config.set_main_option("file_template", "%%(rev)s")
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "local_db/migrations/versions holds no revision"
    return head


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def newest_revision_file() -> str | None:
    """The head as the versions directory names it: revision ids are NNNN_<slug> and each revises
    the one numbered before it (one chain; tests/local_db/test_migrations.py checks both), so the
    head is the highest number. None where the sources are not there to read (a frozen build)."""
    return max((p.stem for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")), default=None)


def _stored_revision(connection: Connection) -> str | None:
    try:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError:  # no alembic_version table: a new store
        return None


def upgrade_to_head(engine: Engine, db_path: Path, home: Path) -> str | None:
    """Bring the database to the code's head revision; returns the backup path's name if one was made."""
    newest = newest_revision_file()
    if newest is not None:
        with engine.connect() as conn:
            if _stored_revision(conn) == newest:
                return None  # already there: no alembic needed
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    with engine.connect() as conn:
        current = current_revision(conn)
        has_tables = bool(inspect(conn).get_table_names())
    if current == head:
        return None
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise StoreTooNew(
            f"This data was written by a newer version of Field Workstation (database revision "
            f"{current}, this version knows up to {head}). Install the newer version; nothing was changed."
        )
    backup = None
    if current is not None or has_tables:
        backup = _backup(engine, db_path, home, current or "unversioned")
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return backup.name if backup else None


def _backup(engine: Engine, db_path: Path, home: Path, revision: str) -> Path:
    """Copy the encrypted database file (after folding the WAL into it) to <home>/backups/."""
    # after a full checkpoint the main file is complete on its own, so a plain copy is a full backup
    checkpoint(engine)
    backups = home / BACKUPS_DIR_NAME
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = backups / f"store-{revision}-{stamp}.db"
    try:
        backups.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".backup-", suffix=".tmp", dir=backups)
        try:
            with os.fdopen(fd, "wb") as out, open(db_path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise DataDirError(
            f"Cannot back up the database to {backups} before upgrading it: {exc.strerror}. Nothing was changed."
        ) from None
    return target
