"""Write a new Alembic revision for a change to local_db/models.py.

    python -m local_db.make_migration "add participant nickname"

Builds a throw-away encrypted database at the current head, lets Alembic compare it with the
models (batch mode, FTS tables excluded) and writes local_db/migrations/versions/NNNN_<slug>.py
with the next number. Read and edit the result: autogenerate misses triggers, data moves and
renames. Migrations run only through the store (they need a keyed connection), never with the
alembic command line.
"""

from __future__ import annotations

import argparse
import re
import secrets
import tempfile
from pathlib import Path

from alembic import command

from local_db.engine import make_engine, verify_key_and_file
from local_db.migrate import MIGRATIONS_DIR, alembic_config


def next_revision_id(message: str) -> str:
    numbers = [
        int(m.group(1))
        for p in (MIGRATIONS_DIR / "versions").glob("*.py")
        if (m := re.match(r"(\d{4})_", p.name))
    ]
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "change"
    return f"{max(numbers, default=0) + 1:04d}_{slug}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_db.make_migration", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("message")
    parser.add_argument(
        "--empty", action="store_true", help="no autogenerate: an empty revision to fill by hand"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "store.db"
        engine = make_engine(db_path, secrets.token_bytes(32))
        try:
            verify_key_and_file(engine, db_path)
            with engine.begin() as conn:
                config = alembic_config()
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                command.revision(
                    config,
                    message=args.message,
                    autogenerate=not args.empty,
                    rev_id=next_revision_id(args.message),
                )
        finally:
            engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
