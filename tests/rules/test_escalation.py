"""When an open incident needs an officer: only what still goes on counts (workstation.rules.incidents)."""

from __future__ import annotations

from datetime import datetime, timedelta

from workstation.rules.incidents import NEEDS_ACTION_AFTER, escalation_time

T = datetime(2026, 12, 3, 8, 0)


def test_a_cleared_kind_no_longer_sets_the_deadline():
    alerts = [("low_battery", T), ("no_gps", T + timedelta(hours=1))]
    assert escalation_time(alerts, {"no_gps"}) == T + timedelta(hours=1) + NEEDS_ACTION_AFTER["no_gps"]
    assert escalation_time(alerts, {"low_battery", "no_gps"}) == T + NEEDS_ACTION_AFTER["low_battery"]
    assert escalation_time(alerts, set()) is None


def test_a_self_clearing_kind_counts_from_its_latest_episode():
    alerts = [("no_gps", T), ("no_gps", T + timedelta(hours=3))]  # lost, back, lost again
    assert escalation_time(alerts, {"no_gps"}) == T + timedelta(hours=3) + NEEDS_ACTION_AFTER["no_gps"]


def test_a_kind_that_never_clears_by_itself_counts_from_its_first_alert_whatever_the_device_shows():
    alerts = [("zone_exit", T), ("curfew_violation", T + timedelta(minutes=5)), ("curfew_violation", T + timedelta(minutes=20))]
    assert escalation_time(alerts, set()) == T + timedelta(minutes=5)
