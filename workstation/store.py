"""The encrypted store as the front ends name it: the handle they hold and hand back to the
core's queries (workstation.read) and actions (workstation.actions), never reading it themselves."""

from __future__ import annotations

from local_db.store import Store

__all__ = ["Store"]
