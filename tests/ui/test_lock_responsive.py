"""Locking keeps the window responsive: the lock screen is up at once and the GUI event loop
keeps running while the session closes (store, key, live feed, client) on a worker."""

from __future__ import annotations

import time

from PySide6.QtCore import QThreadPool

from ui.lock_screen import install_lock
from ui.main_window import MainWindow
from ui.services import GuiServices
from ui.stall_probe import StallProbe
from workstation.config import Config
from workstation.session import WorkstationSession

SLOW_CLOSE_S = 1.5


def test_gui_event_loop_keeps_running_while_the_session_closes_on_lock(qtbot, tmp_path, sync_server_factory):
    server = sync_server_factory(caseload=6, password="pw")  # the default 10 s heartbeat
    home = tmp_path / "home"
    home.mkdir()
    config = Config(data_dir=home, server_url=server.url, workstation_id="ws-lock-responsive")
    built: list[MainWindow] = []

    def build(session) -> MainWindow:
        window = MainWindow(GuiServices(session, auto_sync=False), with_map=False)
        built.append(window)
        return window

    session = WorkstationSession.open(config, "officer1", "pw")
    assert session.sync_now().ok
    window = build(session)
    window.show()
    with qtbot.waitSignal(window.snapshotApplied, timeout=20_000):
        window.start()
    qtbot.waitUntil(lambda: session.live is not None and session.live.connected.is_set(), timeout=10_000)
    controller, lockable = install_lock(
        session, window, lambda pw: WorkstationSession.open(config, "officer1", pw), build, 15
    )
    # a slow disk or network on close (the live feed's read, a store checkpoint) must not matter
    real_close = session.close

    def slow_close() -> None:
        time.sleep(SLOW_CLOSE_S)
        real_close()

    session.close = slow_close
    probe = StallProbe(parent=controller)
    probe.start()
    started = time.perf_counter()
    try:
        controller.lock("manual")
        returned_ms = (time.perf_counter() - started) * 1000
        qtbot.waitUntil(lambda: controller.screen is not None and controller.screen.isVisible(), timeout=5000)
        ticks_while_closing = probe.ticks
        qtbot.waitUntil(lambda: lockable.closed, timeout=20_000)
        closed_s = time.perf_counter() - started
        probe.stop()
        assert not session.auth.logged_in
        assert returned_ms < 1000, f"lock() blocked the GUI thread for {returned_ms:.0f} ms"
        assert closed_s >= SLOW_CLOSE_S  # the close really ran (on the worker)...
        assert probe.ticks > ticks_while_closing + 20  # ...while the event loop kept ticking
        assert probe.max_stall_ms < 1000, f"GUI stalled {probe.max_stall_ms:.0f} ms during lock"
    finally:
        lockable.wait_closed()
        controller.shutdown()
        for w in built:
            w.shutdown()
            w.services.wait_stopped()
        QThreadPool.globalInstance().waitForDone(10_000)
