"""Server incidents on the workstation: synced, acted on through the outbox, and the
"already resolved by X at T; your note was added" outcome instead of a conflict."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from local_db.models import Alert, Incident
from tests.workstation.test_sync import outbox_row
from workstation import actions, incident_actions
from workstation.protocol import GatewayFix


def _tamper_incident(server, session) -> str:
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    server.ingest([GatewayFix(serial=serial, fix_time=datetime.now(UTC), lat=41.88, lon=-87.63, event="strap_tamper")])
    assert session.sync_now().ok
    with session.store.read_session() as db:
        incident = next(i for i in db.scalars(select(Incident).where(Incident.state == "open"))
                        if "strap_tamper" in i.kinds)
        assert incident is not None and incident.needs_action and incident.due_at is not None
        return incident.id


def test_resolved_elsewhere_ends_as_already_resolved_with_the_note_added(sync_server_factory, open_session):
    server = sync_server_factory(caseload=6)
    mine, other = open_session(server), open_session(server)  # the same officer on two laptops
    incident_id = _tamper_incident(server, mine)
    assert other.sync_now().ok
    # offline on this laptop: queued, not sent
    queued = incident_actions.resolve_incident(mine.store, incident_id, "strap checked on the visit, intact")
    assert len(queued) == 1
    with mine.store.read_session() as db:
        local = db.get(Incident, incident_id)
        assert local.state == "resolved" and local.pending
    # meanwhile the other laptop resolves it
    actions.resolve_server_incident(other.store, incident_id, note="replaced the strap")
    assert other.sync_now().actions_applied == 1
    summary = mine.sync_now()
    assert summary.ok and summary.actions_conflict == 0 and summary.actions_rejected == 0
    assert summary.actions_already_resolved == 1
    row = outbox_row(mine, queued[0])
    assert row.state == "done"
    assert row.last_error.startswith("already resolved by officer1 at ") and row.last_error.endswith(
        "your note was added")
    assert server.query("select text from note where id = :i", i=queued[0]) == [("strap checked on the visit, intact",)]
    assert server.query("select state, resolution from incident where id = :i", i=incident_id) == [
        ("resolved", "resolved")]
    with mine.store.read_session() as db:
        local = db.get(Incident, incident_id)
        assert local.state == "resolved" and not local.pending
        assert {a.state for a in db.scalars(select(Alert).where(Alert.incident_id == incident_id))} == {"resolved"}


def test_acknowledge_keeps_it_needing_action_and_a_tamper_needs_a_note(sync_server_factory, open_session):
    server = sync_server_factory(caseload=6)
    mine = open_session(server)
    incident_id = _tamper_incident(server, mine)
    with pytest.raises(actions.ActionInvalid, match="without a note"):
        actions.resolve_server_incident(mine.store, incident_id, note="  ")
    action_id = actions.acknowledge_server_incident(mine.store, incident_id)
    summary = mine.sync_now()
    assert summary.actions_applied == 1 and outbox_row(mine, action_id).state == "done"
    [(state, needs_action, by)] = server.query(
        "select state, needs_action, acknowledged_by from incident where id = :i", i=incident_id)
    assert (state, bool(needs_action), by) == ("acknowledged", True, "officer1")
    assert server.query("select state from alert where incident_id = :i", i=incident_id) == [("acknowledged",)]
    with mine.store.read_session() as db:
        local = db.get(Incident, incident_id)
        assert local.state == "acknowledged" and local.needs_action and not local.pending
