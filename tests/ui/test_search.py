"""One caseload search for the window and `workstation caseload --search`: accents and case ignored,
the name either way round, phones as digits."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from local_db.models import Participant
from ui.caseload_model import RowRole
from workstation.read.caseload import list_caseload
from workstation.read.search import fold, search_words

PEOPLE = (  # id, first, last, phone
    ("px1", "Rebecca", "Nelson", "(312) 555-0199"),
    ("px2", "José", "Negrón", "(773) 555-0101"),
    ("px3", "Ana", "Negrón", "(773) 555-0102"),
    ("px4", "Lucía", "González", "(312) 555-0177"),
    ("px5", "NOAH", "NEGRON-SMITH", "312.555.0155"),
)
QUERIES = {
    "negron": {"px2", "px3", "px5"},
    "NEGRÓN": {"px2", "px3", "px5"},
    "gonzalez": {"px4"},
    "González lucia": {"px4"},
    "Nelson, Rebecca": {"px1"},
    "Rebecca Nelson": {"px1"},
    "3125550199": {"px1"},
    "555-0199": {"px1"},
    "3125550155": {"px5"},
    "jose negron": {"px2"},
}


def _add_people(store) -> None:
    def write(s):
        template = s.scalars(select(Participant).where(Participant.id == "p000")).one()
        for i, (pid, first, last, phone) in enumerate(PEOPLE):
            s.add(Participant(id=pid, version=1, case_number=f"SRCH-{i:04d}", first_name=first, last_name=last,
                              phone=phone, address=f"{i} S Test Ave, Chicago, IL", officer_id=template.officer_id,
                              risk_level="low", legal_flags=[], program=template.program))
    store.write(write)


def test_fold_and_words():
    assert fold("Negrón GONZÁLEZ Ørsted straße") == "negron gonzalez ørsted strasse"
    assert search_words("  Nelson,Rebecca ") == ["nelson", "rebecca"]


@pytest.fixture
def searched_window(qtbot, offline_session, make_window):
    _add_people(offline_session.store)
    window = make_window(offline_session)
    window.show()
    with qtbot.waitSignal(window.snapshotApplied, timeout=10_000):
        window.start()
    return window


def test_window_and_cli_find_the_same_participants(qtbot, searched_window):
    """The window's search box, typed into, and the listing `workstation caseload --search` prints."""
    w = searched_window
    for text, expected in QUERIES.items():
        w.caseload.search.clear()
        if text.isascii():
            qtbot.keyClicks(w.caseload.search, text)
        else:  # QTest types ASCII only; an accented query is pasted
            w.caseload.search.setText(text)
        shown = {w.caseload.proxy.data(w.caseload.proxy.index(r, 0), role=RowRole).participant_id
                 for r in range(w.caseload.proxy.rowCount())}
        assert shown == expected, text
        listed = {row.participant_id for row in list_caseload(w.store, text)}
        assert listed == expected, f"CLI: {text}"

