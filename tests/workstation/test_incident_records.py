"""Server incidents on the workstation: synced, acted on through the outbox, and the
"already resolved by X at T; your note was added" outcome instead of a conflict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def test_cli_incidents_prints_the_needs_action_queue(sync_server_factory, tmp_path, monkeypatch, capsys):
    import json

    from workstation import cli

    server = sync_server_factory(caseload=6)
    home = tmp_path / "cli-home"
    home.mkdir()
    monkeypatch.setenv("WORKSTATION_HOME", str(home))
    monkeypatch.setenv("WORKSTATION_PASSWORD", "pw")
    serial, charged = server.seeded["officers"]["officer1"]["serials"][:2]
    server.ingest([GatewayFix(serial=serial, fix_time=datetime.now(UTC), lat=41.88, lon=-87.63, event="strap_tamper")])
    for minutes, battery in ((3, 30), (2, 15), (1, 25)):  # a low battery that clears by itself
        server.ingest([GatewayFix(serial=charged, fix_time=datetime.now(UTC) - timedelta(minutes=minutes), lat=41.88,
                                  lon=-87.63, battery_pct=battery)])
    assert cli.main(["sync", "--server", server.url, "--user", "officer1", "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["incidents", "--all"]) == 0  # as text: an auto-resolved line says when and why
    assert any("auto_resolved" in line and "(cleared: battery back above the threshold or charging)" in line
               for line in capsys.readouterr().out.splitlines())
    assert cli.main(["incidents", "--json"]) == 0
    queue = json.loads(capsys.readouterr().out)
    assert queue and all(r["needs_action"] and r["state"] in ("open", "acknowledged") for r in queue)
    tamper = next(r for r in queue if "Strap tamper" in r["summary"])
    assert tamper["case_number"] == server.seeded["officers"]["officer1"]["case_numbers"][0]
    assert tamper["due_at"] and tamper["severity"] == "critical"
    assert cli.main(["incidents", "--all", "--json"]) == 0
    everything = json.loads(capsys.readouterr().out)
    assert len(everything) >= len(queue)
    # the window's filters (workstation.triage_queue), combined
    assert cli.main(["incidents", "--kind", "tamper", "--age", "hour", "--json"]) == 0
    tampers = json.loads(capsys.readouterr().out)
    assert tamper in tampers and all(r["family"] == "tamper" for r in tampers)
    assert cli.main(["incidents", "--kind", "tamper", "--risk", tamper["risk"], "--age", "older", "--json"]) == 0
    assert tamper not in json.loads(capsys.readouterr().out)
    assert cli.main(["incidents", "--view", "auto_resolved_today", "--json"]) == 0
    cleared = json.loads(capsys.readouterr().out)
    assert all(r["state"] == "auto_resolved" and r["resolution"].startswith("cleared: ") for r in cleared)
    assert {r["id"] for r in cleared} <= {r["id"] for r in everything}


def test_cli_participant_is_the_same_whatever_the_laptops_zone(sync_server_factory, tmp_path, monkeypatch, capsys):
    import json
    import os
    import subprocess
    import sys

    from workstation import cli

    server = sync_server_factory(caseload=6)
    home = tmp_path / "cli-home"
    home.mkdir()
    monkeypatch.setenv("WORKSTATION_HOME", str(home))
    monkeypatch.setenv("WORKSTATION_PASSWORD", "pw")
    assert cli.main(["sync", "--server", server.url, "--user", "officer1", "--json"]) == 0
    capsys.readouterr()
    cases = server.seeded["officers"]["officer1"]["case_numbers"]
    outputs = {}
    for laptop_tz in ("UTC", "Asia/Tokyo", "America/Chicago"):
        env = {**os.environ, "TZ": laptop_tz, "WORKSTATION_HOME": str(home), "WORKSTATION_PASSWORD": "pw"}
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from workstation import cli; sys.exit(cli.main(sys.argv[1:]))", "participant", cases[0], "--at", "2026-11-24T04:00:00Z", "--json"],
            env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs[laptop_tz] = json.loads(done.stdout)
    assert outputs["UTC"] == outputs["Asia/Tokyo"] == outputs["America/Chicago"]
    record = outputs["UTC"]
    assert record["case_number"] == cases[0] and record["time_zone"] == "America/Chicago"
    for zone in record["zones"]:
        assert zone["time_zone"] == "America/Chicago" and isinstance(zone["in_effect_now"], bool)
    curfews = [z for z in record["zones"] if z["schedule"]]
    # Monday 22:00 in Chicago: a seeded curfew (daily, starting 20:00 to 23:00) is on when it started by then
    assert all(z["in_effect_now"] == (z["schedule"][0]["start"] <= "22:00") for z in curfews)


def test_an_outage_reaches_the_workstation_as_one_incident_naming_everyone(
    sync_server_factory, tmp_path, monkeypatch, capsys
):
    import json
    from datetime import timedelta

    from sync_server.db import utcnow
    from sync_server.ingest import check_silence
    from workstation import cli

    server = sync_server_factory(caseload=6)  # every seeded device reports through gateway "embedded"
    home = tmp_path / "cli-home"
    home.mkdir()
    monkeypatch.setenv("WORKSTATION_HOME", str(home))
    monkeypatch.setenv("WORKSTATION_PASSWORD", "pw")
    check_silence(server.db, now=utcnow() + timedelta(hours=1))  # the gateway's six devices all fall silent
    check_silence(server.db, now=utcnow() + timedelta(hours=2))  # and stay silent: it needs an officer
    assert cli.main(["sync", "--server", server.url, "--user", "officer1", "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["incidents", "--json"]) == 0
    queue = json.loads(capsys.readouterr().out)
    [outage] = [r for r in queue if r["family"] == "outage"]
    cases = [c for (c,) in server.query("select case_number from participant")]
    assert sorted(outage["participants"]) == sorted(cases) and len(outage["alerts"]) == 6
    assert outage["title"].startswith("Outage") and outage["summary"] == "No communication: 6 devices, 6 still silent"
    assert not [r for r in queue if "No communication" in r["summary"] and r["family"] != "outage"]
    from workstation import config as config_mod
    from workstation.session import WorkstationSession

    with WorkstationSession.open_offline(config_mod.load_config(home=home), "pw") as session, \
            session.store.read_session() as db:  # each participant's record still shows its own alert
        silences = db.scalars(select(Alert).where(Alert.kind == "no_communication")).all()
        assert sorted(a.participant_id for a in silences) == sorted(p for (p,) in server.query("select id from participant"))
        assert {a.incident_id for a in silences} == {outage["id"]}
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    server.ingest([GatewayFix(serial=serial, fix_time=datetime.now(UTC), lat=41.88, lon=-87.63)])  # one is back
    assert cli.main(["sync", "--server", server.url, "--user", "officer1", "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["incidents", "--json"]) == 0
    [outage] = [r for r in json.loads(capsys.readouterr().out) if r["family"] == "outage"]
    assert outage["summary"] == "No communication: 6 devices, 5 still silent" and outage["state"] == "open"
