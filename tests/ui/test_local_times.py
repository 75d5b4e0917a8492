"""Every time in the participant's time zone, labelled where the laptop's clock differs; "Due today"
is the participant's today. A fixed clock (no wall-clock hour) and explicit zones, so the test means
the same on any machine in any TZ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from local_db.models import Appointment, Position, Zone
from tests.ui.populate import fill_store
from ui.action_forms import ContactForm
from ui.caseload_model import Col, RowRole
from workstation.auth import Auth
from workstation.local_time import differs_from_laptop, is_same_local_day, local_text
from workstation.session import WorkstationSession
from workstation.sync.connectivity import Connectivity

#: 18:00 UTC on 2 March 2026 = 12:00 in Chicago (CST), 03:00 on 3 March in Tokyo
NOW = datetime(2026, 3, 2, 18, 0)
#: 02:30 UTC on 3 March = 20:30 on 2 March in Chicago: today there, tomorrow by the UTC calendar
EVENING_VISIT = datetime(2026, 3, 3, 2, 30)
#: when the track's newest position was received (the record's track window follows the real clock)
RECEIVED = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(minutes=5)


def test_local_text_labels_only_where_the_laptop_differs():
    chicago_laptop = ZoneInfo("America/Chicago")
    assert local_text(EVENING_VISIT, "America/Chicago", laptop=chicago_laptop) == "20:30"
    assert local_text(EVENING_VISIT, "America/Chicago", laptop=UTC) == "20:30 CST"
    assert local_text(EVENING_VISIT, "Asia/Kolkata", laptop=UTC) == "08:00 IST"
    assert local_text(datetime(2026, 7, 1, 12), "America/Chicago", laptop=UTC) == "07:00 CDT"
    assert not differs_from_laptop(NOW, "Europe/London", laptop=timezone(timedelta(0)))  # GMT in March
    assert is_same_local_day(EVENING_VISIT, NOW, "America/Chicago")
    assert not is_same_local_day(EVENING_VISIT, NOW, "Europe/Berlin")


@pytest.fixture
def chicago_window(qtbot, store, store_home, make_window):
    fill_store(store, 20, now=NOW)

    def write(s):
        s.execute(update(Zone).values(time_zone="America/Chicago"))
        s.execute(update(Appointment).where(Appointment.participant_id == "p010").values(starts_at=EVENING_VISIT))
        # the record's track window ends at the real clock: a position received just now
        s.add(Position(device_id="d010", participant_id="p010", fix_time=RECEIVED - timedelta(minutes=1),
                       received_at=RECEIVED, lat=41.88, lon=-87.63, via="osmand"))

    store.write(write)
    session = WorkstationSession(store_home, store, None, Auth("officer1", "ws-test"), Connectivity(),
                                 offline_reason="no server in this test")
    window = make_window(session, clock=lambda: NOW)
    window.show()
    with qtbot.waitSignal(window.snapshotApplied, timeout=10_000):
        window.start()
    yield window
    session.close()


def test_caseload_record_and_forms_show_the_participants_time(qtbot, chicago_window):
    w = chicago_window
    model = w.caseload.model
    row = model.row_for_participant("p010")
    shown = model.data(model.index(row, Col.NEXT_APPT))
    expected = local_text(EVENING_VISIT, "America/Chicago")  # "20:30", plus " CST" unless this laptop is in Chicago
    assert shown.startswith(f"Today {expected} ·"), shown

    w.caseload.only_today.setChecked(True)  # the participant's today, not the UTC date (3 March)
    listed = {w.caseload.proxy.data(w.caseload.proxy.index(r, 0), role=RowRole).participant_id
              for r in range(w.caseload.proxy.rowCount())}
    assert "p010" in listed

    w.show_participant("p010")
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == "p010", timeout=5_000)
    assert w.record.record.time_zone == "America/Chicago"
    assert f"{local_text(EVENING_VISIT, 'America/Chicago', '%a %d %b %H:%M')} · Home visit" in w.record.browser.toPlainText()
    # the positions' provenance too: "last received 02 Dec 2026 07:31:05 CST", never a UTC clock
    received = local_text(RECEIVED, "America/Chicago", "%d %b %Y %H:%M:%S")
    assert received.startswith(f"{RECEIVED.replace(tzinfo=UTC).astimezone(ZoneInfo('America/Chicago')):%d %b %Y %H:%M:%S}")
    assert f"last received {received} via" in w.record.browser.toPlainText()

    form = ContactForm("X", now=NOW.replace(tzinfo=UTC), time_zone="America/Chicago")
    qtbot.addWidget(form)
    assert form.when.dateTime().toString("yyyy-MM-dd HH:mm") == "2026-03-02 12:00"  # 12:00 in Chicago
    # what the officer enters is read back as the same instant
    assert form.when.dateTime().toSecsSinceEpoch() == int(NOW.replace(tzinfo=UTC).timestamp())

