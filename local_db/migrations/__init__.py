"""Alembic migrations of the local store, shipped as package data and run by local_db.migrate."""
