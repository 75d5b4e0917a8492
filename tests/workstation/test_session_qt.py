"""The QtCore adapter: signals arrive on the GUI thread while the work runs on workers."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QThread

from workstation.protocol import GatewayFix
from workstation.session_qt import SessionSignals


def test_sync_progress_connectivity_and_live_signals(qtbot, sync_server_factory, open_session):
    server = sync_server_factory(caseload=4, heartbeat_s=0.3)
    session = open_session(server)
    bridge = SessionSignals(session)
    progress, states, threads = [], [], []
    bridge.syncProgress.connect(lambda *args: progress.append(args))
    bridge.connectivityChanged.connect(lambda state, last: states.append((state, last)))
    bridge.syncFinished.connect(lambda _summary: threads.append(QThread.currentThread()))
    try:
        with qtbot.waitSignal(bridge.syncFinished, timeout=30_000) as finished:
            assert bridge.sync_now()
        assert finished.args[0]["ok"] and finished.args[0]["participants"] == 4
        assert threads == [QThread.currentThread()]  # the slot ran on the GUI thread
        assert any(phase == "pull" and done > 0 for phase, done, _total, _bytes in progress)
        assert bridge.connectivity()[0] == "online"  # since the login

        bridge.start_live()
        qtbot.waitUntil(lambda: session.live is not None and session.live.connected.is_set(), timeout=10_000)
        session.live.flush_interval_s = 0.05
        serial = server.seeded["officers"]["officer1"]["serials"][0]
        with qtbot.waitSignal(bridge.liveChanged, timeout=15_000) as changed:
            server.ingest([GatewayFix(serial=serial, fix_time=datetime.now(UTC), lat=41.89, lon=-87.62)])
        device_ids, _alert_ids = changed.args
        assert len(device_ids) == 1

        bridge.close()  # live feed off; then the server goes away
        server.stop()
        for _ in range(2):
            with qtbot.waitSignal(bridge.syncFinished, timeout=30_000) as failed:
                assert bridge.sync_now()
            assert not failed.args[0]["ok"] and failed.args[0]["retryable"]
        assert [state for state, _last in states] == ["degraded", "offline"]
        assert states[-1][1].endswith("Z")  # the last successful contact is still known
    finally:
        bridge.close()
