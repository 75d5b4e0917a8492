"""Triage: a realistic day of 7,000 devices through the real server, and what an officer must handle.

Setup: the reference server seeded with one officer's caseload (the program's 7,000), serving on
loopback in this process; its devices split between three vendor gateways by serial prefix (BI, SL,
APP), each with its own key. The simulator's day mode (sync_server/simulated_day.py: behaviour rates
and their sources in docs/rules.md, "A realistic day") plays 24 hours, one 10-minute report interval
at a time, on a simulated clock that is also the server's clock for the rules (`Database.clock`):
each interval the gateways POST their devices' fixes to /v1/ingest/fixes (the real ingestion path:
key, assignment check, rules, incident grouping, auto-resolution), then the server's silence check
runs (no communication, no GPS, outages, escalation to needs-action) as its watchdog would.
After every interval the database is audited for critical alerts not in an open needs-action
incident and for alerts in no incident.

Metrics (the baseline, measured in the same run, is what the officer saw before grouping: one row per
raw alert, `triage_raw_alerts`)
- triage_participants, triage_simulated_hours, triage_fixes (points sent)
- triage_raw_alerts: alerts raised during the day; triage_alerts_<kind>: per kind
- triage_incidents: incident records (triage_outage_incidents of them outages, naming
  triage_outage_devices devices; triage_outages_of_an_area / _of_a_gateway: which group)
- triage_needs_action: incidents that needed an officer at some point (needs_action set)
- triage_auto_resolved: incidents closed by their condition clearing
- triage_needs_action_per_raw_alert = needs_action / raw alerts (goal: at most 0.2)
- triage_needs_action_never_auto, triage_never_auto_per_raw_alert: of those, the incidents holding a kind
  that never clears by itself (tamper, curfew, exclusion zone, ...): the floor under the goal
- triage_critical_alerts; triage_critical_hidden: critical alerts that, after some interval, were not in an
  open needs-action incident (no officer acts during the day, so that is the whole day); goal 0
- triage_unreachable_alerts: alerts in no incident, after some interval; goal 0
- triage_wall_s, triage_fixes_per_wall_s: how long the day took to play
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sync_server.embedded import start_server
from sync_server.ingest import check_silence
from sync_server.simulated_day import HOURS, DayRates, SimulatedDay, next_local_midnight, prepare
from workstation.rules.incidents import auto_resolvable

BATCH = 5000
GATEWAYS = {"BI-LOC8-": "BI", "SL-WR-": "SL", "APP-": "APP"}
GOAL_NEEDS_ACTION_PER_RAW = 0.2

_HIDDEN = (
    "SELECT a.id FROM alert a LEFT JOIN incident i ON i.id = a.incident_id WHERE a.severity = 'critical' "
    "AND (i.id IS NULL OR i.state NOT IN ('open', 'acknowledged') OR NOT i.needs_action)"
)
_UNREACHABLE = "SELECT a.id FROM alert a LEFT JOIN incident i ON i.id = a.incident_id WHERE i.id IS NULL"


class SimulatedClock:
    """The server's clock during the day: set by the player, read by the rules."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def play_day(participants: int, rates: DayRates | None = None, seed: int = 14,
             curfew_grace: timedelta = timedelta(0)) -> dict[str, Any]:
    """Seed a server with `participants`, play one day through it and return the triage metrics
    (`curfew_grace`: the agency setting, sync-server --curfew-grace; 0 in `make bench`)."""
    with tempfile.TemporaryDirectory(prefix="bench-triage-") as tmp:
        server = start_server(tmp_dir=tmp, officers=1, caseload=participants, password="bench")
        server.db.curfew_grace = curfew_grace
        try:
            return _play(server, rates, seed)
        finally:
            server.stop()


