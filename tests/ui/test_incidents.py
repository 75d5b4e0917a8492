"""Incident grouping and ranking on plain data (no Qt, no store)."""

from datetime import datetime, timedelta

from workstation.incidents import AlertFact, alert_to_incident_ratio, build_incidents, resolution_problem

T0 = datetime(2026, 11, 23, 8, 0)


def alert(id_, kind, minutes, severity="medium", participant="p1", device="d1", state="open"):
    return AlertFact(id_, participant, device, kind, severity, T0 + timedelta(minutes=minutes), state=state)


def test_battery_story_of_one_device_is_one_incident():
    alerts = [alert("a1", "low_battery", 0, "low"), alert("a2", "no_communication", 90, "high"),
              alert("a3", "no_gps", 95, "medium")]
    [incident] = build_incidents(alerts, {"p1": "medium"})
    assert incident.summary == "Low battery → No communication → No GPS"
    assert incident.severity == "high"
    assert [a.id for a in incident.alerts] == ["a1", "a2", "a3"]
    assert alert_to_incident_ratio([incident]) == (3, 1, 3.0)


def test_zone_exits_group_only_within_minutes():
    alerts = [alert(f"z{i}", "zone_exit", i * 5) for i in range(4)] + [alert("late", "zone_exit", 300)]
    incidents = build_incidents(alerts, {})
    assert sorted(len(i.alerts) for i in incidents) == [1, 4]


def test_tamper_never_folds_into_other_families_and_needs_a_note():
    alerts = [alert("b", "low_battery", 0), alert("t", "strap_tamper", 1, "critical")]
    incidents = build_incidents(alerts, {})
    assert len(incidents) == 2
    tamper = incidents[0]  # critical ranks first
    assert tamper.requires_note_to_resolve
    assert resolution_problem(tamper, "  ") is not None
    assert resolution_problem(tamper, "Strap checked at home visit, intact") is None
    assert resolution_problem(incidents[1], "") is None


def test_queue_order_is_due_time_then_severity_and_acknowledged_keep_their_place():
    now = T0 + timedelta(hours=20)
    alerts = [
        # an 18-hour-old high (zone exit, due an hour after it needed action: long overdue)
        alert("old-high", "zone_exit", 60, "high", participant="a"),
        # a 1-minute-old medium (missed check-in: due 4 hours from now)
        alert("new-medium", "missed_checkin", 20 * 60 - 1, "medium", participant="b"),
        # an acknowledged critical tamper, 2 hours old: due long ago, still first among its peers
        alert("acked-tamper", "strap_tamper", 18 * 60, "critical", participant="c", state="acknowledged"),
        # a 19-hour-old low battery that never cleared (needs action after 2 h, due 24 h later)
        alert("old-battery", "low_battery", 30, "low", participant="d"),
        # a fresh low battery still within its clearing delay: not needing action yet
        alert("fresh-battery", "low_battery", 20 * 60 - 5, "low", participant="e"),
        alert("done", "strap_tamper", 30, "critical", participant="f", state="resolved"),
    ]
    incidents = build_incidents(alerts, {}, now=now)
    order = [i.alerts[0].id for i in incidents]
    assert order == ["old-high", "acked-tamper", "new-medium", "old-battery", "fresh-battery", "done"]
    by_id = {i.alerts[0].id: i for i in incidents}
    assert by_id["old-high"].overdue(now) and not by_id["new-medium"].overdue(now)
    assert not by_id["fresh-battery"].needs_action and by_id["fresh-battery"].due_at is None


def test_acknowledged_chain_state_and_actionable_alerts():
    alerts = [alert("a", "zone_exit", 0, state="acknowledged"), alert("b", "zone_exit", 3, state="resolved")]
    [incident] = build_incidents(alerts, {})
    assert incident.state == "acknowledged"
    assert incident.actionable_alert_ids == ("a",)


def test_resolved_chain_is_closed_for_new_alerts():
    alerts = [alert("a", "zone_exit", 0, state="resolved"), alert("b", "zone_exit", 3)]
    assert len(build_incidents(alerts, {})) == 2


def test_resolved_history_still_reads_as_one_episode():
    alerts = [alert("a", "low_battery", 0, state="resolved"), alert("b", "no_communication", 120, state="resolved"),
              alert("c", "no_gps", 150, state="resolved")]
    [incident] = build_incidents(alerts, {})
    assert incident.state == "resolved" and len(incident.alerts) == 3


def test_seeded_demo_history_groups_into_fewer_incidents():
    """The seeder's alert history has the shapes real episodes have, so grouping removes noise on the demo
    data (the ratio the GUI issue reports) rather than being measured on one-alert-per-participant data."""
    from sync_server.seeder import _participant_rows

    facts = [
        AlertFact(a["id"], a["participant_id"], a["device_id"], a["kind"], a["severity"], a["opened_at"],
                  state=a["state"])
        for i in range(500)
        for a in _participant_rows(1, i, "o1", 1, T0)["alert"]
    ]
    raw, incidents, ratio = alert_to_incident_ratio(build_incidents(facts, {}))
    assert raw == len(facts) > incidents
    assert ratio > 1.4
