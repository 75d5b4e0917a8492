"""Today's route: nearest-neighbour order and "where they should be now"."""

from datetime import datetime, timedelta

from workstation.route import PlannedVisit, ZoneRule, distance_km, format_age, plan_route

NOW = datetime(2026, 11, 23, 15, 0)  # a Monday, UTC


def visit(pid, lat, lon, hours=0, **kw):
    return PlannedVisit(pid, pid.title(), f"C-{pid}", NOW + timedelta(hours=hours), "home_visit", "home", lat, lon, **kw)


def test_distance_one_degree_of_latitude():
    assert abs(distance_km(41.0, -87.0, 42.0, -87.0) - 111.2) < 0.2


def test_nearest_neighbour_order_from_office_and_unlocated_last():
    office = (41.88, -87.63)
    stops = plan_route(
        [visit("far", 41.98, -87.63), visit("near", 41.89, -87.63), visit("mid", 41.93, -87.63),
         visit("nowhere", None, None)],
        office, NOW,
    )
    assert [s.visit.participant_id for s in stops] == ["near", "mid", "far", "nowhere"]
    assert stops[0].leg_km is not None and stops[0].leg_km < 1.5
    assert stops[-1].leg_km is None


def test_expected_place_from_curfew_and_device_distance():
    home = ZoneRule("Home curfew", "inclusion", 41.9, -87.7, ({"days": [1], "start": "08:00", "end": "10:00"},),
                    "America/Chicago")
    at_home = visit("p", 41.9, -87.7, device_lat=41.9, device_lon=-87.7, fix_time=NOW - timedelta(minutes=4),
                    zones=(home,))
    away = visit("q", 41.9, -87.7, device_lat=41.95, device_lon=-87.7, fix_time=NOW - timedelta(hours=3),
                 zones=(home,))
    # 15:00 UTC is 09:00 in Chicago (UTC-6): inside the window, whatever offset the display uses
    stops = plan_route([at_home, away], None, NOW, local_offset=timedelta(hours=9))
    by_id = {s.visit.participant_id: s for s in stops}
    assert by_id["p"].expected.startswith("In Home curfew")
    assert by_id["p"].device == "There (fix 4 min old)"
    assert by_id["q"].device.startswith("5.6 km away (fix 3 h old)")


def test_appointment_now_overrides_zone_and_no_rule_otherwise():
    court = (NOW + timedelta(minutes=20), "court_hearing", "Daley Center", 41.884, -87.630)
    stop = plan_route([visit("p", 41.9, -87.7, other_appointments=(court,))], None, NOW)[0]
    assert stop.expected.startswith("At Daley Center (court hearing")
    assert plan_route([visit("r", 41.9, -87.7)], None, NOW)[0].expected == "No schedule rule now"
    assert plan_route([visit("r", 41.9, -87.7)], None, NOW)[0].device == "No fix"


def test_format_age_words():
    assert [format_age(timedelta(seconds=s)) for s in (3, 42, 240, 3 * 3600 + 5, 2 * 86400)] == [
        "now", "42 s", "4 min", "3 h", "2 d"]
