"""The triage queue in the window: views one click away, filters by age, kind and risk that combine,
case numbers on the rows, and several incidents acknowledged at once through the outbox to a real
server (real encrypted stores, the reference server on loopback)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from local_db.models import OutboxAction
from workstation.config import Config
from workstation.protocol import GatewayFix
from workstation.session import WorkstationSession
from workstation.triage_queue import QueueClock

FOCUS_MS = 5_000
_homes = itertools.count()


def _activate(qtbot, window, focus) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=FOCUS_MS)
    focus.setFocus(Qt.FocusReason.OtherFocusReason)
    qtbot.waitUntil(focus.hasFocus, timeout=FOCUS_MS)


def _rows(panel) -> list[str]:
    model = panel.model
    return [model.data(model.index(r, 1)) for r in range(model.rowCount())]


def test_filters_narrow_and_combine_and_the_counts_follow(qtbot, offline_window):
    """fill_store: p001 (medium risk) has a 2-hour battery story, p002 (high risk) a 20-minute-old tamper."""
    w = offline_window
    panel, bar = w.incidents, w.incidents.bar
    assert bar.view() == "needs_action" and panel.model.rowCount() == 2
    assert bar.views.tabText(0) == "Needs action\n2" and bar.filtered.text() == "2 shown"
    assert not bar.clear.isEnabled()
    # keyboard: Ctrl+Shift+F goes to the filters, the arrows choose
    _activate(qtbot, w, panel.table)
    qtbot.keyClick(panel.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(bar.age.hasFocus, timeout=FOCUS_MS)
    qtbot.keyClick(bar.age, Qt.Key.Key_Down)
    assert bar.age.currentData() == "hour"
    [only] = panel.model.incidents()
    assert only.participant_id == "p002" and only.family == "tamper"
    assert bar.views.tabText(0) == "Needs action\n1" and bar.filtered.text() == "Filtered: 1 of 2 shown"
    # combined with a kind the last hour has none of: nothing
    bar.kind.setCurrentIndex(bar.kind.findData("device_health"))
    assert panel.model.rowCount() == 0 and bar.views.tabText(0) == "Needs action\n0"
    assert bar.filtered.text() == "Filtered: 0 of 2 shown"
    bar.age.setCurrentIndex(bar.age.findData("any"))
    assert [i.participant_id for i in panel.model.incidents()] == ["p001"]
    bar.risk.setCurrentIndex(bar.risk.findData("high"))  # device health of a high-risk participant: none
    assert panel.model.rowCount() == 0
    qtbot.mouseClick(bar.clear, Qt.MouseButton.LeftButton)
    assert panel.model.rowCount() == 2 and not bar.clear.isEnabled()
    bar.set_filter(risk="high")
    assert [i.participant_id for i in panel.model.incidents()] == ["p002"]
    bar.clear_filters()


def test_rows_show_the_case_number_and_keyboard_selects_several(qtbot, offline_window):
    w = offline_window
    panel = w.incidents
    texts = _rows(panel)
    for incident, text in zip(panel.model.incidents(), texts, strict=True):
        who = text.split("\n")[0]
        number = f"CHI-2026-{int(incident.participant_id[1:]):07d}"
        assert who == f"{w._names[incident.participant_id]} · {number}"
    _activate(qtbot, w, panel.table)
    qtbot.keyClick(panel.table, Qt.Key.Key_Home)
    qtbot.keyClick(panel.table, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert [i.id for i in panel.selected_incidents()] == [i.id for i in panel.model.incidents()]
    assert panel.ack.isEnabled() and panel.ack.text() == "Acknowledge 2"
    assert not panel.resolve.isEnabled()  # resolve is one at a time (a tamper needs its own note)
    qtbot.keyClick(panel.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert getattr(w, "_open_form", None) is None and "one incident at a time" in w.statusBar().currentMessage()
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.keyClick(panel.table, Qt.Key.Key_Space, ctrl)  # Ctrl+Space takes the current row out
    assert len(panel.selected_incidents()) == 1 and panel.ack.text() == "Acknowledge"
    qtbot.keyClick(panel.table, Qt.Key.Key_Space, ctrl)  # and back in
    assert len(panel.selected_incidents()) == 2
    qtbot.keyClick(panel.table, Qt.Key.Key_Up)  # a plain move selects one again; Ctrl+A all
    assert len(panel.selected_incidents()) == 1
    qtbot.keyClick(panel.table, Qt.Key.Key_A, ctrl)
    assert len(panel.selected_incidents()) == 2
    with qtbot.waitSignal(w.actionQueued, timeout=10_000):
        qtbot.keyClick(panel.table, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    # no server record here (local history): one acknowledge per open alert, 3 battery alerts + 1 tamper
    with w.store.read_session() as db:
        kinds = db.scalars(select(OutboxAction.kind)).all()
    assert sorted(kinds) == ["acknowledge_alert"] * 4
    qtbot.waitUntil(lambda: all(i.state == "acknowledged" for i in panel.model.incidents()), timeout=10_000)


def test_a_new_incident_is_inserted_where_it_ranks_without_rebuilding_the_list(qtbot, offline_window):
    """A live alert that makes a new incident adds one row: no model reset, the officer's selection
    and current row stay (screens refresh what changed)."""
    from local_db.models import Alert
    from workstation.changes import Changes

    w = offline_window
    panel = w.incidents
    tamper = next(i for i in panel.model.incidents() if i.family == "tamper")
    assert panel.select_incident(tamper.id)
    resets, inserted = [], []
    panel.model.modelReset.connect(lambda: resets.append(1))
    panel.model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    now = datetime.now(UTC).replace(tzinfo=None)
    w.store.write(lambda s: s.add(Alert(id="al-new", version=1, participant_id="p005", device_id="d005",
                                        kind="zone_entry", severity="high", opened_at=now - timedelta(minutes=1))))
    w.apply_changes(Changes(alerts=frozenset({"al-new"}), participants=frozenset({"p005"})))
    qtbot.waitUntil(lambda: any(i.participant_id == "p005" for i in panel.model.incidents()), timeout=10_000)
    assert resets == [] and len(inserted) == 1 and panel.model.rowCount() == 3
    assert panel.current_incident().id == tamper.id and [i.id for i in panel.selected_incidents()] == [tamper.id]
    assert panel.bar.views.tabText(0) == "Needs action\n3"


def _midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is around noon now, so "today" holds what happened minutes ago
    whatever the hour the test runs at."""
    offset = (12 - now.hour) % 24
    offset = offset - 24 if offset > 12 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # Etc/GMT-3 is UTC+3


