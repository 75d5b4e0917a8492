"""A simulated day: every seeded device lives 24 hours, played at high speed on a simulated clock.

The simulator's day mode. `SimulatedDay` plans each device's day from its participant's zones (home
with its curfew, exclusion zones) and the behaviour rates of `DayRates`, then hands out, per report
interval, the fixes the devices would transmit. Whoever plays the day (bench/triage.py) sends those
fixes through the real ingestion path and sets the server's clock (`Database.clock`) to the simulated
time, so receipt, silence, escalation and auto-resolution all run on simulated time.

The day, per device (agency local time; docs/rules.md "A realistic day" gives every rate's source and
says which are assumptions): home during the curfew, out at one place in the day for those with a
job or errand, one fix per 10-minute transmission. Behaviours drawn per device per day: a charging
lapse (battery down through 20 %, charged after a delay, some reach 5 % or die), indoor GPS losses
(wifi/cell fixes with wide accuracy), coverage gaps (nothing received, then the stored points), pacing
at the edge of the home zone during the curfew, coming home after the curfew began, a visit inside an
exclusion zone, a strap tamper (sometimes flapping), absconding (device removed, then silence), and
one cell-site outage silencing everyone near it for an hour or two.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from sync_server.db import Database
from sync_server.models import Alert, Appointment, ChangeLog, Device, Incident, Participant, Zone
from workstation.rules.geo import distance_m, point_in_zone
from workstation.rules.schedule import schedule_in_effect, time_zone

#: devices transmit every 10 minutes (one point each: the rules see 10-minute steps)
REPORT_INTERVAL = timedelta(minutes=10)
HOURS = 24
_M_PER_DEG_LAT = 111_195.0


@dataclass(frozen=True)
class DayRates:
    """Chances per device per day (a count for the cell outage). Sources: docs/rules.md."""

    charging_lapse: float = 0.018  # CDCR 2011-12: 86,451 low-battery alerts, ~6,500 parolees, 2 years
    gps_loss: float = 0.3  # assumption: indoor episodes of 50 min or more are rarer than losses
    coverage_gap: float = 0.021  # CDCR 2011-12: 99,192 message gaps
    pacing: float = 0.01  # assumption: part of CDCR's inclusion-zone alerts (0.086 a day)
    curfew_late: float = 0.03  # assumption: the rest of those inclusion-zone alerts
    exclusion_visit: float = 0.012  # CDCR 2011-12: 56,533 exclusion-zone alerts (for those with a zone)
    tamper: float = 0.019  # strap-tamper ALERTS (not episodes): CDCR 2011-12 counted 92,174 (strapped devices only)
    abscond: float = 0.0005  # assumption: no daily figure is published
    cell_outages: int = 1  # one cell site down for 60-120 minutes (a scenario, not a rate)


@dataclass
class _Plan:
    device_id: str
    serial: str
    kind: str
    offset: timedelta
    home: tuple[float, float]
    home_zone: Any | None
    exclusions: list[Any]
    battery: int
    away: tuple[float, float] | None = None
    leave: datetime | None = None
    back: datetime | None = None
    gps_lost: list[tuple[datetime, datetime]] = field(default_factory=list)
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)
    dead: tuple[datetime, datetime] | None = None
    pacing: tuple[datetime, datetime] | None = None
    visit: tuple[datetime, datetime, tuple[float, float]] | None = None
    events: dict[int, str] = field(default_factory=dict)  # report slot -> vendor event
    low_at: datetime | None = None  # a charging lapse: battery at 20 % then
    charged_at: datetime | None = None
    gone_slot: int | None = None  # absconded: device removed at this slot, silent after it
    buffer: list[dict[str, Any]] = field(default_factory=list)  # points stored while out of coverage


@dataclass(frozen=True)
class CellOutage:
    center: tuple[float, float]
    radius_m: float
    start: datetime
    end: datetime


def next_local_midnight(after: datetime, zone_name: str) -> datetime:
    """The first midnight in `zone_name` after `after` (aware), as naive UTC: the day's start."""
    local = after.astimezone(time_zone(zone_name))
    midnight = datetime(local.year, local.month, local.day, tzinfo=time_zone(zone_name)) + timedelta(days=1)
    return midnight.astimezone(UTC).replace(tzinfo=None)


