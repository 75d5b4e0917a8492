"""The triage queue's views and filters (workstation.triage_queue) on plain incident snapshots."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from workstation.incidents import AlertFact, Incident, ServerIncidentFact, build_incidents
from workstation.triage_queue import NO_FILTER, QueueClock, QueueFilter, in_view, queue, view_counts

# 15:00 in Chicago (CST, UTC-6): the agency's day started at 06:00 UTC
NOW = datetime(2026, 11, 24, 21, 0)
CHICAGO = "America/Chicago"


def _incidents() -> list[Incident]:
    def fact(id_, pid, kind, severity, minutes_ago, state="open", incident_id=None):
        return AlertFact(id_, pid, f"d-{pid}", kind, severity, NOW - timedelta(minutes=minutes_ago), state=state,
                         incident_id=incident_id)

    alerts = [
        fact("tamper", "p-high", "strap_tamper", "critical", 20),  # opened in the last hour
        fact("exit", "p-high", "zone_exit", "high", 7 * 60),  # today (08:00 CST; 23:00 yesterday in Tokyo)
        fact("battery", "p-low", "low_battery", "low", 30 * 60),  # yesterday, over a day ago
        fact("silent", "p-medium", "no_communication", "high", 3 * 60, state="resolved", incident_id="srv-cleared"),
        fact("old-gps", "p-medium", "no_gps", "medium", 20 * 60, state="resolved", incident_id="srv-yesterday"),
    ]
    server = {
        # cleared by itself at 13:30 CST today, and at 03:00 UTC (21:00 CST yesterday)
        "srv-cleared": ServerIncidentFact("srv-cleared", "auto_resolved", "high", False, None, resolved_by="system",
                                          resolved_at=NOW - timedelta(minutes=90), resolution="cleared: contact restored"),
        "srv-yesterday": ServerIncidentFact("srv-yesterday", "auto_resolved", "medium", False, None,
                                            resolved_by="system", resolved_at=NOW - timedelta(hours=18),
                                            resolution="cleared: GPS restored"),
    }
    risk = {"p-high": "high", "p-low": "low", "p-medium": "medium"}
    return build_incidents(alerts, risk, server, NOW)


def _ids(incidents) -> list[str]:
    return [i.alerts[0].id for i in incidents]


def test_views_needs_action_auto_resolved_today_and_all():
    incidents, clock = _incidents(), QueueClock.at(NOW, CHICAGO)
    assert clock.day_start == datetime(2026, 11, 24, 6, 0)
    # in queue order: by due time (exit 15:10, battery 17:00, tamper 20:55 UTC)
    assert _ids(queue(incidents, "needs_action", NO_FILTER, clock)) == ["exit", "battery", "tamper"]
    # cleared yesterday evening is not "today", although within the last 24 hours
    assert _ids(queue(incidents, "auto_resolved_today", NO_FILTER, clock)) == ["silent"]
    assert sorted(_ids(queue(incidents, "all", NO_FILTER, clock))) == ["battery", "exit", "old-gps", "silent", "tamper"]
    assert view_counts(incidents, NO_FILTER, clock) == {"needs_action": 3, "auto_resolved_today": 1, "all": 5}
    with pytest.raises(ValueError, match="unknown view"):
        in_view(incidents[0], "mine", clock)


def test_filters_narrow_and_combine():
    incidents, clock = _incidents(), QueueClock.at(NOW, CHICAGO)

    def needing(**kw) -> list[str]:
        return _ids(queue(incidents, "needs_action", QueueFilter(**kw), clock))

    assert needing(age="hour") == ["tamper"]
    assert needing(age="today") == ["exit", "tamper"]
    assert needing(age="older") == ["battery"]
    assert needing(kinds=frozenset({"tamper"})) == ["tamper"]
    assert needing(kinds=frozenset({"tamper", "device_health"})) == ["battery", "tamper"]
    assert needing(risks=frozenset({"high"})) == ["exit", "tamper"]
    # combined: each filter must pass
    assert needing(age="today", risks=frozenset({"high"}), kinds=frozenset({"location"})) == ["exit"]
    assert needing(age="hour", kinds=frozenset({"location"})) == []
    assert needing(age="older", risks=frozenset({"high"})) == []
    counts = view_counts(incidents, QueueFilter(risks=frozenset({"medium"})), clock)
    assert counts == {"needs_action": 0, "auto_resolved_today": 1, "all": 2}
    assert QueueFilter(age="today").active and not NO_FILTER.active


def test_today_is_the_agencys_day_whatever_the_zone_of_the_laptop():
    incidents = _incidents()
    # in Tokyo it is already 25 Nov 06:00: "today" there starts at 24 Nov 15:00 UTC (the 10:00 CST exit
    # is yesterday) and the incident cleared at 19:30 UTC is today
    tokyo = QueueClock.at(NOW, "Asia/Tokyo")
    assert tokyo.day_start == datetime(2026, 11, 24, 15, 0)
    assert _ids(queue(incidents, "needs_action", QueueFilter(age="today"), tokyo)) == ["tamper"]
    assert _ids(queue(incidents, "auto_resolved_today", NO_FILTER, tokyo)) == ["silent"]


def test_unknown_filters_are_refused():
    with pytest.raises(ValueError, match="age"):
        QueueFilter(age="week")
    with pytest.raises(ValueError, match="burglary"):
        QueueFilter(kinds=frozenset({"burglary"}))
    with pytest.raises(ValueError, match="extreme"):
        QueueFilter(risks=frozenset({"extreme"}))


def test_an_alert_chain_the_server_did_not_group_escalates_on_what_goes_on():
    """History without a server incident is chained here; it needs an officer by the server's rule: a
    critical battery resolved within minutes does not count, the GPS loss that goes on counts from its start."""
    gps = AlertFact("gps", "p1", "d1", "no_gps", "medium", NOW - timedelta(minutes=90))
    battery = AlertFact("battery", "p1", "d1", "battery_critical", "high", NOW - timedelta(minutes=80), state="resolved")
    [incident] = build_incidents([gps, battery], {"p1": "medium"}, {}, NOW)
    assert not incident.needs_action  # the battery's 30 minutes have passed, the GPS loss's 2 hours have not
    [later] = build_incidents([gps, battery], {"p1": "medium"}, {}, NOW + timedelta(minutes=31))
    assert later.needs_action and later.due_at == gps.opened_at + timedelta(hours=2) + timedelta(hours=1)
