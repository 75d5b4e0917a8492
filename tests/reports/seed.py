"""A participant with a week of history, written into a real encrypted store (tests and bench/report.py).

Rows are built through the same wire models and row builders the sync uses (workstation.sync.rows),
so the store holds what a synced laptop would hold.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from local_db.models import Alert, Device, Note, Officer, OutboxAction, Participant, Position, SyncState, Zone
from workstation import protocol as p
from workstation.sync.rows import ROW_BUILDERS, position_row

CASE = "CR-2026-0042"
HOME = (41.8818, -87.6231)  # the Loop, inside the bundled Chicago basemap


@dataclass(frozen=True)
class Seeded:
    participant_id: str
    device_id: str
    case_number: str
    start: datetime
    fixes: int


def seed_case(store, *, start: datetime, fixes: int, every_s: int = 60, officer: str = "officer1") -> Seeded:
    """One participant, one device, two zones, `fixes` positions from `start`, alerts, notes, an outbox action."""
    pid, dev = "p-0042", "d-0042"
    participant = p.ParticipantData(
        id=pid, case_number=CASE, first_name="Renée", last_name="Okafor", dob="1990-04-12", phone="312-555-0142",
        address="233 S Wacker Dr, Chicago", home_lat=HOME[0], home_lon=HOME[1], program="pretrial GPS",
        risk_level="high", legal_flags=["court_date_pending"], supervision_start="2026-09-01",
        supervision_end="2027-03-01", officer_id="o-1",
    )
    device = p.DeviceData(id=dev, participant_id=pid, kind="ankle", serial="GA-77813", battery_pct=64)
    zones = [
        p.ZoneData(id="z-home", participant_id=pid, name="Home (curfew)", kind="inclusion", shape="circle",
                   center_lat=HOME[0], center_lon=HOME[1], radius_m=250, time_zone="America/Chicago",
                   schedule=[p.ScheduleWindow(days=[1, 2, 3, 4, 5, 6, 7], start="21:00", end="06:00")]),
        p.ZoneData(id="z-park", participant_id=pid, name="Victim's workplace", kind="exclusion", shape="polygon",
                   polygon=[(41.8895, -87.6360), (41.8895, -87.6300), (41.8860, -87.6300), (41.8860, -87.6360)]),
    ]
    t0 = start.astimezone(UTC)
    positions = []
    for i in range(fixes):
        angle = 2 * math.pi * (i % 720) / 720
        at = t0 + timedelta(seconds=i * every_s)
        positions.append(position_row(p.PositionData(
            id=i + 1, device_id=dev, participant_id=pid, fix_time=at, received_at=at + timedelta(seconds=4 + i % 7),
            lat=HOME[0] + 0.006 * math.sin(angle) + 0.002 * math.sin(5 * angle),
            lon=HOME[1] + 0.009 * math.cos(angle), accuracy_m=5 + i % 20, speed_kmh=(i % 30) * 1.0,
            source="wifi" if i % 97 == 0 else "gps", flags=["drift"] if i % 211 == 0 else [],
        )))
    alerts = [
        p.AlertData(id="a-1", participant_id=pid, device_id=dev, kind="zone_entry", severity="high",
                    opened_at=t0 + timedelta(hours=3), state="acknowledged", acknowledged_by="officer1",
                    acknowledged_at=t0 + timedelta(hours=3, minutes=9), incident_id="i-1",
                    detail="entered Victim's workplace", lat=41.888, lon=-87.633),
        p.AlertData(id="a-2", participant_id=pid, device_id=dev, kind="strap_tamper", severity="critical",
                    opened_at=t0 + timedelta(hours=26), state="resolved", acknowledged_by="dispatch2",
                    acknowledged_at=t0 + timedelta(hours=26, minutes=2), resolved_by="officer1",
                    resolved_at=t0 + timedelta(hours=27), incident_id="i-2"),
        p.AlertData(id="a-3", participant_id=pid, device_id=dev, kind="low_battery", severity="low",
                    opened_at=t0 + timedelta(hours=50)),
    ]
    notes = [
        p.NoteData(id="n-1", participant_id=pid, kind="home_visit", outcome="met", author="officer1",
                   text="Strap intact, charger present. Discussed the curfew.", occurred_at=t0 + timedelta(hours=28),
                   place="233 S Wacker Dr"),
        p.NoteData(id="n-2", participant_id=pid, kind="contact", outcome="phone_contact", author="officer1",
                   text="Called about the zone entry: says the bus was rerouted.", occurred_at=t0 + timedelta(hours=4)),
    ]

    def write(session) -> None:
        session.add(Officer(id="o-1", username=officer, display_name="Dana Whitfield"))
        session.add(SyncState(id=1, officer_id="o-1", server_url="https://agency.example", cursor=1,
                              last_pull_at=(t0 + timedelta(hours=60)).replace(tzinfo=None)))
        session.add(Participant(**ROW_BUILDERS["participant"](participant, 3)))
        session.add(Device(**ROW_BUILDERS["device"](device, 1)))
        for zone in zones:
            session.add(Zone(**ROW_BUILDERS["zone"](zone, 1)))
        session.flush()
        if positions:
            session.execute(insert(Position), positions)
        for alert in alerts:
            session.add(Alert(**ROW_BUILDERS["alert"](alert, 1)))
        for note in notes:
            session.add(Note(**ROW_BUILDERS["note"](note, 1)))
        session.add(Note(id=str(uuid.uuid4()), participant_id=pid, kind="note", author=officer, pending=True,
                         text="Court date confirmed for 12/09.", occurred_at=(t0 + timedelta(hours=30)).replace(tzinfo=None)))
        session.add(OutboxAction(
            id=str(uuid.uuid4()), seq=1, kind="resolve_alert", target="a-2", participant_id=pid, base_version=1,
            payload={"resolution": "resolved", "note": "Strap re-seated at the home visit; photo on file."},
            created_at=(t0 + timedelta(hours=27)).replace(tzinfo=None), state="done",
        ))

    store.write(write)
    return Seeded(pid, dev, CASE, t0, fixes)
