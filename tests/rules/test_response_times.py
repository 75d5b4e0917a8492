"""The agency's response times per severity (sync-server --response-times)."""

from datetime import timedelta

import pytest

from sync_server.__main__ import main
from workstation.rules.incidents import DEFAULT_RESPONSE_TIME, parse_response_times


def test_response_times_replace_only_the_severities_given():
    times = parse_response_times("critical=5m, low=2d")
    assert times["critical"] == timedelta(minutes=5) and times["low"] == timedelta(days=2)
    assert times["high"] == DEFAULT_RESPONSE_TIME["high"]


@pytest.mark.parametrize("bad", ["urgent=5m", "critical=5", "critical=0m", "critical=-5m", "high=31d", "high"])
def test_bad_response_times_are_refused(bad, capsys):
    with pytest.raises(ValueError):
        parse_response_times(bad)
    assert main(["--response-times", bad, "--db", "sqlite://"]) == 2
    assert "--response-times" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["Chicago", "CST", "America/Nowhere", ""])
def test_a_bad_agency_time_zone_is_refused_at_start_in_one_line(bad, capsys):
    assert main(["--agency-time-zone", bad, "--db", "sqlite://"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--agency-time-zone" in err and "IANA" in err


@pytest.mark.parametrize("command", [["rules", "--index", "0"], ["api"], ["cluster"]])
def test_every_cluster_process_refuses_bad_response_times_before_it_starts(command, capsys):
    """The cluster's rules and API workers (and its launcher) take the same setting; a bad one stops
    them before they touch the database (the URL here is never opened)."""
    from sync_server.cluster import launcher, roles

    run = launcher.main if command == ["cluster"] else lambda argv: roles.main([command[0], *argv])
    with pytest.raises(SystemExit) as stopped:
        run([*command[1:], "--db", "postgresql://nobody@127.0.0.1:1/none", "--response-times", "urgent=5m"])
    assert stopped.value.code == 2
    assert "--response-times" in capsys.readouterr().err

