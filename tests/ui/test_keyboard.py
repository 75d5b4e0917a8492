"""The officer's day on the keyboard, with real key events on the window (not slot calls: a slot
called directly never sees an ambiguous shortcut, which is how Ctrl+F came to do nothing)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractItemView, QApplication, QDialog, QPlainTextEdit, QPushButton
from sqlalchemy import select

from local_db.models import OutboxAction
from ui.action_forms import ContactForm, NoteForm

FOCUS_MS = 5_000


def _combo(sequence: QKeySequence) -> tuple[Qt.Key, Qt.KeyboardModifier]:
    combination = sequence[0]
    return combination.key(), combination.keyboardModifiers()


def _bindings(window) -> list[tuple[str, QKeySequence, object]]:
    """(what, keys, the QAction or QShortcut) for every key binding of the window."""
    out = [(a.text(), a.shortcut(), a) for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
    out += [(f"shortcut {s.key().toString()}", s.key(), s) for s in window.findChildren(QShortcut)
            if not s.key().isEmpty() and s.context() != Qt.ShortcutContext.WidgetShortcut]
    return out


def _activate(qtbot, window, focus) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=FOCUS_MS)
    focus.setFocus(Qt.FocusReason.OtherFocusReason)
    qtbot.waitUntil(focus.hasFocus, timeout=FOCUS_MS)


def test_every_shortcut_is_bound_once_and_fires_from_the_keyboard(qtbot, offline_window):
    """Each menu action and shortcut, pressed as keys from the caseload and the incidents list,
    fires exactly its own binding. Handlers are detached: this walks the key routing, not what each
    action does (tested with its feature), so Quit does not close the window mid-walk."""
    w = offline_window
    bindings = _bindings(w)
    assert len(bindings) >= 20
    by_keys: dict[str, list[str]] = {}
    for what, keys, _obj in bindings:
        by_keys.setdefault(keys.toString(), []).append(what)
    assert {k: v for k, v in by_keys.items() if len(v) > 1} == {}, "one key bound twice: Qt fires neither"

    fired: dict[int, int] = {}
    ambiguous: list[str] = []
    for what, _keys, obj in bindings:
        signal = obj.triggered if isinstance(obj, QAction) else obj.activated
        signal.disconnect()
        signal.connect(lambda *_a, o=id(obj): fired.__setitem__(o, fired.get(o, 0) + 1))
        if isinstance(obj, QShortcut):
            obj.activatedAmbiguously.connect(lambda what=what: ambiguous.append(what))
    for focus in (w.caseload.table, w.incidents.table):
        _activate(qtbot, w, focus)
        fired.clear()
        for what, keys, obj in bindings:
            key, modifiers = _combo(keys)
            qtbot.keyClick(focus, key, modifiers)
            assert fired.get(id(obj)) == 1, f"{keys.toString()} ({what}) did not fire from {focus.accessibleName()}"
            assert QApplication.activeWindow() is w
    assert ambiguous == []


def test_tab_leaves_every_table(qtbot, offline_window):
    w = offline_window
    w.open_outbox().close()
    for view in w.findChildren(QAbstractItemView) + w.outbox_dialog.findChildren(QAbstractItemView):
        assert not view.tabKeyNavigation(), view.accessibleName()
    for table in (w.caseload.table, w.incidents.table):
        _activate(qtbot, w, table)
        table.setCurrentIndex(table.model().index(0, 0))
        qtbot.keyClick(table, Qt.Key.Key_Tab)
        qtbot.waitUntil(lambda t=table: not t.hasFocus(), timeout=FOCUS_MS)


def test_search_box_down_enter_and_escape(qtbot, offline_window):
    w = offline_window
    _activate(qtbot, w, w.caseload.table)
    qtbot.keyClick(w.caseload.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(w.caseload.search.hasFocus, timeout=FOCUS_MS)
    qtbot.keyClicks(w.caseload.search, "CHI-2026-0000007")
    assert w.caseload.proxy.rowCount() == 1
    qtbot.keyClick(w.caseload.search, Qt.Key.Key_Return)  # opens the match
    qtbot.waitUntil(w.caseload.table.hasFocus, timeout=FOCUS_MS)
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == "p007", timeout=FOCUS_MS)

    w.caseload.focus_search()
    qtbot.keyClick(w.caseload.search, Qt.Key.Key_Escape)  # clears the search, stays in the box
    assert w.caseload.search.text() == "" and w.caseload.search.hasFocus()
    assert w.caseload.proxy.rowCount() == 30
    qtbot.keyClicks(w.caseload.search, "nguyen")
    qtbot.keyClick(w.caseload.search, Qt.Key.Key_Down)  # into the results
    qtbot.waitUntil(w.caseload.table.hasFocus, timeout=FOCUS_MS)
    assert w.caseload.selected_participant() is not None
    w.caseload.search.clear()
    w.caseload.focus_search()
    qtbot.keyClick(w.caseload.search, Qt.Key.Key_Escape)  # empty: back to the table
    qtbot.waitUntil(w.caseload.table.hasFocus, timeout=FOCUS_MS)


def test_an_incident_selects_its_participant_and_the_note_goes_to_them(qtbot, offline_window):
    """Theodore Ellis's incident selected -> Ctrl+N writes to Theodore Ellis, never to whoever the
    caseload had selected before; the form says who it is for, opens on its field, keeps Enter as a
    new line and is submitted with Ctrl+Enter."""
    w = offline_window
    w.caseload.select_participant("p010")
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == "p010", timeout=FOCUS_MS)
    _activate(qtbot, w, w.incidents.table)
    qtbot.keyClick(w.incidents.table, Qt.Key.Key_Home)
    incident = w.incidents.current_incident()
    assert incident is not None and incident.participant_id != "p010"
    target = incident.participant_id
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == target, timeout=FOCUS_MS)
    assert w.caseload.selected_participant() == target
    name = w._names[target]

    qtbot.keyClick(w.incidents.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: isinstance(w._open_form, NoteForm) and w._open_form.isVisible(), timeout=FOCUS_MS)
    form = w._open_form
    assert name in form.subject.text() and name in form.windowTitle()
    qtbot.waitUntil(form.text.hasFocus, timeout=FOCUS_MS)  # typing goes into the note at once
    qtbot.keyClicks(form.text, "Called the participant")
    qtbot.keyClick(form.text, Qt.Key.Key_Return)
    qtbot.keyClicks(form.text, "about the battery")
    qtbot.keyClick(form.text, Qt.Key.Key_Space)
    assert form.isVisible(), "Enter or Space submitted the form"
    with qtbot.waitSignal(w.actionQueued, timeout=10_000) as queued:
        qtbot.keyClick(form.text, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    with w.store.read_session() as db:
        action = db.get(OutboxAction, queued.args[0])
        assert (action.kind, action.target) == ("add_note", target)
        assert action.payload["text"] == "Called the participant\nabout the battery"


def test_enter_opens_the_incident_participant_and_space_its_alerts(qtbot, offline_window):
    w = offline_window
    _activate(qtbot, w, w.incidents.table)
    qtbot.keyClick(w.incidents.table, Qt.Key.Key_Home)
    incident = w.incidents.current_incident()
    qtbot.keyClick(w.incidents.table, Qt.Key.Key_Space)
    qtbot.waitUntil(w.incidents.alerts.hasFocus, timeout=FOCUS_MS)
    assert w.incidents.alerts.count() == len(incident.alerts)
    _activate(qtbot, w, w.incidents.table)
    qtbot.keyClick(w.incidents.table, Qt.Key.Key_Return)
    qtbot.waitUntil(w.record.browser.hasFocus, timeout=FOCUS_MS)
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == incident.participant_id,
                    timeout=FOCUS_MS)


def test_a_visit_form_has_no_preset_outcome_and_enter_never_submits(qtbot, offline_window):
    """Ctrl+Shift+V then Enter used to save a "Home visit · Met in person" with empty notes."""
    w = offline_window
    w.caseload.select_participant("p004")
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == "p004", timeout=FOCUS_MS)
    _activate(qtbot, w, w.caseload.table)
    qtbot.keyClick(w.caseload.table, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: isinstance(w._open_form, ContactForm) and w._open_form.isVisible(), timeout=FOCUS_MS)
    form = w._open_form
    assert form.outcome.currentIndex() == -1 and form.outcome.currentData() is None
    assert w._names["p004"] in form.subject.text() and form.place.text()  # the visit's place: the address
    first = form.first_field()
    qtbot.waitUntil(first.hasFocus, timeout=FOCUS_MS)
    for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
        qtbot.keyClick(QApplication.focusWidget(), key)
    assert form.isVisible() and form.result() != QDialog.DialogCode.Accepted
    form.place.setFocus()
    qtbot.waitUntil(form.place.hasFocus, timeout=FOCUS_MS)
    for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):  # Enter in a one-line field never submits either
        qtbot.keyClick(form.place, key)
    assert form.isVisible() and form.message.text() == ""
    assert not any(b.isDefault() for b in form.buttons.findChildren(QPushButton))
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert form.isVisible() and "Choose the outcome" in form.message.text()
    form.outcome.setCurrentIndex(form.outcome.findData("not_home"))
    notes = form.findChildren(QPlainTextEdit)[0]
    notes.setFocus()
    qtbot.keyClicks(notes, "Card left")
    with qtbot.waitSignal(w.actionQueued, timeout=10_000) as queued:
        qtbot.keyClick(notes, Qt.Key.Key_Enter, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.KeypadModifier)
    with w.store.read_session() as db:
        action = db.scalars(select(OutboxAction).where(OutboxAction.id == queued.args[0])).one()
        assert action.target == "p004" and action.payload["outcome"] == "not_home"


def test_map_first_layout_by_keyboard_and_back(qtbot, offline_window):
    w = offline_window
    w.resize(1366, 740)
    qtbot.waitUntil(lambda: w.map_area.width() > 0, timeout=FOCUS_MS)
    before = (w.splitter.sizes(), w.centre_split.sizes())
    small = w.map_area.width() * w.map_area.height()
    _activate(qtbot, w, w.caseload.table)
    qtbot.keyClick(w.caseload.table, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: w.map_first.active and w.splitter.sizes()[2] == 0, timeout=FOCUS_MS)
    assert w.centre_split.sizes()[1] == 0 and w.splitter.sizes()[0] > 0  # the caseload stays beside the map
    qtbot.waitUntil(lambda: w.map_area.width() * w.map_area.height() > 2 * small, timeout=FOCUS_MS)
    qtbot.keyClick(w.caseload.table, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not w.map_first.active, timeout=FOCUS_MS)
    assert (w.splitter.sizes(), w.centre_split.sizes()) == before


def test_track_window_is_chosen_in_the_participants_time(qtbot, offline_window):
    """Ctrl+Shift+T: From defaults to yesterday 18:00 where the participant lives; the chosen window is
    what is fetched (offline here: what the store holds, and the status bar says so)."""
    from ui.action_forms import TrackWindowForm
    from workstation.local_time import local_text

    w = offline_window
    w.caseload.select_participant("p004")
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == "p004", timeout=FOCUS_MS)
    _activate(qtbot, w, w.caseload.table)
    qtbot.keyClick(w.caseload.table, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: isinstance(w._open_form, TrackWindowForm) and w._open_form.isVisible(), timeout=FOCUS_MS)
    form = w._open_form
    zone = w.record.record.time_zone
    assert form.since.dateTime().toString("HH:mm") == "18:00"
    form.since.setDateTime(form.since.dateTime().addSecs(-3600))  # 17:00 the day before
    qtbot.waitUntil(form.since.hasFocus, timeout=FOCUS_MS)
    qtbot.keyClick(form.since, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    since = form.payload[0]
    assert local_text(since, zone, "%H:%M").startswith("17:00")
    expected = f"since {local_text(since, zone, '%a %H:%M')}"
    qtbot.waitUntil(lambda: expected in w.statusBar().currentMessage(), timeout=FOCUS_MS)
    assert "showing what this laptop holds" in w.statusBar().currentMessage()
