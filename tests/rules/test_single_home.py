"""Each domain rule has one home, workstation/rules/: this test fails when a second copy appears.

It looks for what a copy looks like: a function with a rule's name, a constant with a rule table's
name, a table keyed by alert kinds, the tamper-note message, defined anywhere else in the product.
"""

from __future__ import annotations

import ast
from pathlib import Path

from workstation.rules import geo, incidents, schedule

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("workstation", "sync_server", "maps", "ui", "local_db", "bench")
RULES_DIR = ROOT / "workstation" / "rules"

RULE_FUNCTIONS = {
    "distance_m", "distance_km", "haversine", "haversine_km", "haversine_m", "zone_signed_distance",
    "polygon_signed_distance", "point_in_zone", "schedule_active", "schedule_in_effect", "window_active",
    "window_in_effect", "window_in_effect_at", "local_time", "severity_of", "family_of", "chains_into",
    "auto_resolvable", "needs_action_from", "due_at", "note_problem", "requires_note", "battery_low",
}
RULE_CONSTANTS = {
    "FAMILY_OF_KIND", "FAMILY_GAP", "FAMILY_TITLE", "KIND_LABEL", "ALERT_SEVERITY", "SEVERITY", "SEVERITY_RANK",
    "RISK_RANK", "TAMPER_CLASS_ALERTS", "NEVER_AUTO_RESOLVED", "CLEARED_WHEN", "NEEDS_ACTION_AFTER",
    "DEFAULT_RESPONSE_TIME", "INCIDENT_WINDOW", "AGENCY_TZ", "EARTH_RADIUS_M", "EARTH_RADIUS_KM",
    "LOW_BATTERY", "CRITICAL_BATTERY", "LOW_BATTERY_PCT", "CRITICAL_BATTERY_PCT",
}
ALERT_KINDS = set(incidents.ALERT_SEVERITY)
#: thin wrappers that call the shared rule (route.distance_km converts units for the route's words)
ALLOWED = {("workstation/route.py", "distance_km")}


def product_files():
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if RULES_DIR in path.parents or "migrations" in path.parts:
                continue
            yield path


def copies_in(source: str, relative: str) -> list[str]:
    found = []
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in RULE_FUNCTIONS:
            if (relative, node.name) not in ALLOWED:
                found.append(f"{relative}:{node.lineno} def {node.name}")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in RULE_CONSTANTS:
                    found.append(f"{relative}:{node.lineno} {target.id} =")
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            if len(keys & ALERT_KINDS) >= 3:
                found.append(f"{relative}:{node.lineno} a table keyed by alert kinds")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and "without a note" in node.value
              and id(node) not in docstrings):
            found.append(f"{relative}:{node.lineno} the tamper-note message")
    return found


def test_the_detector_sees_copies():
    twin = (
        "def schedule_active(s, t):\n    return True\n"
        "SEVERITY = {'strap_tamper': 'critical'}\n"
        "labels = {'low_battery': 1, 'no_gps': 2, 'zone_exit': 3}\n"
        "msg = 'a tamper cannot be resolved without a note'\n"
    )
    assert len(copies_in(twin, "x.py")) == 4
    assert copies_in("from workstation.rules.geo import distance_m\nd = distance_m(0, 0, 1, 1)\n", "x.py") == []


def test_no_second_copy_of_a_domain_rule():
    found = []
    for path in product_files():
        found += copies_in(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert found == []


def test_server_and_core_use_the_same_objects():
    from maps import layers
    from sync_server import actions as server_actions
    from sync_server import incidents as server_incidents
    from sync_server import ingest, seeder, zones
    from workstation import actions as client_actions
    from workstation import incidents as client_incidents
    from workstation import route

    assert ingest.severity_of is seeder.severity_of is incidents.severity_of
    assert server_incidents.chains_into is client_incidents.chains_into is incidents.chains_into
    assert server_incidents.family_of is client_incidents.family_of is seeder.family_of is incidents.family_of
    assert server_incidents.auto_resolvable is seeder.auto_resolvable is incidents.auto_resolvable
    assert ingest.zone_rule_binds is schedule.zone_rule_binds  # the server's curfew check, grace and all
    assert layers.schedule_in_effect is schedule.schedule_in_effect  # the map's "in effect now"
    assert server_incidents.escalation_time is client_incidents.escalation_time is incidents.escalation_time
    assert ingest.distance_m is layers.distance_m is route.distance_m is geo.distance_m
    assert server_actions.note_problem is client_actions.note_problem is incidents.note_problem
    assert zones.effective_time_zone is schedule.effective_time_zone
