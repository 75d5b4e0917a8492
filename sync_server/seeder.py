"""Deterministic synthetic caseloads in central Chicago (the demo basemap area).

Every participant is generated from its own random stream (`seed:officer:index`), so seeding is
idempotent and extendable: a second run inserts only what is missing and a larger caseload keeps the
first participants unchanged. Names come from faker's name tables (weighted like the US census);
addresses are built on Chicago's street grid (800 numbers a mile from State and Madison), so the
address and the home coordinates agree. Rows are written with executemany inserts and their change-feed
entries pre-serialized in the same transaction.
"""

from __future__ import annotations

import itertools
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from faker.providers.person.en_US import Provider as UsNames
from faker.providers.person.es_MX import Provider as MxNames
from sqlalchemy import insert, select

from sync_server.auth import hash_password, verify_password
from sync_server.caseload import upsert_entry
from sync_server.changes import append_changes
from sync_server.db import Database, utcnow
from sync_server.device_keys import bump_credentials, key_hash, new_key
from sync_server.incidents import SYSTEM
from sync_server.models import Alert, Appointment, Device, Incident, Note, Officer, Participant, Zone
from workstation.rules.incidents import (
    auto_resolvable,
    clearing_reason,
    due_at,
    family_of,
    max_severity,
    needs_action_from,
    severity_of,
)
from workstation.rules.schedule import time_zone

# Demo basemap (z13 tiles of central Chicago); homes stay on land, west of the lakefront.
#: The seeded caseload lives in Chicago; its zones and schedules say so explicitly.
SEED_TIME_ZONE = "America/Chicago"
BBOX = {"lat_min": 41.862, "lat_max": 41.898, "lon_min": -87.658, "lon_max": -87.622}
STATE_MADISON = (41.88204, -87.62784)  # origin of the street-number grid
NUMBERS_PER_DEG_LAT = 69.05 * 800
NUMBERS_PER_DEG_LON = 51.45 * 800
OFFICE = {"name": "Loop Field Office, 55 E Monroe St", "lat": 41.88070, "lon": -87.62560}
COURTS = [
    ("Daley Center, 50 W Washington St", 41.88410, -87.63030),
    ("Dirksen Federal Courthouse, 219 S Dearborn St", 41.87850, -87.62950),
    ("Immigration Court, 525 W Van Buren St", 41.87680, -87.63970),
]
# (name, grid offset in address numbers; positive = north / east)
EW_STREETS = [
    ("W Division St", 1200), ("W Chicago Ave", 800), ("W Superior St", 732), ("W Huron St", 700),
    ("W Erie St", 664), ("W Ontario St", 628), ("W Grand Ave", 530), ("W Hubbard St", 430),
    ("W Kinzie St", 400), ("W Fulton St", 300), ("W Lake St", 200), ("W Randolph St", 150),
    ("W Washington Blvd", 100), ("W Madison St", 0), ("W Monroe St", -100), ("W Adams St", -200),
    ("W Jackson Blvd", -300), ("W Van Buren St", -400), ("W Harrison St", -600), ("W Polk St", -800),
    ("W Taylor St", -1000), ("W Roosevelt Rd", -1200),
]
NS_STREETS = [
    ("N Ashland Ave", -1600), ("N Laflin St", -1500), ("N Racine Ave", -1200), ("N Aberdeen St", -1100),
    ("N Morgan St", -1000), ("N Sangamon St", -900), ("N Halsted St", -800), ("N Union Ave", -700),
    ("N Desplaines St", -650), ("N Jefferson St", -600), ("N Clinton St", -540), ("N Wells St", -200),
    ("N LaSalle St", -140), ("N Clark St", -100), ("N Dearborn St", -36), ("N State St", 0),
    ("S Wabash Ave", 45), ("S Michigan Ave", 100),
]
PROGRAMS = ["ATD Intensive Supervision", "Pretrial GPS", "Probation EM", "Parole EM", "ATD Case Management"]
LANGUAGES = ["en"] * 14 + ["es"] * 5 + ["pl", "zh"]
EXCLUSION_PLACES = [
    ("Protected party residence", 150.0),
    ("Former workplace", 120.0),
    ("Co-defendant address", 100.0),
    ("School zone", 200.0),
]
# Named areas with real outlines (approximate), used as polygon exclusion zones.
POLYGON_AREAS = [
    ("Millennium Park", [(41.8855, -87.6245), (41.8855, -87.6205), (41.8810, -87.6205), (41.8810, -87.6245)]),
    ("Union Station area", [(41.8800, -87.6410), (41.8800, -87.6385), (41.8770, -87.6385), (41.8770, -87.6410)]),
    ("Greyhound terminal", [(41.8765, -87.6425), (41.8768, -87.6410), (41.8750, -87.6405), (41.8746, -87.6423)]),
]
NOTE_TEXTS = [
    "Home visit completed; participant present and compliant.",
    "Phone contact; participant confirmed employment schedule.",
    "Discussed curfew expectations and charging routine.",
    "Participant reported device strap irritation; will check at next office visit.",
]
CURFEWS = [("21:00", "06:00"), ("22:00", "06:00"), ("20:00", "07:00"), ("23:00", "05:00")]
HISTORY_ALERTS = ["low_battery", "zone_exit", "no_gps", "curfew_violation", "no_communication"]
#: Seeded episodes younger than this are still open in OPEN_SHARE_RECENT of cases, older ones in OPEN_SHARE_OLDER.
RECENT_EPISODE = timedelta(hours=8)
OPEN_SHARE_RECENT, OPEN_SHARE_OLDER = 0.6, 0.03


