"""Shared by benchmarks: timing, and a deterministic synthetic caseload as plain dicts.

The caseload has the program's scale (7,000 participants per officer) and Chicago
coordinates like the demo; each participant has one device, one inclusion zone (home, with a
curfew schedule) and two appointments. Values are column dicts for local_db.models.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")

CHICAGO = (41.8781, -87.6298)
_FIRST = ["María", "José", "Ana", "Luis", "Amina", "Tomasz", "Olga", "Kwame", "Mei", "Ahmed", "Sofia", "Jamal"]
_LAST = ["García", "Nowak", "Yusuf", "Okafor", "Hernández", "Kowalski", "Nguyen", "Smith", "Rossi", "Haddad"]
_STREETS = ["W Lake St", "N Halsted St", "S Wabash Ave", "W Madison St", "N Clark St", "S Ashland Ave"]


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    return statistics.median(timed(fn)[1] for _ in range(repeats))


def synthetic_caseload(n: int, seed: int = 7, now: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    now = now or datetime(2026, 3, 2, 12, 0, 0)
    participants, devices, zones, appointments = [], [], [], []
    for i in range(n):
        pid = f"P{i:06d}"
        lat = CHICAGO[0] + rng.uniform(-0.12, 0.12)
        lon = CHICAGO[1] + rng.uniform(-0.12, 0.12)
        participants.append(
            {
                "id": pid,
                "version": 1,
                "case_number": f"EM-{2020 + i % 6}-{i:06d}",
                "first_name": rng.choice(_FIRST),
                "last_name": rng.choice(_LAST),
                "dob": None,
                "language": rng.choice(["en", "es", "pl", "ar"]),
                "phone": f"(312) 555-{i % 10000:04d}",
                "address": f"{rng.randint(1, 4999)} {rng.choice(_STREETS)}, Chicago",
                "home_lat": lat,
                "home_lon": lon,
                "program": rng.choice(["pretrial", "probation", "ATD"]),
                "risk_level": rng.choice(["low", "medium", "high"]),
                "legal_flags": rng.choice([[], [], ["asylum_pending"], ["stay_of_removal"]]),
                "officer_id": "officer-1",
            }
        )
        devices.append(
            {
                "id": f"D{i:06d}",
                "version": 1,
                "participant_id": pid,
                "kind": rng.choice(["ankle", "wrist", "phone_app"]),
                "serial": f"SN{i:08d}",
                "battery_pct": rng.randint(3, 100),
                "charging": rng.random() < 0.1,
                "strap": "ok",
                "last_contact_at": now - timedelta(seconds=rng.randint(0, 3600)),
                "expected_interval_s": 60,
                "last_fix_time": now - timedelta(seconds=rng.randint(0, 3600)),
                "last_lat": lat + rng.uniform(-0.01, 0.01),
                "last_lon": lon + rng.uniform(-0.01, 0.01),
                "last_accuracy_m": rng.uniform(3, 50),
                "last_speed_kmh": rng.uniform(0, 40),
                "last_source": "gps",
            }
        )
        zones.append(
            {
                "id": f"Z{i:06d}",
                "version": 1,
                "participant_id": pid,
                "name": "Home",
                "kind": "inclusion",
                "shape": "circle",
                "center_lat": lat,
                "center_lon": lon,
                "radius_m": 150.0,
                "polygon": None,
                "schedule": [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "21:00", "end": "06:00"}],
            }
        )
        for k in range(2):
            appointments.append(
                {
                    "id": f"A{i:06d}-{k}",
                    "version": 1,
                    "participant_id": pid,
                    "kind": rng.choice(["office_checkin", "home_visit", "court_hearing", "app_checkin"]),
                    "starts_at": now + timedelta(hours=rng.randint(-72, 24 * 30)),
                    "place": "Field office",
                    "lat": None,
                    "lon": None,
                    "status": "scheduled",
                }
            )
    return {"participant": participants, "device": devices, "zone": zones, "appointment": appointments}
