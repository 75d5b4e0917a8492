"""Fill a real (encrypted) store with a small, known caseload through Store.write, for widget
tests that need data but no server."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from local_db.models import Alert, Appointment, Device, Note, Officer, Participant, Zone
from local_db.store import Store
from local_db.timeutil import utc_now

FIRST = ("Maria", "James", "Ana", "Luis", "Wei", "Fatima", "John", "Olga", "Carlos", "Aisha")
LAST = ("Garcia", "Smith", "Nguyen", "Kowalski", "Okafor", "Hernandez", "Brown", "Ivanova", "Khan", "Lopez")


def fill_store(store: Store, n: int = 30, now: datetime | None = None) -> dict:
    now = now or utc_now()

    def write(s):
        s.add(Officer(id="off1", username="officer1", display_name="Officer One", office_lat=41.881, office_lon=-87.627))
        for i in range(n):
            pid = f"p{i:03d}"
            s.add(Participant(
                id=pid, version=1, case_number=f"CHI-2026-{i:07d}", first_name=FIRST[i % 10], last_name=LAST[(i // 10) % 10],
                dob=date(1990, 1, 1) + timedelta(days=97 * i), language="es" if i % 3 == 0 else "en",
                phone=f"(312) 555-{i:04d}", address=f"{100 + i} W Madison St, Chicago, IL",
                home_lat=41.88 + i * 0.002, home_lon=-87.65 + i * 0.001, program="Pretrial GPS",
                risk_level=("low", "medium", "high")[i % 3],
                legal_flags=["stay_of_removal"] if i % 5 == 0 else [], supervision_start=date(2026, 1, 1),
                officer_id="off1",
            ))
            fix_age = timedelta(minutes=2) if i % 4 else timedelta(hours=3)  # every 4th is stale
            s.add(Device(
                id=f"d{i:03d}", version=1, participant_id=pid, kind=("ankle", "wrist", "phone_app")[i % 3],
                serial=f"SN-{i:05d}", battery_pct=10 if i % 7 == 0 else 80, charging=False, strap="ok",
                last_contact_at=now - fix_age, last_fix_time=now - fix_age, last_lat=41.88 + i * 0.002,
                last_lon=-87.65 + i * 0.001, last_accuracy_m=8.0, last_source="gps",
            ))
            s.add(Zone(id=f"z{i:03d}", version=1, participant_id=pid, name="Home (curfew)", kind="inclusion",
                       shape="circle", center_lat=41.88 + i * 0.002, center_lon=-87.65 + i * 0.001, radius_m=120,
                       schedule=[{"days": [1, 2, 3, 4, 5, 6, 7], "start": "22:00", "end": "06:00"}]))
            s.add(Appointment(id=f"a{i:03d}", version=1, participant_id=pid,
                              kind="court_hearing" if i % 6 == 0 else "home_visit",
                              starts_at=now + timedelta(hours=1 + i % 5), place="Daley Center" if i % 6 == 0 else "",
                              status="scheduled"))
            s.add(Note(id=f"n{i:03d}", version=1, participant_id=pid, kind="note", text="Initial interview.",
                       author="Officer One", occurred_at=now - timedelta(days=3)))
        # p001: a battery story of three alerts (one incident); p002: strap tamper (needs a note)
        s.add_all([
            Alert(id="al1", version=1, participant_id="p001", device_id="d001", kind="low_battery", severity="low",
                  opened_at=now - timedelta(hours=2)),
            Alert(id="al2", version=1, participant_id="p001", device_id="d001", kind="no_communication",
                  severity="high", opened_at=now - timedelta(hours=1)),
            Alert(id="al3", version=1, participant_id="p001", device_id="d001", kind="no_gps", severity="medium",
                  opened_at=now - timedelta(minutes=50)),
            Alert(id="al4", version=1, participant_id="p002", device_id="d002", kind="strap_tamper",
                  severity="critical", opened_at=now - timedelta(minutes=20)),
        ])

    store.write(write)
    return {"n": n, "now": now}
