"""The core's read side (workstation.read): the rules a screen and a listing apply to a caseload
row, the frozen snapshots the GUI shows, and the CLI listing built from the same queries."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

import pytest

from local_db.queries import CaseloadRow
from local_db.store import open_store
from local_db.timeutil import utc_now
from workstation import cli
from workstation.read import rules
from workstation.read.caseload import device_marker, load_caseload
from workstation.rules.incidents import LOW_BATTERY_PCT

NOW = datetime(2026, 3, 2, 12, 0, 0)


def row(**changes) -> CaseloadRow:
    base = CaseloadRow(
        participant_id="p1", case_number="CHI-1", first_name="Ana", last_name="Ruiz", risk_level="high",
        device_id="d1", device_kind="ankle", battery_pct=80, charging=False, strap="ok",
        last_fix_time=NOW - timedelta(minutes=1), last_lat=41.88, last_lon=-87.63, last_accuracy_m=8.0,
        open_alerts=0, next_appointment_at=None, next_appointment_kind=None, legal_flags=(), address="", phone="",
    )
    return dataclasses.replace(base, **changes)


def test_staleness_starts_after_fifteen_minutes_without_a_fix():
    assert not rules.is_stale(row(last_fix_time=NOW - rules.STALE_AFTER), NOW)
    assert rules.is_stale(row(last_fix_time=NOW - rules.STALE_AFTER - timedelta(seconds=1)), NOW)
    assert rules.is_stale(row(last_fix_time=None), NOW)


@pytest.mark.parametrize(("changes", "problem"), [
    ({}, False),
    ({"battery_pct": LOW_BATTERY_PCT - 1}, True),
    ({"battery_pct": LOW_BATTERY_PCT - 1, "charging": True}, False),
    ({"battery_pct": LOW_BATTERY_PCT}, True),  # at the threshold, as the server's low_battery alert says
    ({"battery_pct": LOW_BATTERY_PCT + 1}, False),
    ({"strap": "tampered"}, True),
    ({"strap": "not_applicable", "device_kind": "phone_app"}, False),
    ({"device_id": None}, True),
    ({"last_fix_time": NOW - timedelta(hours=1)}, True),
])
def test_device_problem_is_low_battery_strap_missing_device_or_stale(changes, problem):
    assert rules.has_device_problem(row(**changes), NOW) is problem


def test_marker_state_puts_no_fix_before_incident_before_stale():
    assert rules.marker_state(row(last_fix_time=None), True, NOW) == "no_fix"
    assert rules.marker_state(row(last_fix_time=NOW - timedelta(hours=2)), True, NOW) == "incident"
    assert rules.marker_state(row(last_fix_time=NOW - timedelta(hours=2)), False, NOW) == "stale"
    assert rules.marker_state(row(), False, NOW) == "ok"
    assert device_marker(row(), False, NOW)["label"] == "Ruiz, Ana"


def test_gui_snapshot_and_cli_listing_apply_the_same_rules(sync_server_factory, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("WORKSTATION_HOME", str(home))
    monkeypatch.setenv("WORKSTATION_PASSWORD", "pw")
    monkeypatch.delenv("WORKSTATION_SERVER_URL", raising=False)
    server = sync_server_factory(caseload=8)
    assert cli.main(["sync", "--server", server.url, "--user", "officer1", "--json"]) == 0
    capsys.readouterr()
    before = utc_now()
    assert cli.main(["caseload", "--json"]) == 0
    after = utc_now()
    listed = {r["case_number"]: r for r in json.loads(capsys.readouterr().out)}

    with open_store(home, "pw") as store:
        snapshot = load_caseload(store)
    assert len(snapshot.rows) == len(listed) == 8
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.rows[0].battery_pct = 1  # type: ignore[misc]
    for r in snapshot.rows:
        cli_row = listed[r.case_number]
        assert cli_row["name"] == rules.display_name(r)
        assert cli_row["device_status"] == rules.device_status(r)
        # the CLI judged at a moment between `before` and `after`
        for key, rule in (("stale", rules.is_stale), ("device_problem", rules.has_device_problem)):
            assert cli_row[key] in {rule(r, before), rule(r, after)}


def test_strap_states_read_as_an_officer_says_them_and_one_rule_flags_them() -> None:
    assert [rules.strap_label(s) for s in ("ok", "tampered", "removed", "not_applicable", None)] == [
        "ok", "tampered", "removed", "none (phone app)", "unknown"]
    assert [rules.strap_is_problem(s) for s in ("ok", "not_applicable", None, "tampered", "removed")] == [
        False, False, False, True, True]