def _alert_episode(rng: random.Random, start: datetime) -> list[tuple[str, datetime]]:
    """The alert history of one past episode, shaped the way real ones unfold: a battery that runs down
    ("low battery", hours later "no communication", then "no GPS" once it reconnects indoors), a
    participant pacing the edge of a zone (several exits minutes apart), or a lone alert. One flat
    list of raw alerts per episode is what the workstation's incident grouping exists to fold."""
    shape = rng.choices(["single", "battery", "pacing", "curfew"], weights=[5, 2, 2, 1])[0]
    if shape == "single":
        return [(rng.choice(HISTORY_ALERTS), start)]
    if shape == "battery":
        kinds = ["low_battery", "no_communication"] + (["no_gps"] if rng.random() < 0.5 else [])
        gaps = [0, rng.randrange(60, 300), rng.randrange(10, 90)]
    elif shape == "pacing":
        kinds = ["zone_exit"] * rng.randrange(2, 5)
        gaps = [0] + [rng.randrange(3, 15) for _ in kinds[1:]]
    else:
        kinds = ["curfew_violation", "zone_exit"]
        gaps = [0, rng.randrange(5, 20)]
    at, episode = start, []
    for kind, gap in zip(kinds, gaps, strict=False):
        at += timedelta(minutes=gap)
        episode.append((kind, at))
    return episode


def _weighted(table: Any) -> tuple[list[str], list[float]]:
    names = list(table)
    if isinstance(table, dict):
        return names, list(itertools.accumulate(table.values()))
    return names, list(itertools.accumulate([1.0] * len(names)))


_US_FIRST = _weighted({**UsNames.first_names_male, **UsNames.first_names_female})
_US_LAST = _weighted(UsNames.last_names)
_MX_FIRST = _weighted(MxNames.first_names_male + MxNames.first_names_female)
_MX_LAST = _weighted(MxNames.last_names)


def _pick(rng: random.Random, table: tuple[list[str], list[float]]) -> str:
    return rng.choices(table[0], cum_weights=table[1])[0]


