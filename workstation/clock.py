"""The time the store keeps, for front ends that must not import local_db: naive UTC."""

from __future__ import annotations

from local_db.timeutil import utc_now

__all__ = ["utc_now"]
