"""The agency's curfew grace (workstation.rules.schedule.zone_rule_binds, sync-server --curfew-grace)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync_server.__main__ import main
from workstation.rules.schedule import parse_curfew_grace, zone_rule_binds

CURFEW = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "21:00", "end": "06:00"}]
CHICAGO = "America/Chicago"
GRACE = timedelta(minutes=15)


def chicago(hour: int, minute: int) -> datetime:  # 3 December 2026, CST = UTC-6
    return datetime(2026, 12, 3, hour, minute, tzinfo=UTC) + timedelta(hours=6)


def test_someone_still_out_when_the_curfew_begins_has_the_grace_to_get_home():
    assert not zone_rule_binds("inclusion", CURFEW, chicago(21, 10), CHICAGO, GRACE)
    assert zone_rule_binds("inclusion", CURFEW, chicago(21, 15), CHICAGO, GRACE)
    assert zone_rule_binds("inclusion", CURFEW, chicago(21, 10), CHICAGO)  # no grace: bound at once
    assert not zone_rule_binds("inclusion", CURFEW, chicago(20, 59), CHICAGO, GRACE)


def test_the_grace_is_only_at_the_curfews_start_and_only_for_curfews():
    assert zone_rule_binds("inclusion", CURFEW, chicago(23, 0) + timedelta(hours=2), CHICAGO, GRACE)  # 01:00
    # an exclusion zone's schedule binds from its first minute; a zone without a schedule always binds
    assert zone_rule_binds("exclusion", CURFEW, chicago(21, 1), CHICAGO, GRACE)
    assert zone_rule_binds("inclusion", [], chicago(21, 1), CHICAGO, GRACE)


@pytest.mark.parametrize(("text", "minutes"), [("0", 0), ("15", 15), (" 120 ", 120)])
def test_grace_in_whole_minutes(text, minutes):
    assert parse_curfew_grace(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("bad", ["-5", "121", "15m", "1.5", ""])
def test_a_bad_grace_is_refused_at_start_in_one_line(bad, capsys):
    with pytest.raises(ValueError):
        parse_curfew_grace(bad)
    assert main(["--curfew-grace", bad, "--db", "sqlite://"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--curfew-grace" in err


@pytest.mark.parametrize("command", [["rules", "--index", "0"], ["cluster"]])
def test_the_clusters_rules_workers_and_launcher_refuse_a_bad_grace(command, capsys):
    from sync_server.cluster import launcher, roles

    run = launcher.main if command == ["cluster"] else lambda argv: roles.main([command[0], *argv])
    with pytest.raises(SystemExit) as stopped:
        run([*command[1:], "--db", "postgresql://nobody@127.0.0.1:1/none", "--curfew-grace", "soon"])
    assert stopped.value.code == 2 and "--curfew-grace" in capsys.readouterr().err