def _home(rng: random.Random) -> tuple[str, float, float]:
    """A street address on the grid inside BBOX, with its coordinates."""
    lat0, lon0 = STATE_MADISON
    while True:
        if rng.random() < 0.5:
            street, ns = rng.choice(EW_STREETS)
            ew = rng.randrange(-1550, 40)
            number, side = abs(ew), "W"
            lat, lon = lat0 + ns / NUMBERS_PER_DEG_LAT, lon0 + ew / NUMBERS_PER_DEG_LON
            name = f"{number - number % 2 + rng.randrange(2)} {street}"
        else:
            street, ew = rng.choice(NS_STREETS)
            ns = rng.randrange(-1150, 1150)
            lat, lon = lat0 + ns / NUMBERS_PER_DEG_LAT, lon0 + ew / NUMBERS_PER_DEG_LON
            side = "N" if ns >= 0 else "S"
            name = f"{abs(ns)} {side}{street[1:]}"
        if BBOX["lat_min"] <= lat <= BBOX["lat_max"] and BBOX["lon_min"] <= lon <= BBOX["lon_max"]:
            zip_code = ("60610" if lat > 41.895 else "60654" if lat > 41.886 else "60606" if lat > 41.875 else "60607")
            if lon > -87.632:
                zip_code = "60611" if lat > 41.886 else "60603" if lat > 41.875 else "60605"
            # Round to ~1 m: realistic geocoder precision, and it keeps the feed small.
            return f"{name}, Chicago, IL {zip_code}", round(lat, 5), round(lon, 5)


def _local_time(day: date, hour: int, minute: int) -> datetime:
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=time_zone(SEED_TIME_ZONE))
    return local.astimezone(UTC).replace(tzinfo=None)


