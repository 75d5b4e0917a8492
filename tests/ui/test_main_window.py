"""Main window over a real store (no server): caseload, record, incidents, actions offline,
keyboard, accessibility and contrast."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QLineEdit,
    QPlainTextEdit,
    QStyle,
    QStyleOptionButton,
    QWidget,
)

from ui import theme
from ui.caseload_model import Col, RowRole
from ui.keyboard import SHORTCUTS, KeyboardDialog
from ui.style import apply_palette, apply_style


def test_caseload_record_and_incidents_are_shown(qtbot, offline_window):
    w = offline_window
    assert w.caseload.model.rowCount() == 30
    assert "30 participants" in w.caseload.count.text()
    # the three battery alerts of p001 are one incident; the tamper is another
    incidents = w.incidents.model.incidents()
    assert [len(i.alerts) for i in incidents] == [1, 3]
    assert incidents[0].requires_note_to_resolve  # critical tamper ranks first
    assert "4 alerts grouped into 2 incidents" in w.incidents.ratio.text()
    # open-incident counts reach the caseload table
    row = w.caseload.model.row_for_participant("p001")
    assert w.caseload.model.data(w.caseload.model.index(row, Col.INCIDENTS)) == "1"
    # selecting shows the record with legal flags prominent
    assert w.caseload.select_participant("p000")
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == "p000", timeout=5000)
    html = w.record.browser.toHtml()
    assert "STAY OF REMOVAL" in html and "Court hearing" in html and "Home (curfew)" in html


def test_grouped_incidents_say_what_happened_and_raw_alerts_stay_reachable(qtbot, offline_window):
    w = offline_window
    model = w.incidents.model
    row = next(r for r, i in enumerate(model.incidents()) if len(i.alerts) == 3)
    incident = model.incidents()[row]
    who, what = model.data(model.index(row, 1)).split("\n")
    assert who.startswith(w._names[incident.participant_id])
    assert what == f"{incident.summary} · 3 alerts"  # e.g. "Low battery → No communication · 2 alerts"
    severity, age = model.data(model.index(row, 0)).split("\n")
    assert severity == incident.severity.capitalize() and age
    w.incidents.table.selectRow(row)
    assert w.incidents.alerts.count() == 3  # every raw alert of the incident is listed
    assert w.incidents.alerts_title.text() == "3 alerts in this incident"


def test_search_and_filters(qtbot, offline_window):
    w = offline_window
    qtbot.keyClicks(w.caseload.search, "nguyen")
    assert w.caseload.proxy.rowCount() == 10
    w.caseload.search.clear()
    w.caseload.only_stale.setChecked(True)
    stale = w.caseload.proxy.rowCount()
    assert stale == 8  # every 4th participant has a 3 h old fix
    shown = w.caseload.proxy.data(w.caseload.proxy.index(0, Col.LAST_FIX))
    assert shown.endswith("stale")
    w.caseload.only_stale.setChecked(False)
    w.caseload.only_incidents.setChecked(True)
    assert {w.caseload.proxy.data(w.caseload.proxy.index(r, 0), RowRole).participant_id
            for r in range(w.caseload.proxy.rowCount())} == {"p001", "p002"}


def test_note_offline_is_pending_in_record_and_outbox(qtbot, offline_window):
    w = offline_window
    w.caseload.select_participant("p003")
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == "p003", timeout=5000)
    w.actions_by_id["note"].trigger()
    form = w._open_form
    form.accept()  # empty: refused with a message, nothing queued
    assert form.isVisible() and "empty note" in form.message.text()
    form.text.setPlainText("Spoke with the participant's employer.")
    with qtbot.waitSignal(w.actionQueued, timeout=10_000):
        form.accept()
    qtbot.waitUntil(lambda: any(n.pending and "employer" in n.text for n in (w.record.record.notes if w.record.record else ())),
                    timeout=10_000)
    assert "PENDING" in w.record.browser.toHtml()
    dialog = w.open_outbox()
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1, timeout=5000)
    assert dialog.model.data(dialog.model.index(0, 4)) == "pending"
    dialog.close()


def test_an_unanswered_action_is_never_shown_as_sent(qtbot, offline_window):
    """A crash or a cut after mark_sending leaves "sending" rows the server may never have seen:
    the outbox and the record say "not confirmed" (or "sending…" while a push runs), never "sent"."""
    from sqlalchemy import update

    from local_db.models import OutboxAction
    from workstation import actions

    w = offline_window
    action_id = actions.add_note(w.store, "p005", "Left a card at the door.")
    w.store.write(lambda s: s.execute(update(OutboxAction).where(OutboxAction.id == action_id)
                                      .values(state="sending", attempts=1)))
    dialog = w.open_outbox()
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1 and dialog.model.items()[0].state == "sending", timeout=5000)
    shown = {dialog.model.data(dialog.model.index(0, 4))} | {dialog.summary.text()}
    assert dialog.model.data(dialog.model.index(0, 4)) == "not confirmed"
    assert not any("sent" in text.split() for text in shown)
    assert "no answer from the server yet" in dialog.model.data(dialog.model.index(0, 4), Qt.ItemDataRole.ToolTipRole)
    dialog.set_items(dialog.model.items(), {}, in_flight=True)  # while a push runs
    assert dialog.model.data(dialog.model.index(0, 4)) == "sending…"
    assert "1 pending action" in w.status.pending.text()
    dialog.close()
    w.show_participant("p005")
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == "p005", timeout=5000)
    html = w.record.browser.toPlainText()
    assert "PENDING — sending, not confirmed by the server yet" in html
    assert "not yet sent" not in html


def test_tamper_incident_cannot_be_resolved_without_note(qtbot, offline_window):
    w = offline_window
    tamper = next(i for i in w.incidents.model.incidents() if i.requires_note_to_resolve)
    assert w.resolve_incident(tamper, note="  ") is not None  # refused, nothing queued
    w.incidents.select_incident(tamper.id)
    w.actions_by_id["resolve"].trigger()
    form = w._open_form
    form.accept()
    assert form.isVisible() and "without a note" in form.message.text()
    form.note.setPlainText("Strap inspected at home visit: re-fitted, no damage.")
    with qtbot.waitSignal(w.actionQueued, timeout=10_000):
        form.accept()
    w.incidents.set_view("all")  # resolved (pending) incidents are not in Needs action
    qtbot.waitUntil(lambda: any(i.pending and i.state == "resolved" for i in w.incidents.model.incidents()
                                if i.id == tamper.id), timeout=10_000)


def test_live_update_changes_cells_in_place_and_keeps_selection(qtbot, offline_window):
    from datetime import timedelta

    from workstation.changes import LiveFix

    w = offline_window
    w.caseload.select_participant("p004")
    resets = []
    w.caseload.proxy.modelReset.connect(lambda: resets.append(1))
    w.caseload.proxy.layoutChanged.connect(lambda: resets.append(2))
    changed = []
    w.caseload.proxy.dataChanged.connect(lambda a, b: changed.append((a.row(), b.row())))
    now = w.caseload.model.now()
    n = w.caseload.model.apply_live([LiveFix("d004", now + timedelta(seconds=1), 41.9, -87.6, 5.0, 55, True, "ok")])
    assert n == 1 and not resets and len(changed) == 1
    assert w.caseload.selected_participant() == "p004"
    row = w.caseload.proxy.proxy_row_of("p004")
    assert w.caseload.proxy.data(w.caseload.proxy.index(row, Col.BATTERY)) == "55% ⚡"


def test_a_reload_counts_as_changed_only_what_the_live_feed_did_not_already_show(qtbot, offline_window):
    """The live feed updates rows in place; the next reload must compare with those shown rows,
    not with the previous snapshot, or every live-updated row is repainted and re-sent to the map."""
    from datetime import timedelta

    from local_db.models import Device
    from workstation.changes import LiveFix

    w = offline_window
    model = w.caseload.model
    fix_time = model.now().replace(microsecond=0) + timedelta(seconds=1)

    def store_writes(session) -> None:  # what the live feed writes, and one change it does not announce
        live = session.get(Device, "d004")
        live.last_fix_time, live.last_lat, live.last_lon, live.last_accuracy_m = fix_time, 41.9, -87.6, 5.0
        live.battery_pct, live.charging, live.strap = 55, True, "ok"
        session.get(Device, "d007").battery_pct = 3

    w.store.write(store_writes)
    assert model.apply_live([LiveFix("d004", fix_time, 41.9, -87.6, 5.0, 55, True, "ok")]) == 1
    with qtbot.waitSignal(w.snapshotApplied, timeout=10_000):
        w.reload()
    changed = {model.rows()[i].participant_id for i in w._snapshot.changed_rows}
    assert changed == {"p007"}
    shown = model.rows()[model.row_for_participant("p007")]
    assert shown.battery_pct == 3


def test_a_snapshot_with_a_few_changed_rows_reindexes_just_those(qtbot):
    """replace_changed() re-indexes only the changed rows; the search text and the device lookup
    must still follow them (a renamed participant, a swapped device)."""
    from dataclasses import replace

    from local_db.queries import CaseloadRow
    from ui.caseload_model import CaseloadTableModel, search_text
    from workstation.changes import LiveFix

    before = [
        CaseloadRow(f"p{i}", f"CHI-2026-{i:07d}", "Ana", f"Lopez{i}", "low", f"d{i}", "ankle", 80, False, "ok",
                    None, None, None, None, 0, None, None, (), f"{i} W Madison St", "(312) 555-0100")
        for i in range(50)
    ]
    model = CaseloadTableModel()
    model.set_rows(before)
    after = list(before)
    after[7] = replace(before[7], first_name="Zofia", last_name="Quintero-Ballard", device_id="d-new")
    after[9] = replace(before[9], battery_pct=3)
    changed = []
    model.dataChanged.connect(lambda a, b: changed.append((a.row(), b.row())))
    model.replace_changed(after, [7, 9])
    assert changed == [(7, 7), (9, 9)]
    assert [i for i, text in enumerate(model.haystack()) if "quintero-ballard" in text] == [7]
    assert model.haystack() == [search_text(r) for r in after]
    assert model.row_for_device("d-new") == 7 and model.row_for_device(before[7].device_id) is None
    assert model.row_for_device(before[9].device_id) == 9
    fix = LiveFix("d-new", model.now(), 41.9, -87.6, 5.0, 44, False, "ok")
    assert model.apply_live([fix]) == 1 and model.rows()[7].battery_pct == 44
    # the snapshot's worker may hand over the changed rows' search texts (in the order of `changed`)
    later = list(model.rows())
    later[3], later[8] = replace(later[3], last_name="Okonkwo"), replace(later[8], last_name="Vasquez")
    model.replace_changed(later, [8, 3], [search_text(later[8]), search_text(later[3])])
    assert model.haystack() == [search_text(r) for r in later]


def test_keyboard_dialog_lists_every_shortcut_and_menus_use_them(qtbot, offline_window):
    w = offline_window
    dialog = KeyboardDialog(w)
    qtbot.addWidget(dialog)
    listed = {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
    for aid, keys, _what in SHORTCUTS:
        assert keys in listed
        if aid in w.actions_by_id:
            assert w.actions_by_id[aid].shortcut().toString() == keys
    # every workflow reachable: the window registers all but the lock (owned by the lock screen)
    assert set(w.actions_by_id) == {aid for aid, _k, _w in SHORTCUTS} - {"lock"}


def test_keyboard_only_search_and_select(qtbot, offline_window):
    w = offline_window
    w.activateWindow()
    w.caseload.focus_search()
    qtbot.keyClicks(w.caseload.search, "CHI-2026-0000007")
    assert w.caseload.proxy.rowCount() == 1
    w.caseload.table.setFocus()
    qtbot.keyClick(w.caseload.table, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == "p007", timeout=5000)


def _focusable(root: QWidget) -> list[QWidget]:
    return [wd for wd in root.findChildren(QWidget) if wd.focusPolicy() != Qt.FocusPolicy.NoFocus and wd.isVisibleTo(root)]


def test_every_focusable_widget_has_an_accessible_name(qtbot, offline_window):
    w = offline_window
    w.open_outbox()
    missing = []
    for root in [w, w.outbox_dialog]:
        for widget in _focusable(root):
            name = widget.accessibleName()
            if not name and isinstance(widget, QAbstractButton):
                name = widget.text()  # Qt exposes a button's text as its accessible name
            # viewports and internal parts are named through their owner (QAbstractScrollArea)
            if not name and widget.parent() is not None and widget.objectName().startswith("qt_"):
                continue
            if not name:
                missing.append(f"{type(widget).__name__} {widget.objectName()!r} in {type(widget.parent()).__name__}")
    w.outbox_dialog.close()
    assert not missing, missing


def test_login_fields_have_names_and_banner_gates_password(qtbot):
    from ui.login import LoginDialog

    dialog = LoginDialog(lambda *a: None)
    qtbot.addWidget(dialog)
    assert not dialog.password.isEnabled() and not dialog.sign_in.isEnabled()
    dialog.acknowledge.setChecked(True)
    assert dialog.password.isEnabled()
    for widget in (dialog.server, dialog.username, dialog.password, dialog.acknowledge):
        assert widget.accessibleName()


def _roles_contrast(palette: QPalette) -> dict[str, float]:
    pairs = {
        "text/base": (QPalette.ColorRole.Text, QPalette.ColorRole.Base),
        "text/alternate": (QPalette.ColorRole.Text, QPalette.ColorRole.AlternateBase),
        "windowtext/window": (QPalette.ColorRole.WindowText, QPalette.ColorRole.Window),
        "buttontext/button": (QPalette.ColorRole.ButtonText, QPalette.ColorRole.Button),
        "highlighted": (QPalette.ColorRole.HighlightedText, QPalette.ColorRole.Highlight),
        "tooltip": (QPalette.ColorRole.ToolTipText, QPalette.ColorRole.ToolTipBase),
        "link/base": (QPalette.ColorRole.Link, QPalette.ColorRole.Base),
        "placeholder/base": (QPalette.ColorRole.PlaceholderText, QPalette.ColorRole.Base),
    }
    out = {}
    # Active: the focused window; Inactive: a selection in an unfocused table or window
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        for k, (a, b) in pairs.items():
            out[f"{group.name}:{k}"] = theme.contrast_ratio(palette.color(group, a), palette.color(group, b))
    sem = theme.semantic(palette)
    from PySide6.QtGui import QColor

    for key in ("danger", "warning", "ok", "muted", "pending", "accent"):
        for bg in (QPalette.ColorRole.Base, QPalette.ColorRole.AlternateBase, QPalette.ColorRole.Window):
            out[f"{key}/{bg.name}"] = theme.contrast_ratio(QColor(getattr(sem, key)), palette.color(bg))
    return out


def _palettes():
    apply_style(QApplication.instance())
    light = theme.accessible_palette(QApplication.style().standardPalette())
    dark = theme.accessible_palette(theme.dark_palette())
    assert not theme.is_dark(light) and theme.is_dark(dark)
    return {"light": light, "dark": dark}


@pytest.fixture
def restore_app_palette():
    app = QApplication.instance()
    old = app.palette()
    yield
    apply_palette(app, old)
    theme.refresh()


def _each_palette():
    """Yield (name, palette) with each palette applied to the application (the tests using it
    take the restore_app_palette fixture, which puts the original back even after a failure)."""
    for name, palette in _palettes().items():
        apply_palette(QApplication.instance(), palette)
        theme.refresh()
        yield name, palette


def _big_bold_font():
    from PySide6.QtGui import QFont

    font = QFont()
    font.setPointSize(18)  # solid strokes: the ink colour is the most common non-background pixel
    font.setBold(True)
    return font


def test_text_contrast_in_light_and_dark_palettes(qtbot):
    for name, palette in _palettes().items():
        low = {k: round(v, 2) for k, v in _roles_contrast(palette).items() if v < 4.5}
        assert not low, (name, low)


def _ink_and_background(image, rect) -> tuple:
    """The most common colour in `rect` (the background) and the most common colour that differs
    from it clearly (the glyphs' ink; anti-aliased edge pixels are rarer than the solid strokes)."""
    from collections import Counter

    from PySide6.QtGui import QColor

    counts = Counter()
    for y in range(rect.top(), rect.bottom()):
        for x in range(rect.left(), rect.right()):
            counts[image.pixel(x, y)] += 1
    (bg_rgb, _), *rest = counts.most_common()
    bg = QColor.fromRgb(bg_rgb)
    inks = [QColor.fromRgb(rgb) for rgb, _n in rest if theme.contrast_ratio(QColor.fromRgb(rgb), bg) > 1.5]
    assert inks, "no text drawn"
    return inks[0], bg


def test_selected_and_coloured_rows_keep_contrast_as_drawn(qtbot, restore_app_palette):
    """Measured on the pixels Fusion paints: cells with a semantic colour (risk, stale, incident
    severity, pending), unselected, selected in a focused table and selected in an unfocused one
    (the style draws selected text in HighlightedText, whatever the cell's own colour)."""
    from PySide6.QtGui import QBrush, QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QLineEdit, QTableView

    for name, _palette in _each_palette():
        keys = ("danger", "warning", "ok", "muted", "pending", "accent")
        model = QStandardItemModel(len(keys), 1)
        font = _big_bold_font()
        for row, key in enumerate(keys):
            item = QStandardItem("HIGH RISK stale")
            item.setForeground(QBrush(theme.colour(key)))
            item.setFont(font)
            model.setItem(row, 0, item)
        view = QTableView()
        qtbot.addWidget(view)
        view.setModel(model)
        view.setAlternatingRowColors(True)
        view.resize(420, 320)
        view.setColumnWidth(0, 380)
        other = QLineEdit()
        qtbot.addWidget(other)
        view.show()
        other.show()
        ratios = {}
        for focused in (True, False):
            for row, key in enumerate(keys):
                view.clearSelection()
                img = view.viewport().grab().toImage()
                rect = view.visualRect(model.index(row, 0)).adjusted(2, 2, -2, -2)
                ink, bg = _ink_and_background(img, rect)
                ratios[f"{key}"] = theme.contrast_ratio(ink, bg)
                view.selectRow(row)
                (view if focused else other).setFocus()
                img = view.viewport().grab().toImage()
                ink, bg = _ink_and_background(img, rect)
                ratios[f"{key} selected{'' if focused else ' (unfocused)'}"] = theme.contrast_ratio(ink, bg)
        low = {k: round(v, 2) for k, v in ratios.items() if v < 4.5}
        assert not low, (name, low)


def test_placeholder_text_keeps_contrast_as_drawn(qtbot, restore_app_palette):
    """Qt's light default placeholder is black at alpha 128 (4.0:1 on white): measured on the
    pixels of the caseload's search field."""
    for name, _palette in _each_palette():
        edit = QLineEdit()
        qtbot.addWidget(edit)
        edit.setFont(_big_bold_font())
        edit.setPlaceholderText("Search name, case number")
        edit.resize(420, 44)
        edit.show()
        img = edit.grab().toImage()
        ink, bg = _ink_and_background(img, edit.rect().adjusted(6, 6, -6, -6))
        assert theme.contrast_ratio(ink, bg) >= 4.5, (name, ink.name(), bg.name())


def test_check_box_outlines_keep_contrast_as_drawn(qtbot, restore_app_palette):
    """An unchecked filter box must be visible as a box: WCAG 1.4.11 asks 3:1 against the window
    for what identifies a control (plain Fusion measured 1.65:1 light, 1.12:1 dark)."""
    for name, palette in _each_palette():
        for checked in (False, True):
            holder = QWidget()  # in a window, as in the app: the box does not paint its background
            qtbot.addWidget(holder)
            box = QCheckBox("Incidents", holder)
            box.setChecked(checked)
            box.resize(160, 30)
            holder.resize(170, 40)
            holder.show()
            option = QStyleOptionButton()
            option.initFrom(box)
            indicator = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
            img = box.grab().toImage()
            window = palette.color(QPalette.ColorRole.Window)
            ratio = max(theme.contrast_ratio(img.pixelColor(x, y), window)
                        for x in range(indicator.left(), indicator.right() + 1)
                        for y in range(indicator.top(), indicator.bottom() + 1))
            assert ratio >= 3.0, (name, checked, round(ratio, 2))


def test_status_bar_badges_keep_contrast(qtbot, restore_app_palette):
    """The status bar's coloured words (Online/Degraded/Offline, '1 need attention', live feed)
    against the status bar's own background, in both palettes."""
    import re

    from PySide6.QtGui import QColor

    from ui.status import StatusBar

    for name, _palette in _each_palette():
        bar = StatusBar()
        qtbot.addWidget(bar)
        texts = []
        for state in ("online", "degraded", "offline"):
            bar.set_connection(state, None)
            texts.append(bar.connection.text())
        bar.set_pending(2, 1)
        texts.append(bar.pending.text())
        for state in ("on", "connecting", "off", "error"):
            bar.set_live(state)
            texts.append(bar.live.text())
        background = bar.palette().color(bar.backgroundRole())
        low = {}
        for text in texts:
            for colour in re.findall(r"color:\s*(#[0-9a-fA-F]{6})", text):
                ratio = theme.contrast_ratio(QColor(colour), background)
                if ratio < 4.5:
                    low[text] = round(ratio, 2)
        assert not low, (name, low)


def test_layout_is_saved_as_bytes_and_restored(qtbot, tmp_path, offline_session, make_window):
    from PySide6.QtCore import QSettings

    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    w = make_window(offline_session, settings=settings)
    w.caseload.table.horizontalHeader().resizeSection(Col.NAME, 233)
    w.shutdown()
    text = (tmp_path / "ui.ini").read_text()
    assert "caseloadHeader=@ByteArray" in text and "pickle" not in text
    w2 = make_window(offline_session, settings=QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    assert w2.caseload.table.horizontalHeader().sectionSize(Col.NAME) == 233


def test_plain_text_inputs_tab_out(qtbot, offline_window):
    # multi-line fields must not trap the Tab key, or a form cannot be left without a mouse
    from ui.action_forms import ContactForm, NoteForm

    for form in (NoteForm("X"), ContactForm("X")):
        qtbot.addWidget(form)
        for edit in form.findChildren(QPlainTextEdit):
            assert edit.tabChangesFocus()
        for edit in form.findChildren(QLineEdit):
            assert edit.accessibleName() or edit.objectName().startswith("qt_")
