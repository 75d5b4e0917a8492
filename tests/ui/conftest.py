"""Fixtures for the GUI tests: a main window over a real encrypted store (filled through
Store.write, no server), torn down so that no timer or thread outlives the test."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QThreadPool

from tests.ui.populate import fill_store
from ui.main_window import MainWindow
from ui.services import GuiServices
from workstation.auth import Auth
from workstation.session import WorkstationSession
from workstation.sync.connectivity import Connectivity


@pytest.fixture
def filled_store(store):
    fill_store(store, 30)
    return store


@pytest.fixture
def offline_session(store_home, filled_store):
    session = WorkstationSession(store_home, filled_store, None, Auth("officer1", "ws-test"), Connectivity(),
                                 offline_reason="no server in this test")
    yield session
    session.close()


@pytest.fixture
def sessions():
    """Sessions a test opened, closed at its end (ask for it before make_window: fixtures are torn down
    in reverse, so the windows stop before their sessions close the stores)."""
    opened: list[WorkstationSession] = []
    yield opened
    for session in opened:
        session.close()


@pytest.fixture
def make_window(qtbot):
    windows: list[MainWindow] = []

    def make(session, **kwargs) -> MainWindow:
        window = MainWindow(GuiServices(session), with_map=kwargs.pop("with_map", False), **kwargs)
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.shutdown()
        window.services.wait_stopped()
    QThreadPool.globalInstance().waitForDone(10_000)
    # the map's page is deleted with deleteLater; deliver that now so no page outlives its profile
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def offline_window(qtbot, offline_session, make_window):
    window = make_window(offline_session)
    window.show()
    with qtbot.waitSignal(window.snapshotApplied, timeout=10_000):
        window.start()
    return window
