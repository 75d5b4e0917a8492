"""GuiServices, the GUI's one adapter of the session (it took over the tests of the removed
QtCore-signal twin workstation/session_qt.py): blocking calls meant for workers, listeners on
the threads that produce the events, and what the status bar is told."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime

from ui.services import GuiServices
from workstation.config import Config
from workstation.protocol import GatewayFix
from workstation.session import WorkstationSession

_ids = itertools.count()


def open_session(tmp_path, server) -> WorkstationSession:
    home = tmp_path / f"home-{next(_ids)}"
    home.mkdir()
    return WorkstationSession.open(Config(data_dir=home, workstation_id=f"ws-svc-{next(_ids)}"), "officer1", "pw",
                                   server_url=server.url)


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_sync_progress_connectivity_live_and_offline(tmp_path, sync_server_factory):
    server = sync_server_factory(caseload=4, heartbeat_s=0.3)
    session = open_session(tmp_path, server)
    services = GuiServices(session, auto_sync=False)
    progress, states = [], []
    session.connectivity.changed.connect(lambda _old, new: states.append(new.state))
    try:
        summary = services.sync(lambda phase, done, total: progress.append((phase, done, total)), threading.Event())
        assert summary.ok and summary.participants == 4
        assert any(phase == "Receiving" and done > 0 for phase, done, _total in progress)
        assert services.connectivity() == ("online", None)  # since the login
        assert not services.sending_now()

        changes, live_states = [], []
        services.start_live(changes.append, lambda state, _detail: live_states.append(state))
        assert live_states == ["on"]
        wait_for(lambda: services.live_state() == "on")
        session.live.flush_interval_s = 0.05
        serial = server.seeded["officers"]["officer1"]["serials"][0]
        server.ingest([GatewayFix(serial=serial, fix_time=datetime.now(UTC), lat=41.89, lon=-87.62)])
        wait_for(lambda: any(c.devices for c in changes))
        assert len(next(c for c in changes if c.devices).devices) == 1

        services.stop()  # never blocks; the feed stops on its own thread
        assert services.wait_stopped(10)
        server.stop()
        for _ in range(2):
            failed = services.sync(None, threading.Event())
            assert not failed.ok and failed.retryable
        assert states == ["degraded", "offline"]
        state, detail = services.connectivity()
        assert state == "offline" and "last contact with the server" in detail  # still known
    finally:
        services.stop()
        services.wait_stopped()
        session.close()


def test_offline_session_says_why_and_never_syncs(offline_session):
    services = GuiServices(offline_session)
    assert not services.online_capable
    state, detail = services.connectivity()
    assert state == "offline" and "no server in this test" in detail
    summary = services.sync(None, threading.Event())
    assert not summary.ok and "working offline" in summary.error
    live = []
    services.start_live(lambda _c: None, lambda state, _detail: live.append(state))
    assert live == ["off"]