def _config(tmp_path: Path) -> Config:
    home = tmp_path / f"home-{next(_homes)}"
    home.mkdir()
    return Config(data_dir=home, workstation_id=f"ws-queue-{next(_homes)}")


def test_acknowledge_selected_reaches_the_server_and_auto_resolved_today_lists_the_servers(
        qtbot, tmp_path, sync_server_factory, sessions, make_window):
    server = sync_server_factory(caseload=8, password="pw")
    first_three = server.seeded["officers"]["officer1"]["serials"]
    serials = first_three + [s for (s,) in server.query("select serial from device order by serial") if s not in first_three]
    now = datetime.now(UTC)
    # three tampers (need action at once) and a low battery that clears by itself
    server.ingest([GatewayFix(serial=s, fix_time=now - timedelta(minutes=3), lat=41.88, lon=-87.63,
                              event="strap_tamper") for s in serials[:3]])
    for minutes, battery in ((4, 30), (3, 15), (2, 25)):
        server.ingest([GatewayFix(serial=serials[3], fix_time=now - timedelta(minutes=minutes), lat=41.88,
                                  lon=-87.63, battery_pct=battery)])
    session = WorkstationSession.open(_config(tmp_path), "officer1", "pw", server_url=server.url)
    sessions.append(session)
    session.agency_time_zone = _midday_zone(now)
    window = make_window(session)
    window.show()
    with qtbot.waitSignal(window.syncFinished, timeout=60_000):
        window.start()
    panel = window.incidents
    tamper_ids = {r[0] for r in server.query(
        "select i.id from incident i join device d on d.id = i.device_id where i.family = 'tamper' "
        "and i.state = 'open' and d.serial in (:a, :b, :c)", a=serials[0], b=serials[1], c=serials[2])}
    assert len(tamper_ids) == 3
    qtbot.waitUntil(lambda: tamper_ids <= {i.id for i in panel.model.incidents()}, timeout=15_000)

    # Ctrl-click three rows; Ctrl+K acknowledges them: three outbox actions
    panel.table.clearSelection()
    rows = [r for r, i in enumerate(panel.model.incidents()) if i.id in tamper_ids]
    for row in rows:
        panel.table.scrollTo(panel.model.index(row, 1))
        rect = panel.table.visualRect(panel.model.index(row, 1))
        qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                         rect.center())
    assert {i.id for i in panel.selected_incidents()} == tamper_ids
    order_before = [i.id for i in panel.model.incidents()]
    resets: list[int] = []
    panel.model.modelReset.connect(lambda: resets.append(1))
    _activate(qtbot, window, panel.table)
    with qtbot.waitSignal(window.actionQueued, timeout=10_000):
        qtbot.keyClick(panel.table, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    with session.store.read_session() as db:
        queued = db.scalars(select(OutboxAction).where(OutboxAction.kind == "acknowledge_incident")).all()
        assert sorted(a.target for a in queued) == sorted(tamper_ids)

    # the rows stay where they were, marked; the list is updated in place, not rebuilt
    def marked() -> bool:
        return all(i.state == "acknowledged" for i in panel.model.incidents() if i.id in tamper_ids)

    qtbot.waitUntil(marked, timeout=10_000)
    assert [i.id for i in panel.model.incidents()] == order_before and resets == []
    assert all("acknowledged" in text.split("\n")[1] for text, i in zip(_rows(panel), panel.model.incidents(),
                                                                     strict=True) if i.id in tamper_ids)
    assert {i.id for i in panel.selected_incidents()} == tamper_ids  # the officer's selection survives

    # they reach the server and apply
    def on_server() -> set[tuple[str, str, str]]:
        return {(i, *server.query("select state, acknowledged_by from incident where id = :i", i=i)[0])
                for i in tamper_ids}

    qtbot.waitUntil(lambda: on_server() == {(i, "acknowledged", "officer1") for i in tamper_ids}, timeout=30_000)
    qtbot.waitUntil(lambda: not any(i.pending for i in panel.model.incidents() if i.id in tamper_ids),
                    timeout=30_000)

    # one click: the incidents that cleared by themselves today, with the reason and the time
    clock = QueueClock.at(datetime.now(UTC).replace(tzinfo=None), session.agency_time_zone)
    expected = {incident_id for incident_id, at in server.query(
        "select id, resolved_at from incident where state = 'auto_resolved'")
        if (datetime.fromisoformat(at) if isinstance(at, str) else at) >= clock.day_start}
    cleared_battery = server.query(
        "select i.id from incident i join device d on d.id = i.device_id where d.serial = :s "
        "and i.state = 'auto_resolved'", s=serials[3])
    assert cleared_battery and cleared_battery[0][0] in expected
    bar = panel.bar
    assert bar.views.tabText(1) == f"Auto-resolved today\n{len(expected)}"
    qtbot.mouseClick(bar.views, Qt.MouseButton.LeftButton, pos=bar.views.tabRect(1).center())
    assert bar.view() == "auto_resolved_today"
    assert {i.id for i in panel.model.incidents()} == expected
    row = next(r for r, i in enumerate(panel.model.incidents()) if i.id == cleared_battery[0][0])
    who, what = panel.model.data(panel.model.index(row, 1)).split("\n")
    assert what.startswith("Cleared: battery back above the threshold or charging")
    severity, at = panel.model.data(panel.model.index(row, 0)).split("\n")
    assert at[:2].isdigit() and at[2] == ":"  # the time it cleared, in the participant's zone


def test_an_incident_about_several_participants_says_how_many_and_whose_alert_is_whose(qtbot):
    """An outage (the server folds many devices falling silent into one incident) is shown from what
    its record carries: the row counts the participants, the raw alerts name each one."""
    from ui.incidents_view import IncidentsPanel
    from workstation.incidents import AlertFact, ServerIncidentFact, build_incidents

    now = datetime(2026, 11, 24, 18, 0)
    alerts = [AlertFact(f"a{i}", f"p{i}", f"d{i}", "no_communication", "high", now - timedelta(minutes=30 - i),
                        incident_id="out-1") for i in range(3)]
    record = ServerIncidentFact("out-1", "open", "high", True, now + timedelta(minutes=20), family="outage")
    [outage] = build_incidents(alerts, {}, {"out-1": record}, now)
    panel = IncidentsPanel(clock=lambda: now)
    qtbot.addWidget(panel)
    names = {f"p{i}": f"Sara Negrete {i}" for i in range(3)}
    panel.set_incidents([outage], names, 3, {f"p{i}": f"CHI-{i}" for i in range(3)})
    who, what = panel.model.data(panel.model.index(0, 1)).split("\n")
    assert who == f"{outage.title} · 3 participants" and what.startswith(outage.summary)
    assert panel.select_incident("out-1")
    lines = [panel.alerts.item(r).text() for r in range(panel.alerts.count())]
    assert "Sara Negrete 0" not in lines[0] and "Sara Negrete 1 · No communication" in lines[1]


def test_the_age_tick_moves_due_times_and_the_last_hour(qtbot):
    from ui.incidents_view import IncidentsPanel
    from workstation.incidents import AlertFact, build_incidents

    now = [datetime(2026, 11, 24, 18, 0)]
    alerts = [AlertFact("a", "p1", "d1", "strap_tamper", "critical", now[0] - timedelta(minutes=50))]
    panel = IncidentsPanel(clock=lambda: now[0])
    qtbot.addWidget(panel)
    panel.set_incidents(build_incidents(alerts, {}, None, now[0]), {"p1": "Ana Smith"}, 1)
    panel.bar.set_filter(age="hour")
    assert panel.model.rowCount() == 1 and panel.model.data(panel.model.index(0, 0)) == "Critical\nlate 35 min"
    now[0] += timedelta(minutes=5)
    panel.tick()
    assert panel.model.data(panel.model.index(0, 0)) == "Critical\nlate 40 min"
    now[0] += timedelta(minutes=10)  # opened an hour and 5 minutes ago: out of "last hour"
    panel.tick()
    assert panel.model.rowCount() == 0 and panel.bar.filtered.text() == "Filtered: 0 of 1 shown"