def prepare(db: Database, day_start: datetime) -> None:
    """Start the day on a seeded database with an empty queue: no alerts, incidents or check-ins
    (missed check-ins are scheduling, not device behaviour: not part of the day), every device last
    heard at the day's start and reporting every REPORT_INTERVAL."""
    with db.write() as session:
        for model in (Alert, Incident, Appointment):
            session.execute(delete(model))
        session.execute(delete(ChangeLog).where(ChangeLog.entity.in_(("alert", "incident", "appointment"))))
        session.execute(update(Device).values(
            rule_state={}, last_fix_time=None, last_contact_at=day_start, last_gps_at=day_start, charging=False,
            battery_pct=80,
            expected_interval_s=int(REPORT_INTERVAL.total_seconds()),
        ))


class SimulatedDay:
    """The plans of every device for one day starting at `day_start` (naive UTC)."""

    def __init__(self, db: Database, day_start: datetime, rates: DayRates | None = None, seed: int = 14,
                 zone_name: str = "America/Chicago") -> None:
        self.start, self.rates, self.seed, self.zone_name = day_start, rates or DayRates(), seed, zone_name
        self.slots = int(timedelta(hours=HOURS) / REPORT_INTERVAL)
        with db.read() as session:
            devices = session.execute(
                select(Device.id, Device.serial, Device.kind, Device.battery_pct, Participant.id,
                       Participant.home_lat, Participant.home_lon)
                .join(Participant, Participant.id == Device.participant_id).order_by(Device.id)
            ).all()
            zones: dict[str, list[Zone]] = {}
            for zone in session.scalars(select(Zone)):
                zones.setdefault(zone.participant_id, []).append(zone)
        rng = random.Random(f"day:{seed}")
        self.outages = [self._outage(rng, devices) for _ in range(self.rates.cell_outages)]
        self.plans = [self._plan(row, zones.get(row[4], [])) for row in devices if row[5] is not None]

    # ------------------------------------------------------------------ planning
    def _at(self, hours: float) -> datetime:
        return self.start + timedelta(hours=hours)

    def _outage(self, rng: random.Random, devices: Sequence[Any]) -> CellOutage:
        homes = [(r[5], r[6]) for r in devices if r[5] is not None]
        begin = self._at(rng.uniform(10, 17))
        return CellOutage(rng.choice(homes), 600.0, begin, begin + timedelta(minutes=rng.uniform(60, 120)))

    def _curfew(self, zone: Any) -> tuple[datetime, datetime] | None:
        """(morning end, evening start) of the home zone's curfew on this day, naive UTC."""
        minutes = [m * 10 for m in range(HOURS * 6)]
        inside = [schedule_in_effect(zone.schedule, self._at(m / 60).replace(tzinfo=UTC), zone.time_zone or
                                     self.zone_name) for m in minutes]
        if all(inside) or not any(inside):
            return None
        end = next(m for m, on in zip(minutes, inside, strict=True) if not on)
        start = next(m for m, on in zip(minutes[end // 10:], inside[end // 10:], strict=True) if on)
        return self._at(end / 60), self._at(start / 60)

    def _plan(self, row: Any, zones: list[Any]) -> _Plan:
        device_id, serial, kind, battery, _, home_lat, home_lon = row
        rng = random.Random(f"day:{self.seed}:{device_id}")
        rates = self.rates
        home_zone = next((z for z in zones if z.kind == "inclusion" and z.shape == "circle" and z.schedule), None)
        exclusions = [z for z in zones if z.kind == "exclusion"]
        plan = _Plan(device_id, serial, kind, timedelta(seconds=rng.uniform(0, REPORT_INTERVAL.total_seconds() - 1)),
                     (home_lat, home_lon), home_zone, exclusions, max(30, battery or 80))
        curfew = self._curfew(home_zone) if home_zone is not None else None
        morning, evening = curfew or (self._at(6), self._at(22))
        late = curfew is not None and rng.random() < rates.curfew_late
        if late or rng.random() < 0.6:  # a job or an errand takes most people out once a day
            plan.away = self._place_outside(rng, plan)
            plan.leave = morning + timedelta(hours=rng.uniform(0.5, 3))
            plan.back = (evening + timedelta(minutes=rng.uniform(5, 60)) if late
                         else evening - timedelta(hours=rng.uniform(0.5, 4)))
        for _ in range(_poisson(rng, rates.gps_loss)):
            begin = self._at(rng.uniform(0, HOURS))
            plan.gps_lost.append((begin, begin + timedelta(minutes=min(360.0, rng.lognormvariate(math.log(40), 0.8)))))
        for _ in range(_poisson(rng, rates.coverage_gap)):  # counted as alerts: all outlast the 50-minute limit
            begin = self._at(rng.uniform(0, HOURS))
            plan.gaps.append((begin, begin + timedelta(minutes=55 + rng.expovariate(1 / 30))))
        if rng.random() < rates.charging_lapse:
            plan.low_at = self._at(rng.uniform(1, HOURS - 1))
            delay_h = rng.choices([rng.uniform(0, 1), rng.uniform(1, 2), rng.uniform(2, 5), rng.uniform(5, 12)],
                                  weights=[60, 15, 10, 15])[0]
            plan.charged_at = plan.low_at + timedelta(hours=delay_h)
            empty_at = plan.low_at + timedelta(hours=20 / DRAIN_PCT_PER_H)
            if empty_at < plan.charged_at:
                plan.dead = (empty_at, plan.charged_at)
        if curfew is not None and rng.random() < rates.pacing:
            begin = evening + timedelta(minutes=rng.uniform(40, 120))
            plan.pacing = (begin, begin + timedelta(minutes=rng.uniform(30, 90)))
        if exclusions and rng.random() < rates.exclusion_visit:
            zone = rng.choice(exclusions)
            inside = _inside_point(zone)
            if inside is not None:
                begin = morning + timedelta(hours=rng.uniform(3, 9))
                plan.visit = (begin, begin + timedelta(minutes=rng.uniform(10, 30)), inside)
        if kind != "phone_app" and rng.random() < rates.tamper / (1 + STRAP_FLAP_SHARE):  # an episode, 1.4 alerts
            slot = rng.randrange(self.slots - 4)
            plan.events.update({slot: "strap_tamper", slot + 2: "strap_restored"})
            if rng.random() < STRAP_FLAP_SHARE:  # a loose strap flaps
                plan.events.update({slot + 2: "strap_tamper", slot + 3: "strap_restored"})
        if kind != "phone_app" and rng.random() < rates.abscond:
            plan.gone_slot = rng.randrange(self.slots)
            plan.events[plan.gone_slot] = "device_removed"
        return plan

    def _place_outside(self, rng: random.Random, plan: _Plan) -> tuple[float, float]:
        """A place 1-4 km from home, outside the home zone and every exclusion zone."""
        for _ in range(20):
            dist, bearing = rng.uniform(1000, 4000), rng.uniform(0, 2 * math.pi)
            place = _offset(plan.home, dist * math.cos(bearing), dist * math.sin(bearing))
            if not any(point_in_zone(z, *place) for z in plan.exclusions):
                return place
        return _offset(plan.home, 1500, 0)

    # ------------------------------------------------------------------ the day, slot by slot
    def slot_time(self, slot: int) -> datetime:
        return self.start + REPORT_INTERVAL * slot

    def reports(self, slot: int) -> list[dict[str, Any]]:
        """The fixes received by the end of report slot `slot` (JSON-ready GatewayFix dicts): each
        device's point of this interval, plus the points a device stored while it could not transmit."""
        out: list[dict[str, Any]] = []
        for plan in self.plans:
            out += self._report(plan, slot)
        return out

    def _report(self, plan: _Plan, slot: int) -> list[dict[str, Any]]:
        at = self.slot_time(slot) + plan.offset
        if plan.gone_slot is not None and slot > plan.gone_slot:
            return []
        if plan.dead is not None and plan.dead[0] <= at < plan.dead[1]:
            plan.buffer.clear()  # a flat battery stores nothing
            return []
        lat, lon, accuracy = self._where(plan, slot, at)
        battery, charging = self._battery(plan, at)
        fix: dict[str, Any] = {
            "serial": plan.serial, "fix_time": at.isoformat() + "Z", "lat": round(lat, 6), "lon": round(lon, 6),
            "accuracy_m": accuracy, "battery_pct": battery, "charging": charging,
        }
        if any(a <= at < b for a, b in plan.gps_lost):
            fix["source"] = "wifi" if slot % 2 else "cell"
            fix["accuracy_m"] = float(150 + _noise(plan.serial, slot) % 1350)
        if slot in plan.events:
            fix["event"] = plan.events[slot]
        out_of_coverage = any(a <= at < b for a, b in plan.gaps) or any(
            o.start <= at < o.end and distance_m(lat, lon, *o.center) <= o.radius_m for o in self.outages)
        if out_of_coverage:
            plan.buffer.append(fix)
            return []
        sent = [*plan.buffer, fix]
        plan.buffer.clear()
        return sent

    def _where(self, plan: _Plan, slot: int, at: datetime) -> tuple[float, float, float]:
        jitter = (_noise(plan.serial, slot) % 11 - 5) / _M_PER_DEG_LAT
        if plan.visit is not None and plan.visit[0] <= at < plan.visit[1]:
            return plan.visit[2][0] + jitter, plan.visit[2][1], 8.0
        if plan.away is not None and plan.leave is not None and plan.back is not None and plan.leave <= at < plan.back:
            return plan.away[0] + jitter, plan.away[1], 10.0
        if plan.pacing is not None and plan.home_zone is not None and plan.pacing[0] <= at < plan.pacing[1]:
            # the edge of the home zone: inside on one report, 40 m out on the next
            north = plan.home_zone.radius_m + (40.0 if slot % 2 else -25.0)
            lat, lon = _offset((plan.home_zone.center_lat, plan.home_zone.center_lon), north, 0.0)
            return lat, lon, 8.0
        return plan.home[0] + jitter, plan.home[1], 10.0

    def _battery(self, plan: _Plan, at: datetime) -> tuple[int, bool]:
        if plan.low_at is None or plan.charged_at is None:
            return plan.battery, False
        hours = (at - plan.low_at).total_seconds() / 3600
        if at < plan.charged_at:
            return int(max(0.0, min(95.0, 20 - DRAIN_PCT_PER_H * hours))), False
        at_plug = max(0.0, 20 - DRAIN_PCT_PER_H * (plan.charged_at - plan.low_at).total_seconds() / 3600)
        charged_h = (at - plan.charged_at).total_seconds() / 3600
        return int(min(100.0, at_plug + CHARGE_PCT_PER_H * charged_h)), charged_h < 3


#: a loose strap flaps (tampered, restored, tampered again) in this share of strap-tamper episodes (assumption)
STRAP_FLAP_SHARE = 0.4
#: an ankle tracker's battery lasts about 33 hours (assumption); a charger gives 25 % an hour
DRAIN_PCT_PER_H = 3.0
CHARGE_PCT_PER_H = 25.0


def _noise(serial: str, slot: int) -> int:
    """A deterministic pseudo-random number per device and slot (str hashes change per process)."""
    return zlib.crc32(f"{serial}:{slot}".encode())


def _poisson(rng: random.Random, mean: float) -> int:
    count, limit, product = 0, math.exp(-mean), rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _offset(origin: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    lat = origin[0] + north_m / _M_PER_DEG_LAT
    return lat, origin[1] + east_m / (_M_PER_DEG_LAT * math.cos(math.radians(origin[0])))


def _inside_point(zone: Any) -> tuple[float, float] | None:
    if zone.shape == "circle":
        return zone.center_lat, zone.center_lon
    ring: Iterable[Sequence[float]] = zone.polygon or []
    points = [(float(p[0]), float(p[1])) for p in ring]
    if not points:
        return None
    centre = (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
    return centre if point_in_zone(zone, *centre) else None
