"""caseload_rows: one row of plain values per participant, and prefix full-text search."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from local_db.models import Alert, Appointment, Device, Participant
from local_db.queries import CaseloadRow, caseload_rows, fts_prefix_query, rebuild_search_index
from local_db.store import Store

NOW = datetime(2026, 3, 2, 12, 0, 0)


def _seed(session: Session) -> None:
    people = [
        (
            "p1",
            "EM-2024-000117",
            "María",
            "García",
            "1200 W Lake St, Chicago",
            "(312) 555-0134",
            ["stay_of_removal"],
        ),
        ("p2", "EM-2024-000118", "Mario", "Garibaldi", "45 N Halsted St, Chicago", "(773) 555-0199", []),
        ("p3", "PT-2023-004400", "Amina", "Yusuf", "980 S Wabash Ave, Chicago", "(312) 555-7788", []),
    ]
    for pid, case, first, last, address, phone, flags in people:
        session.add(
            Participant(
                id=pid, case_number=case, first_name=first, last_name=last, address=address,
                phone=phone, legal_flags=flags, officer_id="o1", risk_level="high",
            )
        )  # fmt: skip
    # p1 has two devices: the one with the newest fix is its primary device
    session.add(
        Device(
            id="d1-old", participant_id="p1", kind="wrist", serial="S1", last_fix_time=NOW - timedelta(days=3)
        )
    )
    session.add(
        Device(
            id="d1", participant_id="p1", kind="ankle", serial="S2", battery_pct=41, charging=True, strap="tampered",
            last_fix_time=NOW - timedelta(minutes=2), last_lat=41.88, last_lon=-87.65, last_accuracy_m=6.5,
        )
    )  # fmt: skip
    session.add(Device(id="d3", participant_id="p3", kind="phone_app", serial="S3"))  # never reported
    for aid, state in (("a1", "open"), ("a2", "open"), ("a3", "acknowledged"), ("a4", "resolved")):
        session.add(
            Alert(
                id=aid, participant_id="p1", kind="strap_tamper", severity="high", opened_at=NOW, state=state
            )
        )
    session.add_all(
        [
            Appointment(id="ap-past", participant_id="p1", kind="office_checkin", starts_at=NOW - timedelta(days=1)),
            Appointment(
                id="ap-cancel", participant_id="p1", kind="court_hearing", starts_at=NOW + timedelta(hours=1),
                status="cancelled",
            ),
            Appointment(id="ap-next", participant_id="p1", kind="home_visit", starts_at=NOW + timedelta(days=2)),
            Appointment(id="ap-later", participant_id="p1", kind="office_checkin", starts_at=NOW + timedelta(days=9)),
        ]
    )  # fmt: skip


@pytest.fixture
def seeded(store: Store) -> Store:
    store.write(_seed)
    return store


def _ids(store: Store, search: str | None = None, limit: int | None = None) -> list[str]:
    with store.read_session() as session:
        return [row.participant_id for row in caseload_rows(session, search, limit, now=NOW)]


def test_one_row_per_participant_with_primary_device_alerts_and_next_appointment(seeded: Store) -> None:
    with seeded.read_session() as session:
        rows = {row.participant_id: row for row in caseload_rows(session, now=NOW)}
    assert list(rows) == ["p1", "p2", "p3"]  # sorted by last name: García, Garibaldi, Yusuf
    garcia = rows["p1"]
    assert garcia == CaseloadRow(
        participant_id="p1", case_number="EM-2024-000117", first_name="María", last_name="García",
        risk_level="high", device_id="d1", device_kind="ankle", battery_pct=41, charging=True,
        strap="tampered", last_fix_time=NOW - timedelta(minutes=2), last_lat=41.88, last_lon=-87.65,
        last_accuracy_m=6.5, open_alerts=2, next_appointment_at=NOW + timedelta(days=2),
        next_appointment_kind="home_visit", legal_flags=("stay_of_removal",),
        address="1200 W Lake St, Chicago", phone="(312) 555-0134",
    )  # fmt: skip
    assert (
        rows["p2"].device_id is None
        and rows["p2"].open_alerts == 0
        and rows["p2"].next_appointment_at is None
    )
    assert rows["p3"].device_id == "d3" and rows["p3"].last_fix_time is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        garcia.open_alerts = 0  # type: ignore[misc]


SEARCHES = [
    ("gar mar", ["p1", "p2"]),  # every word is a prefix of some field
    ("garc", ["p1"]),
    ("garcia", ["p1"]),  # diacritics do not matter
    ("MARÍA GARCÍA", ["p1"]),
    ("000117", ["p1"]),  # case number pieces
    ("EM-2024-00011", ["p1", "p2"]),
    ("pt 2023", ["p3"]),
    ("wabash", ["p3"]),  # address
    ("555 778", ["p3"]),  # phone
    ("773", ["p2"]),
    ("nobody", []),
    ("   ", ["p1", "p2", "p3"]),  # no words: no filter
    ("", ["p1", "p2", "p3"]),
]


def test_prefix_search(seeded: Store) -> None:
    # one store for all cases (creating one costs the real KDF)
    results = {search: _ids(seeded, search) for search, _ in SEARCHES}
    assert results == dict(SEARCHES)


def test_search_text_is_never_fts_syntax(seeded: Store) -> None:
    for search in ['"', "AND", "OR NOT", "mar*", "NEAR(a b)", "a:b", "^x", "(", "'; DROP TABLE participant"]:
        _ids(seeded, search)  # must not raise
    assert fts_prefix_query("NEAR(a b)") == '"near"* "a"* "b"*'
    assert _ids(seeded, "mar*") == _ids(seeded, "mar")


def test_limit(seeded: Store) -> None:
    assert _ids(seeded, limit=2) == ["p1", "p2"]
    assert _ids(seeded, "gar", limit=1) == ["p1"]


def test_index_follows_updates_and_deletes(seeded: Store) -> None:
    seeded.write(
        lambda s: s.execute(update(Participant).where(Participant.id == "p3").values(last_name="Okafor"))
    )
    assert _ids(seeded, "yusuf") == []
    assert _ids(seeded, "okaf") == ["p3"]
    seeded.write(lambda s: s.execute(delete(Participant).where(Participant.id == "p2")))
    assert _ids(seeded, "gar") == ["p1"]
    seeded.write(rebuild_search_index)
    assert _ids(seeded, "okaf amina") == ["p3"]