def _play(server: Any, rates: DayRates | None, seed: int) -> dict[str, Any]:
    serials = [s for (s,) in server.query("select serial from device")]
    keys, gateway_of = {}, {}
    for prefix, name in GATEWAYS.items():
        mine = [s for s in serials if s.startswith(prefix)]
        if mine:
            keys[name] = server.add_gateway(name, mine)
            gateway_of.update(dict.fromkeys(mine, name))
    day_start = next_local_midnight(datetime.now(UTC), "America/Chicago")
    prepare(server.db, day_start)
    day = SimulatedDay(server.db, day_start, rates, seed)
    clock = SimulatedClock(day_start)
    server.db.clock = clock.now
    hidden: set[str] = set()
    unreachable: set[str] = set()
    fixes = rejected = 0
    started = time.perf_counter()
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for slot in range(day.slots):
            clock.at = day.slot_time(slot + 1)  # every point of this interval has arrived
            by_gateway: dict[str, list[dict[str, Any]]] = {}
            for fix in day.reports(slot):
                by_gateway.setdefault(gateway_of[fix["serial"]], []).append(fix)
            for name, batch in by_gateway.items():
                for start in range(0, len(batch), BATCH):
                    body = json.dumps({"fixes": batch[start:start + BATCH]}, separators=(",", ":"))
                    response = client.post("/v1/ingest/fixes", content=body, headers={
                        "X-Gateway-Key": keys[name], "content-type": "application/json"})
                    response.raise_for_status()
                    fixes += len(batch[start:start + BATCH])
                    rejected += response.json()["rejected"]
            check_silence(server.db, server.hub)
            hidden.update(r[0] for r in server.query(_HIDDEN))
            unreachable.update(r[0] for r in server.query(_UNREACHABLE))
    wall_s = time.perf_counter() - started
    kinds = Counter({kind: n for kind, n in server.query("select kind, count(*) from alert group by kind")})
    raw = sum(kinds.values())
    [(incidents, needs_action, auto_resolved, outages)] = server.query(
        "select count(*), sum(case when needs_action then 1 else 0 end), "
        "sum(case when state = 'auto_resolved' then 1 else 0 end), "
        "sum(case when family = 'outage' then 1 else 0 end) from incident")
    needing = {family: n for family, n in server.query(
        "select family, count(*) from incident where needs_action group by family")}
    # the floor the goal sits on: incidents holding a kind that never clears by itself need an officer
    # whatever the rules' delays are (NEVER_AUTO_RESOLVED)
    never_auto = sum(1 for (kinds,) in server.query("select kinds from incident where needs_action")
                     if not auto_resolvable(json.loads(kinds) if isinstance(kinds, str) else kinds or ()))
    critical = server.query("select count(*) from alert where severity = 'critical'")[0][0]
    outage_kinds = Counter((g or "").partition(":")[0] for (g,) in server.query(
        "select outage_group from incident where family = 'outage'"))
    outage_devices = server.query(
        "select count(*) from alert a join incident i on i.id = a.incident_id where i.family = 'outage'")[0][0]
    metrics: dict[str, Any] = {
        "triage_participants": len(day.plans),
        "triage_simulated_hours": HOURS,
        "triage_fixes": fixes,
        "triage_fixes_rejected": rejected,
        "triage_raw_alerts": raw,
        "triage_incidents": int(incidents or 0),
        "triage_outage_incidents": int(outages or 0),
        "triage_outage_devices": int(outage_devices),
        "triage_outages_of_an_area": outage_kinds.get("area", 0),
        "triage_outages_of_a_gateway": outage_kinds.get("gateway", 0),
        "triage_needs_action": int(needs_action or 0),
        "triage_auto_resolved": int(auto_resolved or 0),
        "triage_needs_action_per_raw_alert": round((needs_action or 0) / raw, 3) if raw else 0.0,
        "triage_needs_action_never_auto": never_auto,
        "triage_never_auto_per_raw_alert": round(never_auto / raw, 3) if raw else 0.0,
        "triage_goal_met": bool(raw) and (needs_action or 0) <= GOAL_NEEDS_ACTION_PER_RAW * raw
        and not hidden and not unreachable,
        "triage_critical_alerts": int(critical),
        "triage_critical_hidden": len(hidden),
        "triage_unreachable_alerts": len(unreachable),
        "triage_wall_s": round(wall_s, 1),
        "triage_fixes_per_wall_s": round(fixes / wall_s) if wall_s else 0,
    }
    metrics.update({f"triage_alerts_{kind}": n for kind, n in sorted(kinds.items())})
    metrics.update({f"triage_needs_action_{family}": n for family, n in sorted(needing.items())})
    return metrics


def run(quick: bool = False) -> dict[str, Any]:
    return play_day(1000 if quick else 7000)
