"""What "converged" means after a reliability campaign, as plain data (JSON-able)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from local_db.models import OutboxAction, Participant


def compare(store: Any, server: Any, officer_id: str, queued: list[str], text_like: str) -> dict[str, Any]:
    """Local caseload vs the server's, and every queued note applied on the server exactly once.

    `text_like`: SQL LIKE pattern matching the notes this campaign wrote (to find extras).
    """
    with store.read_session() as session:
        local = dict(session.execute(select(Participant.id, Participant.version)).all())
        states = dict(session.execute(select(OutboxAction.id, OutboxAction.state)).all())
    remote = dict(server.query("select id, version from participant where officer_id = :o", o=officer_id))
    on_server = [row[0] for row in server.query("select id from note where text like :t", t=text_like)]
    counts: dict[str, int] = {}
    for note_id in on_server:
        counts[note_id] = counts.get(note_id, 0) + 1
    queued_set = set(queued)
    return {
        "caseload_equal": local == remote,
        "participants_local": len(local),
        "participants_server": len(remote),
        "actions_queued": len(queued),
        "actions_applied_once": sum(1 for a in queued if counts.get(a) == 1),
        "actions_missing": sum(1 for a in queued if a not in counts),
        "actions_duplicated": sum(1 for n in counts.values() if n > 1),
        "unexpected_notes": sum(1 for note_id in counts if note_id not in queued_set),
        "outbox_not_done": sum(1 for a in queued if states.get(a) != "done"),
    }


def converged(report: dict[str, Any]) -> bool:
    return (
        report["caseload_equal"]
        and report["actions_applied_once"] == report["actions_queued"]
        and report["actions_duplicated"] == 0
        and report["unexpected_notes"] == 0
        and report["outbox_not_done"] == 0
    )
