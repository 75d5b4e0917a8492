"""Locking keeps the window responsive: the lock screen is up at once and the GUI event loop
keeps running while the session closes (store, key, live feed, client) on a worker."""

from __future__ import annotations

import time

from tests.security.test_gui_lock import running_app  # noqa: F401 - the real app's lock, reused
from ui.stall_probe import StallProbe

SLOW_CLOSE_S = 1.5


def test_gui_event_loop_keeps_running_while_the_session_closes_on_lock(qtbot, running_app):  # noqa: F811
    controller, lockable, _clock = running_app
    session = lockable.session
    qtbot.waitUntil(lambda: session.live is not None and session.live.connected.is_set(), timeout=10_000)
    # a slow disk or network on close (the live feed's read, a store checkpoint) must not matter
    real_lock = session.lock

    def slow_lock(reason: str) -> None:
        time.sleep(SLOW_CLOSE_S)
        real_lock(reason)

    session.lock = slow_lock
    probe = StallProbe(parent=controller)
    probe.start()
    started = time.perf_counter()
    controller.lock("manual")
    returned_ms = (time.perf_counter() - started) * 1000
    qtbot.waitUntil(lambda: controller.screen is not None and controller.screen.isVisible(), timeout=5000)
    ticks_at_screen = probe.ticks
    qtbot.waitUntil(lambda: lockable.closed, timeout=20_000)
    closed_s = time.perf_counter() - started
    probe.stop()
    assert not session.auth.logged_in
    assert returned_ms < 1000, f"lock() blocked the GUI thread for {returned_ms:.0f} ms"
    assert closed_s >= SLOW_CLOSE_S  # the close really ran (on the worker)...
    assert probe.ticks > ticks_at_screen + 20  # ...while the event loop kept ticking
    assert probe.max_stall_ms < 1000, f"GUI stalled {probe.max_stall_ms:.0f} ms during lock"
