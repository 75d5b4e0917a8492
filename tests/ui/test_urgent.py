"""A critical or tamper incident is never silent; offline is one notice, not a caseload of "stale"."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt
from sqlalchemy import update

from local_db.models import Alert, SyncState
from local_db.timeutil import utc_now
from workstation.read.rules import is_stale

FOCUS_MS = 5_000


def _reload(qtbot, window) -> None:
    with qtbot.waitSignal(window.snapshotApplied, timeout=10_000):
        window.reload()


def test_a_new_critical_incident_raises_banner_notification_and_title_count(qtbot, offline_window):
    w = offline_window
    # the strap tamper seeded on p002 was open at start: counted in the title, not announced
    assert w.windowTitle() == "Field Workstation (1 urgent) — Officer One"
    assert not w.urgent.banner.isVisible() and w.urgent.notifications == []

    w.store.write(lambda s: s.add(Alert(id="al-live", version=1, participant_id="p005", device_id="d005",
                                        kind="device_removed", severity="critical", opened_at=utc_now(),
                                        incident_id="inc-live")))
    _reload(qtbot, w)
    name = w._names["p005"]
    assert w.urgent.banner.isVisible() and name in w.urgent.banner.text.text()
    assert [title for title, _text in w.urgent.notifications] == [f"Device tamper: {name}"]
    assert w.windowTitle() == "Field Workstation (2 urgent) — Officer One"

    # "Show" from the keyboard: the incident is selected and its participant follows
    w.activateWindow()
    w.urgent.show_button.setFocus()
    qtbot.waitUntil(w.urgent.show_button.hasFocus, timeout=FOCUS_MS)
    qtbot.keyClick(w.urgent.show_button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: w.incidents.current_incident() is not None
                    and [a.id for a in w.incidents.current_incident().alerts] == ["al-live"], timeout=FOCUS_MS)
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == "p005", timeout=FOCUS_MS)
    assert w.incidents.table.hasFocus()

    # handled elsewhere: the banner goes, the count drops; the same incident is never announced twice
    w.store.write(lambda s: s.execute(update(Alert).where(Alert.id == "al-live").values(state="acknowledged")))
    _reload(qtbot, w)
    assert not w.urgent.banner.isVisible() and w.windowTitle() == "Field Workstation (1 urgent) — Officer One"
    assert len(w.urgent.notifications) == 1


def test_offline_staleness_is_judged_as_of_the_last_data(qtbot, offline_session, make_window):
    """An hour without the server: positions that were fresh when the data last came are not "stale";
    the window says "data as of HH:MM" once instead."""
    real_now = utc_now()
    offline_session.store.write(lambda s: s.add(SyncState(id=1, last_pull_at=real_now)))
    w = make_window(offline_session, clock=lambda: real_now + timedelta(hours=1))
    w.show()
    with qtbot.waitSignal(w.snapshotApplied, timeout=10_000):
        w.start()
    rows = w.caseload.model.rows()
    stale_now = sum(is_stale(r, real_now + timedelta(hours=1)) for r in rows)
    assert stale_now == len(rows)  # judged at "now", everything would be stale
    shown = [w.caseload.model.data(w.caseload.model.index(i, 3)) for i in range(len(rows))]
    truly_old = sum(is_stale(r, real_now) for r in rows)
    assert 0 < truly_old < len(rows)
    assert sum("stale" in (text or "") for text in shown) == truly_old
    assert sum(m["state"] == "stale" for m in w._snapshot.markers.values()) <= truly_old
    assert w.urgent.offline.isVisible() and "Offline — data as of" in w.urgent.offline.text.text()
    w.caseload.only_stale.setChecked(True)
    assert w.caseload.proxy.rowCount() == truly_old


def test_the_banner_keeps_its_text_readable_in_light_and_dark(qtbot):
    """Drawn pixels: the banner's text against its band, after a switch to the dark palette too."""
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QApplication, QWidget

    from ui import theme
    from ui.style import apply_palette
    from ui.urgent import Banner

    app = QApplication.instance()
    old = app.palette()
    host = QWidget()
    qtbot.addWidget(host)
    banner = Banner(host, "Test banner", "danger")
    banner.say("Critical: Device tamper, Strap tamper — Jessica Johnson")
    banner.resize(600, 40)
    try:
        for palette in (theme.accessible_palette(old), theme.accessible_palette(theme.dark_palette())):
            apply_palette(app, palette)
            theme.refresh()
            qtbot.wait(20)
            image = banner.grab().toImage()
            band = image.pixelColor(2, image.height() // 2)
            inks = {image.pixelColor(x, y).rgb() for x in range(8, 300) for y in range(5, 35)} - {band.rgb()}
            best = max(theme.contrast_ratio(QColor.fromRgb(ink), band) for ink in inks)
            assert best >= 4.5, (band.name(), best)
    finally:
        apply_palette(app, old)
        theme.refresh()


def test_status_colours_follow_a_switch_to_the_dark_palette(qtbot):
    from PySide6.QtWidgets import QApplication

    from ui import theme
    from ui.status import StatusBar
    from ui.style import apply_palette

    app = QApplication.instance()
    old = app.palette()
    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.set_live("on")
    bar.set_connection("online", None)
    try:
        apply_palette(app, theme.accessible_palette(theme.dark_palette()))
        theme.refresh()
        qtbot.waitUntil(lambda: theme.DARK.ok in bar.live.text() and theme.DARK.ok in bar.connection.text(), timeout=2000)
    finally:
        apply_palette(app, old)
        theme.refresh()
