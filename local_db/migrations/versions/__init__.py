"""Alembic revisions of the local store (a package so that wheels and bundles carry them)."""
