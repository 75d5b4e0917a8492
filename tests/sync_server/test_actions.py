"""POST /v1/actions:batch: applied / duplicate / conflict / rejected, and effects reaching the feed."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date, timedelta

import httpx

from sync_server.caseload import record
from sync_server.db import utcnow
from sync_server.models import Alert, Incident
from tests.sync_server.conftest import action, now_iso, pull_all
from workstation.protocol import ActionBatchResult
from workstation.rules.incidents import family_of


def _send(client, *actions: dict) -> list[dict]:
    response = client.post("/v1/actions:batch", json={"actions": list(actions)})
    assert response.status_code == 200, response.text
    return ActionBatchResult.model_validate_json(response.content).model_dump(mode="json")["results"]


def _first_participant(server) -> str:
    return server.query("select id from participant where officer_id = 'off1' order by id limit 1")[0][0]


def _alert(server, participant_id: str, kind: str) -> str:
    """An open alert of `kind` on the participant, written as the back office would (row + feed entry)."""
    alert_id = f"al-test-{kind}"
    with server.db.write() as session:
        row = Alert(id=alert_id, version=1, participant_id=participant_id, device_id=None, kind=kind,
                    severity="critical", opened_at=utcnow(), state="open", detail="")
        session.add(row)
        record(session, "alert", row)
    return alert_id


def test_batch_sent_twice_applies_once(sync_server_factory, client_for, db_url):
    sync_server = sync_server_factory(caseload=3, db_url=db_url)
    client = client_for(sync_server)
    pid = _first_participant(sync_server)
    note = action("add_note", pid, {"text": "Visited; all fine."})
    first = _send(client, note)
    assert first[0]["status"] == "applied"
    assert first[0]["result"]["id"] == note["id"]  # the note keeps the client's action id
    second = _send(client, note)
    assert second[0]["status"] == "duplicate" and second[0]["result"] == first[0]["result"]
    assert sync_server.count_notes(note["id"]) == 1
    assert sync_server.query("select count(*) from applied_action where id = :i", i=note["id"]) == [(1,)]
    # the effect is in the feed for the next pull
    changes, _ = pull_all(client)
    assert any(c["entity"] == "note" and c["id"] == note["id"] for c in changes)


def test_same_id_different_payload_is_rejected(sync_server, client_for):
    client = client_for(sync_server)
    pid = _first_participant(sync_server)
    note = action("add_note", pid, {"text": "one"})
    _send(client, note)
    changed = {**note, "payload": {"text": "two"}}
    (result,) = _send(client, changed)
    assert result["status"] == "rejected" and "different action" in result["reason"]
    assert sync_server.query("select text from note where id = :i", i=note["id"]) == [("one",)]


def test_every_action_kind_applies(sync_server, client_for):
    client = client_for(sync_server)
    pid = _first_participant(sync_server)
    appt = sync_server.query("select id from appointment where participant_id = :p limit 1", p=pid)[0][0]
    alert_id = _alert(sync_server, pid, "low_battery")
    results = _send(
        client,
        action("add_note", pid, {"text": "note"}),
        action("record_contact", pid, {"kind": "home_visit", "outcome": "not_home", "occurred_at": now_iso(),
                                       "place": "front door", "lat": 41.88, "lon": -87.63}),
        action("record_checkin", pid, {"kind": "office_checkin", "occurred_at": now_iso(), "appointment_id": appt}),
        action("request_schedule_change", pid, {"requested_time": now_iso(), "reason": "works a night shift"}),
        action("acknowledge_alert", alert_id, {"note": ""}),
        action("resolve_alert", alert_id, {"resolution": "charged", "note": "Participant charged the device."}),
    )
    assert [r["status"] for r in results] == ["applied"] * 6, results
    assert results[1]["result"]["kind"] == "home_visit" and results[1]["result"]["outcome"] == "not_home"
    assert sync_server.query("select status from appointment where id = :a", a=appt) == [("completed",)]
    assert results[5]["result"]["state"] == "resolved" and results[5]["server_version"] == 3
    kinds = sorted(r[0] for r in sync_server.query("select kind from note where participant_id = :p and "
                                                   "author = 'officer1'", p=pid))
    assert kinds == ["home_visit", "note", "note", "office_checkin", "schedule_request"]


def test_conflict_returns_current_state_and_does_not_block_the_rest(sync_server, client_for):
    client = client_for(sync_server)
    pid = _first_participant(sync_server)
    alert_id = _alert(sync_server, pid, "zone_exit")
    stale = action("acknowledge_alert", alert_id, {}, base_version=1)
    # someone else resolved it (v2): the officer's acknowledge was made without seeing that
    _send(client, action("resolve_alert", alert_id, {"note": "seen to"}, base_version=1))
    results = _send(
        client,
        stale,
        action("add_note", "p-not-mine", {"text": "x"}),
        action("add_note", pid, {"text": "after the failures"}),
    )
    assert [r["status"] for r in results] == ["conflict", "rejected", "applied"]
    assert results[0]["server_version"] == 2 and results[0]["current"]["state"] == "resolved"
    assert results[1]["reason"] == "unknown participant"
    # a conflicting action is not recorded: the same id may be resent after the officer decides
    again = _send(client, {**stale, "base_version": 2})
    assert again[0]["status"] == "applied"
    assert sync_server.query("select state, version from alert where id = :a", a=alert_id) == [("resolved", 2)]


def test_acknowledge_and_resolve_apply_over_changes_they_do_not_decide(sync_server, client_for):
    """Only the alert's state is what the officer decides: an acknowledge based on an older version
    (a live alert, or one that got new data since) applies, and so does a resolve of an alert someone
    acknowledged meanwhile; an acknowledge of an acknowledged alert is already true."""
    client = client_for(sync_server)
    pid = _first_participant(sync_server)
    alert_id = _alert(sync_server, pid, "zone_exit")
    with sync_server.db.write() as session:  # new data on the alert: version 1 -> 5, still open
        session.get(Alert, alert_id).version = 5
    results = _send(
        client,
        action("acknowledge_alert", alert_id, {}, base_version=0),
        action("acknowledge_alert", alert_id, {"note": "seen twice"}, base_version=1),
        action("resolve_alert", alert_id, {"note": "back inside"}, base_version=1),
    )
    assert [r["status"] for r in results] == ["applied"] * 3, results
    assert [r["server_version"] for r in results] == [6, 6, 7]
    assert sync_server.query("select state, acknowledged_by, version from alert where id = :a", a=alert_id) == [
        ("resolved", "officer1", 7)
    ]


def test_rejections(sync_server_factory, client_for):
    server = sync_server_factory(officers=2, caseload=2)
    client = client_for(server)
    pid = _first_participant(server)
    theirs = server.query("select id from participant where officer_id = 'off2' limit 1")[0][0]
    tamper = _alert(server, pid, "strap_tamper")
    results = _send(
        client,
        action("add_note", theirs, {"text": "not my caseload"}),
        action("add_note", pid, {"text": ""}),
        action("add_note", pid, {"wrong": "field"}),
        action("resolve_alert", tamper, {"resolution": "ok"}),
        action("record_checkin", pid, {"kind": "office_checkin", "occurred_at": now_iso(), "appointment_id": "nope"}),
        action("acknowledge_alert", "al-unknown", {}),
    )
    assert [r["status"] for r in results] == ["rejected"] * 6
    assert "without a note" in results[3]["reason"]
    assert server.query("select state from alert where id = :a", a=tamper) == [("open",)]
    assert server.query("select count(*) from applied_action") == [(0,)]
    assert server.count_notes() == server.query("select count(*) from note where author = 'officer'")[0][0]
    # with the note, the tamper alert resolves
    ok = _send(client, action("resolve_alert", tamper, {"note": "Strap replaced at office."}))
    assert ok[0]["status"] == "applied"


def test_batch_level_errors_write_nothing(sync_server, client_for):
    client = client_for(sync_server)
    pid = _first_participant(sync_server)
    same = action("add_note", pid, {"text": "x"})
    twice = client.post("/v1/actions:batch", json={"actions": [same, same]})
    assert twice.status_code == 422 and twice.json()["error"] == "duplicate_action_ids"
    bad_kind = client.post("/v1/actions:batch", json={"actions": [{**same, "kind": "delete_everything"}]})
    assert bad_kind.status_code == 422 and bad_kind.json()["error"] == "invalid_request"
    assert client.post("/v1/actions:batch", json={"actions": []}).status_code == 422
    assert sync_server.count_notes(same["id"]) == 0


def test_concurrent_duplicates_apply_once(sync_server_factory, client_for, db_url):
    sync_server = sync_server_factory(caseload=2, db_url=db_url)
    pid = _first_participant(sync_server)
    note = action("add_note", pid, {"text": "raced"}, action_id=uuid.uuid4())
    clients = [client_for(sync_server, workstation_id=f"ws-{i}") for i in range(4)]
    statuses: list[str] = []
    threads = [threading.Thread(target=lambda c=c: statuses.extend(r["status"] for r in _send(c, note)))
               for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == ["applied", "duplicate", "duplicate", "duplicate"]
    assert sync_server.count_notes(note["id"]) == 1


def test_audit_upload_is_stored_once_per_workstation_and_seq(sync_server_factory, client_for, db_url):
    sync_server = sync_server_factory(caseload=1, db_url=db_url)
    client = client_for(sync_server, workstation_id="ws-audit")

    def record(seq: int) -> dict:
        return {"seq": seq, "at": now_iso(), "officer": "officer1", "workstation_id": "ws-audit",
                "event": "login", "prev_hash": "0" * 64 if seq == 1 else f"h{seq - 1}", "hash": f"h{seq}"}

    intact = {"chain_ok": True, "broken_at": None, "reason": ""}

    first = client.post("/v1/audit", json={"records": [record(1), record(2)]})
    assert first.status_code == 200 and first.json() == {"acknowledged_through": 2, **intact}
    again = client.post("/v1/audit", json={"records": [record(2), record(3)]})  # a lost ack: resent row 2
    assert again.json() == {"acknowledged_through": 3, **intact}
    assert sync_server.query("select seq from audit_upload where workstation_id = 'ws-audit' order by seq") == [
        (1,), (2,), (3,)]
    # a gap, and a row that differs from the server's copy: reported, and kept in audit_chain_break
    gap = client.post("/v1/audit", json={"records": [record(5)]}).json()
    assert gap == {"acknowledged_through": 5, "chain_ok": False, "broken_at": 5,
                   "reason": "gap: rows 4..4 never reached the server"}
    differs = client.post("/v1/audit", json={"records": [{**record(2), "hash": "other"}]}).json()
    assert (differs["chain_ok"], differs["broken_at"]) == (False, 2)
    assert sync_server.query("select seq from audit_chain_break where workstation_id = 'ws-audit' order by seq") == [
        (2,), (5,)]
    kept = sync_server.query("select seq, record from audit_upload_conflict where workstation_id = 'ws-audit'")
    assert [(seq, json.loads(r)["hash"]) for seq, r in kept] == [(2, "other")]  # beside the held copy
    assert client.post("/v1/audit", json={"records": [{**record(4), "seq": 0}]}).status_code == 422


def test_officer_supplied_times_are_bounded_and_no_date_gives_a_5xx(sync_server_factory, client_for, db_url):
    server = sync_server_factory(caseload=1, db_url=db_url)
    client = client_for(server)
    pid = _first_participant(server)
    (start,) = server.query("select supervision_start from participant where id = :p", p=pid)[0]
    before_start = f"{date.fromisoformat(str(start)) - timedelta(days=2)}T12:00:00-06:00"

    def visit(occurred_at: str) -> dict:
        return action("record_contact", pid, {"kind": "home_visit", "outcome": "not_home", "occurred_at": occurred_at})

    dates = ["2099-01-01T10:00:00+00:00", "1970-01-01T00:00:00+00:00", "0001-01-01T00:00:00+05:00",
             "9999-12-31T23:59:59-05:00", before_start]
    results = _send(
        client, *[visit(d) for d in dates],
        action("request_schedule_change", pid, {"requested_time": "0001-01-01T00:00:00+05:00", "reason": "r"}),
        {**action("add_note", pid, {"text": "from the future"}), "created_at": "9999-12-31T23:59:59-05:00"},
        visit(now_iso()),
    )
    assert [r["status"] for r in results] == ["rejected"] * 7 + ["applied"], results
    assert "after" in results[0]["reason"] and "before" in results[1]["reason"]
    assert results[4]["reason"].startswith("occurred_at") and "requested_time" in results[5]["reason"]
    assert "created_at" in results[6]["reason"]
    # nor does a device's: a time with no UTC equivalent is bad input, not a server failure
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    for fix_time in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        fix = {"serial": serial, "fix_time": fix_time, "lat": 41.9, "lon": -87.6}
        refused = httpx.post(f"{server.url}/v1/ingest/fixes", json={"fixes": [fix]},
                             headers={"X-Gateway-Key": server.gateway_key})
        assert refused.status_code == 422 and "range of UTC dates" in refused.json()["detail"]


def _incident(server, participant_id: str, kind: str) -> str:
    """An open incident of one alert of `kind`, written as the server's rules would (row + feed entry)."""
    alert_id = _alert(server, participant_id, kind)
    incident_id = f"inc-test-{kind}"
    now = utcnow()
    with server.db.write() as session:
        row = Incident(id=incident_id, version=1, participant_id=participant_id, device_id=None,
                       family=family_of(kind), kinds=[kind], severity="critical", state="open", opened_at=now,
                       updated_at=now, last_alert_at=now, alert_count=1, needs_action=True, needs_action_since=now)
        session.add(row)
        session.get(Alert, alert_id).incident_id = incident_id
        record(session, "incident", row)
    return incident_id


