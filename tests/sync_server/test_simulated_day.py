"""A small simulated day (200 devices, 24 simulated hours) through the real server: no critical alert
is ever outside an open needs-action incident, and every alert is reachable from an incident. These
are correctness properties of the server's incident logic on a realistic day, not timings (those are
bench/triage.py's, on 7,000 devices)."""

from __future__ import annotations

from bench.triage import play_day
from sync_server.simulated_day import DayRates


def test_a_day_hides_no_critical_alert_and_leaves_no_alert_unreachable():
    # tamper and absconding raised well above the real rates, so the day surely has critical alerts
    metrics = play_day(200, DayRates(tamper=0.1, abscond=0.02))
    assert metrics["triage_participants"] == 200 and metrics["triage_simulated_hours"] == 24
    assert metrics["triage_fixes"] > 200 * 140 and metrics["triage_fixes_rejected"] == 0
    assert metrics["triage_critical_alerts"] >= 3
    assert metrics["triage_critical_hidden"] == 0
    assert metrics["triage_unreachable_alerts"] == 0
    # the day's own episodes happened and the rules met them: noise cleared by itself, the outage grouped
    assert metrics["triage_auto_resolved"] > 0 and metrics["triage_outage_incidents"] >= 1
    assert metrics["triage_needs_action"] < metrics["triage_raw_alerts"]
    # the tampers of the day are among the needs-action items no delay of the rules could remove
    assert 0 < metrics["triage_needs_action_never_auto"] <= metrics["triage_needs_action"]