def _participant_rows(k: int, i: int, officer_id: str, seed: int, now: datetime) -> dict[str, list[dict]]:
    rng = random.Random(f"{seed}:{k}:{i}")
    tag = f"{k:02d}{i:05d}"
    pid = f"p{tag}"
    hispanic = rng.random() < 0.35
    first = _pick(rng, _MX_FIRST if hispanic else _US_FIRST)
    last = _pick(rng, _MX_LAST if hispanic else _US_LAST)
    address, home_lat, home_lon = _home(rng)
    today = now.date()
    start = today - timedelta(days=rng.randrange(10, 700))
    program = rng.choice(PROGRAMS)
    flags: list[str] = []
    if program.startswith("ATD"):
        flags = rng.choice([["asylum_pending"], ["stay_of_removal"], ["final_order"], ["work_permit"],
                            ["asylum_pending", "work_permit"], ["court_date_pending"]])
    elif rng.random() < 0.3:
        flags = ["court_date_pending"]
    out: dict[str, list[dict]] = {k2: [] for k2 in MODELS}
    out["participant"].append(dict(
        id=pid, version=1, case_number=f"CHI-2026-{tag}", first_name=first, last_name=last,
        dob=date(rng.randrange(1962, 2006), rng.randrange(1, 13), rng.randrange(1, 29)),
        language="es" if hispanic and rng.random() < 0.7 else rng.choice(LANGUAGES),
        phone=f"({rng.choice(['312', '773', '872'])}) {rng.randrange(200, 1000)}-{rng.randrange(10_000):04d}",
        address=address, home_lat=home_lat, home_lon=home_lon, program=program,
        risk_level=rng.choices(["low", "medium", "high"], weights=[4, 4, 2])[0], legal_flags=flags,
        supervision_start=start, supervision_end=start + timedelta(days=rng.randrange(365, 1100)),
        officer_id=officer_id, photo_url=None,
    ))
    kind = rng.choices(["ankle", "wrist", "phone_app"], weights=[50, 15, 35])[0]
    prefix = {"ankle": "BI-LOC8-", "wrist": "SL-WR-", "phone_app": "APP-"}[kind]
    # Last fix: most devices reported in the last two minutes near home; a few went quiet hours ago.
    stale = rng.random() < 0.02
    last_fix = now - (timedelta(hours=rng.randrange(2, 30)) if stale else timedelta(seconds=rng.randrange(0, 120)))
    last_fix = last_fix.replace(microsecond=0)
    battery = rng.randrange(3, 19) if rng.random() < 0.05 else rng.randrange(25, 101)
    out["device"].append(dict(
        id=f"d{tag}", version=1, participant_id=pid, kind=kind, serial=f"{prefix}{tag}", battery_pct=battery,
        charging=False, strap="not_applicable" if kind == "phone_app" else "ok", last_contact_at=last_fix,
        expected_interval_s=60, last_fix_time=last_fix, last_gps_at=last_fix,
        last_lat=round(home_lat + rng.gauss(0, 0.0002), 5), last_lon=round(home_lon + rng.gauss(0, 0.0002), 5),
        last_accuracy_m=float(rng.randrange(4, 25)), last_speed_kmh=0.0, last_source="gps", rule_state={},
    ))
    if rng.random() < 0.85:
        begin, end = rng.choice(CURFEWS)
        out["zone"].append(dict(
            id=f"z{tag}h", version=1, participant_id=pid, name="Home (curfew)", kind="inclusion", shape="circle",
            center_lat=home_lat, center_lon=home_lon, radius_m=float(rng.randrange(60, 160, 10)), polygon=None,
            schedule=[{"days": [1, 2, 3, 4, 5, 6, 7], "start": begin, "end": end}], time_zone=SEED_TIME_ZONE,
        ))
    if rng.random() < 0.2:
        if rng.random() < 0.6:
            place, radius = rng.choice(EXCLUSION_PLACES)
            _, ex_lat, ex_lon = _home(rng)
            out["zone"].append(dict(
                id=f"z{tag}x", version=1, participant_id=pid, name=place, kind="exclusion", shape="circle",
                center_lat=ex_lat, center_lon=ex_lon, radius_m=radius, polygon=None, schedule=[],
                time_zone=SEED_TIME_ZONE,
            ))
        else:
            area, ring = rng.choice(POLYGON_AREAS)
            out["zone"].append(dict(
                id=f"z{tag}x", version=1, participant_id=pid, name=area, kind="exclusion", shape="polygon",
                center_lat=None, center_lon=None, radius_m=None, polygon=[list(p) for p in ring], schedule=[],
                time_zone=SEED_TIME_ZONE,
            ))
    for n in range(rng.randrange(1, 4)):
        day = today + timedelta(days=rng.randrange(1, 42))
        appt_kind = rng.choices(["office_checkin", "home_visit", "court_hearing"], weights=[5, 4, 1])[0]
        if appt_kind == "office_checkin":
            place, lat, lon = OFFICE["name"], OFFICE["lat"], OFFICE["lon"]
        elif appt_kind == "home_visit":
            place, lat, lon = address, home_lat, home_lon
        else:
            place, lat, lon = rng.choice(COURTS)
        out["appointment"].append(dict(
            id=f"a{tag}{n}", version=1, participant_id=pid, kind=appt_kind,
            starts_at=_local_time(day, rng.randrange(9, 17), rng.choice([0, 15, 30, 45])),
            place=place, lat=lat, lon=lon, status="scheduled",
        ))
    if rng.random() < 0.3:
        opened = (now - timedelta(minutes=rng.randrange(5, 60 * 24 * 5))).replace(second=0, microsecond=0)
        draw = rng.random()
        episode = _alert_episode(rng, opened)
        self_clearing = auto_resolvable([kind for kind, _ in episode])
        # An officer who works the queue leaves most of the last hours' episodes open and a few older
        # ones overdue; an older self-clearing one has cleared (the device reports normally now). The
        # rest were closed by themselves or by that officer.
        recent = now - opened <= RECENT_EPISODE
        is_open = draw < OPEN_SHARE_RECENT if recent else (draw < OPEN_SHARE_OLDER and not self_clearing)
        closed_by = SYSTEM if self_clearing else f"officer{k}"
        for n, (alert_kind, at) in enumerate(episode):
            aid = f"al{tag}" if n == 0 else f"al{tag}-{n}"
            out["alert"].append(dict(
                id=aid, version=1, participant_id=pid, device_id=f"d{tag}", kind=alert_kind,
                severity=severity_of(alert_kind), opened_at=min(at, now),
                lat=home_lat, lon=home_lon, state="open" if is_open else "resolved", acknowledged_by=None,
                acknowledged_at=None, resolved_by=None if is_open else closed_by,
                resolved_at=None if is_open else episode[-1][1] + timedelta(minutes=40), incident_id=f"al{tag}",
                detail="",
            ))
        out["incident"].append(_episode_incident(f"al{tag}", pid, f"d{tag}", episode, is_open, closed_by, now))
    if rng.random() < 0.25:
        out["note"].append(dict(
            id=f"n{tag}", version=1, participant_id=pid, kind="note", outcome=None, text=rng.choice(NOTE_TEXTS),
            author="officer", occurred_at=(now - timedelta(days=rng.randrange(1, 60))).replace(
                second=0, microsecond=0),
            place="", lat=None, lon=None,
        ))
    return out