def test_incident_actions_are_refused_one_by_one_and_their_neighbours_apply(sync_server_factory, client_for, db_url):
    """Who may act on an incident: only the officer whose caseload holds it. A bad one (unknown, another
    officer's, a tamper resolved without a note, a resolution out of range) is a per-action rejection
    with its reason; it changes nothing and the actions beside it apply."""
    server = sync_server_factory(officers=2, caseload=2, db_url=db_url)
    mine, theirs = (server.query(f"select id from participant where officer_id = '{o}' order by id limit 1")[0][0]
                    for o in ("off1", "off2"))
    tamper = _incident(server, mine, "strap_tamper")
    others = _incident(server, theirs, "curfew_violation")
    client = client_for(server)
    results = _send(
        client,
        action("acknowledge_incident", "inc-no-such", {}),
        action("acknowledge_incident", others, {"note": "not mine"}),
        action("resolve_incident", tamper, {"note": "  "}),
        action("resolve_incident", tamper, {"note": "x", "resolution": "r" * 10_000}),
        action("add_note", mine, {"text": "the neighbour"}),
        action("acknowledge_incident", tamper, {"note": "Calling the participant."}),
    )
    statuses = [r["status"] for r in results]
    assert statuses == ["rejected"] * 4 + ["applied", "applied"], results
    assert all(r["reason"] for r in results[:4]), results
    assert "unknown incident" in results[0]["reason"] and "unknown incident" in results[1]["reason"]
    assert server.query("select state, acknowledged_by from incident where id = :i", i=others) == [("open", None)]
    assert server.query("select state, acknowledged_by from incident where id = :i", i=tamper) == [
        ("acknowledged", "officer1")]
