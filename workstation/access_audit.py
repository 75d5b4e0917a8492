"""AU-2 rows for what the officer looks at besides a record: a caseload search and a track on the map.

One place says what each row holds, for the GUI (ui/search_audit.py, ui/main_window.py) and the CLI
(workstation/commands/caseload.py) alike. Every function returns once the row is durable and raises
local_db.audit.AuditWriteFailed otherwise; the caller then shows nothing (AU-5). The search text is
CJI-derived (a name, a case number) but stays inside the encrypted store and goes to the agency server
with the rest of the chain, which is where a reviewer needs it.
"""

from __future__ import annotations

import json

from local_db import audit as audit_log
from local_db.store import Store


def search_target(query: str) -> str:
    return f"query:{query.strip()}"


def audit_search(store: Store, query: str, *, via: str, rows_shown: int | None = None) -> int:
    """A search of the caseload (`via`: "gui" or "cli caseload")."""
    detail = {"via": via} | ({} if rows_shown is None else {"rows_shown": rows_shown})
    return audit_log.audit(store, "search", search_target(query), "ok", json.dumps(detail))


def audit_map_view(store: Store, participant_id: str, fixes: int) -> int:
    """A participant's location history drawn on the map: a view of its own, before it is shown."""
    return audit_log.audit(store, "map_view", f"participant:{participant_id}", "ok", f"track of {fixes} fixes")
