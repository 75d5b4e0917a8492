"""Today's route: appointment-time order with travel, office check-ins apart, "where they should be now"."""

from datetime import datetime, timedelta

import pytest

from workstation.local_time import local_text
from workstation.route import PlannedVisit, ZoneRule, distance_km, format_age, plan_route, travel_minutes

NOW = datetime(2026, 11, 23, 15, 0)  # a Monday, UTC


def visit(pid, lat, lon, hours=0, **kw):
    return PlannedVisit(pid, pid.title(), f"C-{pid}", NOW + timedelta(hours=hours), "home_visit", "home", lat, lon, **kw)


def test_distance_one_degree_of_latitude():
    assert abs(distance_km(41.0, -87.0, 42.0, -87.0) - 111.2) < 0.2


def test_the_day_goes_by_appointment_time_with_travel_and_checkins_apart():
    office = (41.88, -87.63)
    checkin = PlannedVisit("c", "C", "C-c", NOW + timedelta(hours=1), "office_checkin", "office", 41.88, -87.63)
    plan = plan_route(
        [visit("far", 41.98, -87.63, hours=1), visit("near", 41.89, -87.63, hours=3),
         visit("early", 41.93, -87.63, hours=-5), visit("nowhere", None, None, hours=2), checkin],
        office, NOW,
    )
    # time order, not nearest first; the one five hours ago is listed as past and not driven
    assert [(s.order, s.visit.participant_id) for s in plan.stops] == [
        (0, "early"), (1, "far"), (2, "nowhere"), (3, "near")]
    assert plan.stops[0].past and plan.stops[0].leg_km is None
    far, nowhere, near = plan.stops[1:]
    assert far.leg_km == pytest.approx(11.1, abs=0.1) and far.travel_min == travel_minutes(far.leg_km) == 35
    assert nowhere.leg_km is None
    assert near.leg_km == pytest.approx(10.0, abs=0.1)  # from the last place driven to ("far")
    # office check-ins are the participant coming in: apart, never a 0 km leg
    assert [v.participant_id for v in plan.checkins] == ["c"]
    assert plan.path() == [office, (41.98, -87.63), (41.89, -87.63)]


def test_a_stop_that_cannot_be_reached_in_time_is_late():
    office = (41.88, -87.63)
    plan = plan_route([visit("soon", 41.98, -87.63, hours=0.25), visit("next", 41.88, -87.63, hours=0.75)], office, NOW)
    soon, nxt = plan.stops
    assert soon.late  # 35 min of driving for a visit in 15 min
    assert nxt.late  # 15 min late there, 30 min visit, 35 min back: not by NOW+45 min
    relaxed = plan_route([visit("later", 41.98, -87.63, hours=2)], office, NOW).stops[0]
    assert not relaxed.late


def test_expected_place_from_curfew_and_device_distance():
    home = ZoneRule("Home curfew", "inclusion", 41.9, -87.7, ({"days": [1], "start": "08:00", "end": "10:00"},),
                    "America/Chicago")
    at_home = visit("p", 41.9, -87.7, device_lat=41.9, device_lon=-87.7, fix_time=NOW - timedelta(minutes=4),
                    zones=(home,))
    away = visit("q", 41.9, -87.7, device_lat=41.95, device_lon=-87.7, fix_time=NOW - timedelta(hours=3),
                 zones=(home,))
    # 15:00 UTC is 09:00 in Chicago (UTC-6): inside the window, whatever offset the display uses
    stops = plan_route([at_home, away], None, NOW).stops
    by_id = {s.visit.participant_id: s for s in stops}
    assert by_id["p"].expected.startswith("In Home curfew")
    assert by_id["p"].device == "There (fix 4 min old)"
    assert by_id["q"].device.startswith("5.6 km away (fix 3 h old)")


def test_appointment_now_overrides_zone_and_no_rule_otherwise():
    court = (NOW + timedelta(minutes=20), "court_hearing", "Daley Center", 41.884, -87.630)
    stop = plan_route([visit("p", 41.9, -87.7, other_appointments=(court,))], None, NOW).stops[0]
    assert stop.expected.startswith("At Daley Center (court hearing")
    assert plan_route([visit("r", 41.9, -87.7)], None, NOW).stops[0].expected == "No schedule rule now"
    assert plan_route([visit("r", 41.9, -87.7)], None, NOW).stops[0].device == "No fix"


def test_format_age_words():
    assert [format_age(timedelta(seconds=s)) for s in (3, 42, 240, 3 * 3600 + 5, 2 * 86400)] == [
        "now", "42 s", "4 min", "3 h", "2 d"]


def test_route_tab_lists_the_day_in_time_order(qtbot, offline_window):
    from PySide6.QtCore import Qt

    w = offline_window
    w.activateWindow()
    w.caseload.table.setFocus()
    qtbot.keyClick(w.caseload.table, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: w.centre.currentIndex() == 1 and w.route.table.rowCount() > 0, timeout=10_000)
    plan = w._route_plan
    times = [s.visit.starts_at for s in plan.stops if not s.past]
    assert times == sorted(times) and all(s.visit.kind != "office_checkin" for s in plan.stops)
    assert "ahead" in w.route.header.text() and "km" in w.route.header.text()
    assert w.route.table.item(0, 1).text() == local_text(plan.stops[0].visit.starts_at, plan.stops[0].visit.time_zone)
