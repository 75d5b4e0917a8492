"""Device simulator: every seeded device moves on a plausible daily pattern and reports through the same
ingestion function as real trackers (`ingest_fixes`, batched once per tick).

Pattern (agency local time): home at night; people with a job commute along the street grid (east-west
first, then north-south, as Chicago's grid makes people drive) to a workplace in the morning and back in
the evening; some run a lunchtime errand. Faults, drawn per device per simulated hour: strap tamper
(ankle/wrist, restored after ~20 min), GPS loss indoors (wifi/cell fixes with wide accuracy), curfew
breaks (out at night for about an hour), drift jumps (one fix kilometres away), battery drain to empty
(the device goes silent until it is charged).

Time: the pattern runs on a simulated clock that starts at the real time and advances `speed` times
faster; each device reports once per simulated minute, at most once per tick (1 s real), and fixes are
stamped with the real time they are sent, so positions never look like they come from the future.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from sync_server.db import Database
from sync_server.ingest import IngestError, check_silence, ingest_fixes
from sync_server.live import LiveHub
from sync_server.models import Device, Participant
from sync_server.seeder import BBOX, SEED_TIME_ZONE
from workstation.protocol import GatewayFix
from workstation.rules.schedule import time_zone

log = logging.getLogger("sync_server.simulator")

# Chances per device per simulated hour.
P_TAMPER = 0.0004
P_GPS_LOSS = 0.01
P_CURFEW_BREAK = 0.003
P_DRIFT = 0.004
P_DRAIN = 0.0005


@dataclass
class _Sim:
    device_id: str
    serial: str
    kind: str
    home: tuple[float, float]
    work: tuple[float, float] | None
    leave_h: float
    back_h: float
    errand: tuple[float, float] | None
    battery: float
    offset_s: float
    last: tuple[float, float] | None = None
    # fault state: name -> simulated time it ends
    faults: dict[str, datetime] = field(default_factory=dict)
    break_point: tuple[float, float] | None = None
    tampered: bool = False


def _random_point(rng: random.Random) -> tuple[float, float]:
    return (rng.uniform(BBOX["lat_min"], BBOX["lat_max"]), rng.uniform(BBOX["lon_min"], BBOX["lon_max"]))


def _along_grid(a: tuple[float, float], b: tuple[float, float], f: float) -> tuple[float, float]:
    """Point at fraction f of a trip from a to b, east-west leg first, then north-south."""
    f = min(1.0, max(0.0, f))
    if f < 0.5:
        return a[0], a[1] + (b[1] - a[1]) * f * 2
    return a[0] + (b[0] - a[0]) * (f - 0.5) * 2, b[1]


class Simulator:
    def __init__(self, db: Database, hub: LiveHub | None, speed: float = 1.0, tick_s: float = 1.0,
                 random_seed: int = 7, silence_check_s: float = 30.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.db, self.hub, self.speed, self.tick_s = db, hub, speed, tick_s
        self.rng = random.Random(random_seed)
        self.silence_check_s = silence_check_s
        self.devices: list[_Sim] = []
        self.fixes_sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> None:
        with self.db.read() as session:
            rows = session.execute(
                select(Device.id, Device.serial, Device.kind, Device.battery_pct, Participant.home_lat,
                       Participant.home_lon)
                .join(Participant, Participant.id == Device.participant_id)
                .order_by(Device.id)
            ).all()
        n = max(1, len(rows))
        self.devices = []
        for i, r in enumerate(rows):
            rng = random.Random(f"sim:{r.id}")
            home = (r.home_lat, r.home_lon) if r.home_lat is not None else _random_point(rng)
            has_job = rng.random() < 0.6
            self.devices.append(_Sim(
                device_id=r.id, serial=r.serial, kind=r.kind, home=home,
                work=_random_point(rng) if has_job else None,
                leave_h=rng.uniform(7.0, 9.5), back_h=rng.uniform(16.5, 19.0),
                errand=_random_point(rng) if rng.random() < 0.5 else None,
                battery=float(r.battery_pct if r.battery_pct is not None else 80),
                offset_s=60.0 * i / n,
            ))

    def start(self) -> None:
        self.load()
        self._thread = threading.Thread(target=self._run, name="device-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        real_start = time.monotonic()
        sim_start = datetime.now(UTC)
        previous_s = 0.0
        last_check = time.monotonic()
        while not self._stop.wait(self.tick_s):
            elapsed_s = (time.monotonic() - real_start) * self.speed
            sim_now = sim_start + timedelta(seconds=elapsed_s)
            try:
                self.step(previous_s, elapsed_s, sim_now, datetime.now(UTC))
                if time.monotonic() - last_check >= self.silence_check_s:
                    last_check = time.monotonic()
                    check_silence(self.db, self.hub)
            except (SQLAlchemyError, IngestError):
                log.exception("simulator tick failed; continuing")
            previous_s = elapsed_s

    def step(self, from_s: float, to_s: float, sim_now: datetime, real_now: datetime) -> int:
        """Emit one fix for every device whose per-minute slot falls in (from_s, to_s]. Returns the count."""
        fixes = self.fixes(from_s, to_s, sim_now, real_now)
        if fixes:
            ingest_fixes(self.db, fixes, self.hub, now=real_now.replace(tzinfo=None), via="simulator")
            self.fixes_sent += len(fixes)
        return len(fixes)

    def fixes(self, from_s: float, to_s: float, sim_now: datetime, real_now: datetime) -> list[GatewayFix]:
        """The fixes of every device whose per-minute slot falls in (from_s, to_s] (bench cluster sends
        them through the cluster's receivers)."""
        fixes = []
        # A fix stands for one simulated minute, or for the whole tick when speed makes ticks longer.
        span_h = max(60.0, to_s - from_s) / 3600.0
        for dev in self.devices:
            if math.floor((to_s + dev.offset_s) / 60.0) == math.floor((from_s + dev.offset_s) / 60.0):
                continue
            fix = self._fix(dev, sim_now, real_now, span_h)
            if fix is not None:
                fixes.append(fix)
        return fixes

    def _where(self, dev: _Sim, local: datetime) -> tuple[float, float]:
        h = local.hour + local.minute / 60.0
        if dev.break_point is not None:
            return dev.break_point
        if dev.work is None or local.isoweekday() > 5:
            if dev.errand is not None and 13.0 <= h < 14.0:
                return _along_grid(dev.home, dev.errand, (h - 13.0) * 4)
            return dev.home
        commute = 0.5
        if h < dev.leave_h or h >= dev.back_h + commute:
            return dev.home
        if h < dev.leave_h + commute:
            return _along_grid(dev.home, dev.work, (h - dev.leave_h) / commute)
        if h >= dev.back_h:
            return _along_grid(dev.work, dev.home, (h - dev.back_h) / commute)
        if dev.errand is not None and 12.0 <= h < 13.0:
            return _along_grid(dev.work, dev.errand, 1 - abs(h - 12.5) * 2)
        return dev.work

    def _fix(self, dev: _Sim, sim_now: datetime, real_now: datetime, span_h: float) -> GatewayFix | None:
        rng = self.rng
        for name, until in list(dev.faults.items()):
            if sim_now >= until:
                del dev.faults[name]
                if name == "curfew_break":
                    dev.break_point = None
        per_fix_hours = span_h
        local = sim_now.astimezone(time_zone(SEED_TIME_ZONE))
        event = None
        if dev.kind != "phone_app" and not dev.tampered and rng.random() < P_TAMPER * per_fix_hours:
            dev.tampered, event = True, "strap_tamper"
            dev.faults["tamper"] = sim_now + timedelta(minutes=20)
        elif dev.tampered and "tamper" not in dev.faults:
            dev.tampered, event = False, "strap_restored"
        if rng.random() < P_GPS_LOSS * per_fix_hours:
            dev.faults["gps_loss"] = sim_now + timedelta(minutes=rng.randrange(20, 90))
        night = local.hour >= 21 or local.hour < 5
        if night and dev.break_point is None and rng.random() < P_CURFEW_BREAK * per_fix_hours:
            lat, lon = dev.home
            dev.break_point = (lat + rng.uniform(-0.01, 0.01), lon + rng.uniform(-0.01, 0.01))
            dev.faults["curfew_break"] = sim_now + timedelta(minutes=60)
        if rng.random() < P_DRAIN * per_fix_hours:
            dev.battery = min(dev.battery, 6.0)
        # Drain about 2% an hour; devices charge overnight (phones always, bracelets sometimes).
        charging = local.hour < 6 and (dev.kind == "phone_app" or dev.device_id[-1] in "02468")
        dev.battery = min(100.0, dev.battery + 10 * per_fix_hours) if charging else dev.battery - 2 * per_fix_hours
        if dev.battery <= 0:
            dev.battery = 0.0
            if charging:
                dev.battery = 1.0
            return None  # empty battery: silent until charged
        lat, lon = self._where(dev, local)
        lat += rng.gauss(0, 0.00005)
        lon += rng.gauss(0, 0.00005)
        accuracy, source = float(rng.randrange(4, 20)), "gps"
        if "gps_loss" in dev.faults:
            accuracy, source = float(rng.randrange(60, 1500)), rng.choice(["wifi", "cell"])
        if rng.random() < P_DRIFT * per_fix_hours:
            lat += rng.choice([-1, 1]) * rng.uniform(0.01, 0.03)
            lon += rng.choice([-1, 1]) * rng.uniform(0.01, 0.03)
            accuracy = float(rng.randrange(30, 300))
        speed = 0.0
        if dev.last is not None:
            # km travelled per simulated hour between this fix and the previous one
            dy = (lat - dev.last[0]) * 111.2
            dx = (lon - dev.last[1]) * 111.2 * math.cos(math.radians(lat))
            speed = min(199.0, math.hypot(dx, dy) / per_fix_hours)
        dev.last = (lat, lon)
        return GatewayFix(
            serial=dev.serial, fix_time=real_now, lat=max(-90.0, min(90.0, lat)),
            lon=lon, accuracy_m=accuracy, speed_kmh=round(speed, 1), battery_pct=int(max(0.0, dev.battery)),
            charging=charging, source=source, event=event,
        )