def _episode_incident(
    incident_id: str, pid: str, device_id: str, episode: list[tuple[str, datetime]], is_open: bool, closed_by: str,
    now: datetime,
) -> dict[str, Any]:
    """The incident record of one seeded episode, as the server would have kept it."""
    kinds = list(dict.fromkeys(kind for kind, _ in episode))
    opened, last = min(episode[0][1], now), min(episode[-1][1], now)
    severity = max_severity(severity_of(k) for k in kinds)
    escalate_at = min(needs_action_from(kind, min(at, now)) for kind, at in episode)
    # a closed episode needed an officer only if it outlasted its delay (it closed 40 minutes after the last alert)
    closed_at = last + timedelta(minutes=40)
    needs_action = escalate_at <= (now if is_open else closed_at)
    self_clearing = auto_resolvable(kinds)
    return dict(
        id=incident_id, version=1, participant_id=pid, device_id=device_id, family=family_of(kinds[0]), kinds=kinds,
        severity=severity, state="open" if is_open else ("auto_resolved" if self_clearing else "resolved"),
        opened_at=opened, updated_at=last, last_alert_at=last, alert_count=len(episode),
        auto_resolvable=self_clearing, escalate_at=escalate_at, needs_action=needs_action,
        needs_action_since=escalate_at if needs_action else None,
        due_at=due_at(escalate_at, severity) if needs_action else None, acknowledged_by=None, acknowledged_at=None,
        resolved_by=None if is_open else closed_by, resolved_at=None if is_open else closed_at,
        resolution="" if is_open else ("cleared: " + clearing_reason(kinds) if self_clearing else "resolved"),
    )


class _Bag:
    def __init__(self, mapping: dict) -> None:
        self.__dict__.update(mapping)


MODELS = {"participant": Participant, "device": Device, "zone": Zone, "appointment": Appointment,
          "alert": Alert, "incident": Incident, "note": Note}


#: The demo officer's day (`todays_visits`): (local time, kind) of appointments today, one per
#: participant from the first: home visits across the day, an office check-in and a court hearing.
TODAYS_VISITS = (
    ((9, 0), "home_visit"), ((9, 45), "office_checkin"), ((10, 30), "home_visit"), ((11, 15), "home_visit"),
    ((13, 30), "court_hearing"), ((14, 30), "home_visit"), ((16, 0), "home_visit"), ((17, 15), "home_visit"),
)


