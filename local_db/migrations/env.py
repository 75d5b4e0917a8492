"""Alembic environment for the local store.

Runs only through local_db.migrate, which hands over an already-keyed SQLCipher connection in
config.attributes["connection"]; there is no URL and no alembic.ini (the key never appears in
configuration). Batch mode because SQLite cannot ALTER most things in place.
"""

from alembic import context

from local_db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("local_db migrations run only through local_db.migrate (they need a keyed connection)")


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # the FTS5 index and its shadow tables are made by hand in the migrations, not by models
    return not (type_ == "table" and name is not None and name.startswith("participant_fts"))


context.configure(
    connection=connection,
    include_name=_include_name,
    target_metadata=Base.metadata,
    render_as_batch=True,
    # one transaction for the whole upgrade: SQLite DDL is transactional, so a failed step
    # leaves the database exactly as it was
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