def _todays_visits(session: Any, officer_id: str, k: int, count: int, now: datetime) -> list[dict]:
    """Appointments today (in the agency's seed time zone) for the officer's first `count` participants."""
    today = now.replace(tzinfo=UTC).astimezone(time_zone(SEED_TIME_ZONE)).date()
    rows: list[dict] = []
    for n, ((hour, minute), appt_kind) in enumerate(TODAYS_VISITS[:count]):
        pid = f"p{k:02d}{n + 1:05d}"
        appt_id = f"at{k:02d}{n + 1:05d}-{today:%Y%m%d}"
        participant = session.get(Participant, pid)
        if participant is None or session.get(Appointment, appt_id) is not None:
            continue
        if appt_kind == "office_checkin":
            place, lat, lon = OFFICE["name"], OFFICE["lat"], OFFICE["lon"]
        elif appt_kind == "court_hearing":
            place, lat, lon = COURTS[0]
        else:
            place, lat, lon = participant.address, participant.home_lat, participant.home_lon
        rows.append(dict(id=appt_id, version=1, participant_id=pid, kind=appt_kind,
                         starts_at=_local_time(today, hour, minute), place=place, lat=lat, lon=lon,
                         status="scheduled"))
    return rows


def seed(db: Database, officers: int, caseload: int, password: str, random_seed: int = 1,
         todays_visits: int = 0, device_keys: dict[str, str] | None = None) -> dict[str, Any]:
    """Create officers officer1..N with `caseload` participants each; idempotent. Returns the summary.

    todays_visits: give each officer's first participants an appointment today (TODAYS_VISITS), so
    the demo's route has a day to plan; off by default (tests must not depend on the hour they run).
    Every device created gets its own random key (sync_server.device_keys; only the hash is stored); the
    keys are added to `device_keys` (serial -> key), the one chance to learn them."""
    started = time.perf_counter()
    now = utcnow().replace(microsecond=0)
    password_hash: str | None = None  # hashed once per run: scrypt is deliberately slow
    summary: dict[str, Any] = {"officers": {}, "created_participants": 0}
    rng = random.Random(random_seed)
    for k in range(1, officers + 1):
        officer_id = f"off{k}"
        with db.write() as session:
            officer = session.get(Officer, officer_id)
            if officer is None or not verify_password(password, officer.password_hash):
                password_hash = password_hash or hash_password(password)
            if officer is None:
                first, last = _pick(rng, _US_FIRST), _pick(rng, _US_LAST)
                session.add(Officer(
                    id=officer_id, username=f"officer{k}", display_name=f"{first} {last}",
                    office_lat=OFFICE["lat"], office_lon=OFFICE["lon"], password_hash=password_hash,
                ))
            elif not verify_password(password, officer.password_hash):
                officer.password_hash = password_hash
            session.flush()
            existing = set(session.scalars(select(Participant.id).where(Participant.officer_id == officer_id)))
            batch: dict[str, list[dict]] = {name: [] for name in MODELS}
            for i in range(1, caseload + 1):
                if f"p{k:02d}{i:05d}" in existing:
                    continue
                for entity, rows in _participant_rows(k, i, officer_id, random_seed, now).items():
                    batch[entity].extend(rows)
            for row in batch["device"]:
                key = new_key()
                row["key_hash"], row["gateway"] = key_hash(key), None
                if device_keys is not None:
                    device_keys[row["serial"]] = key
            if batch["device"]:
                bump_credentials(session)
            for entity, model in MODELS.items():
                if batch[entity]:
                    session.execute(insert(model.__table__), batch[entity])
            if todays_visits:
                today_rows = _todays_visits(session, officer_id, k, todays_visits, now)
                if today_rows:
                    session.execute(insert(Appointment.__table__), today_rows)
                    batch["appointment"].extend(today_rows)
            entries = [upsert_entry(entity, _Bag(row), officer_id) for entity in MODELS for row in batch[entity]]
            append_changes(session, entries)
            summary["created_participants"] += len(batch["participant"])
            first_three = session.execute(
                select(Participant.case_number, Device.serial)
                .join(Device, Device.participant_id == Participant.id)
                .where(Participant.officer_id == officer_id)
                .order_by(Participant.id)
                .limit(3)
            ).all()
            count = len(existing) + len(batch["participant"])
        summary["officers"][f"officer{k}"] = {
            "officer_id": officer_id,
            "participants": count,
            "case_numbers": [r[0] for r in first_three],
            "serials": [r[1] for r in first_three],
        }
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary
