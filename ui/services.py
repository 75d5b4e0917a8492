"""What the main window needs from the application core, in one object it is given (the one
GUI adapter of the session: the QtCore signal twin workstation/session_qt.py was folded in here).

GuiServices adapts a logged-in workstation.session.WorkstationSession (store, server client,
sync engine, scheduler, live feed, connectivity) plus the action functions of
workstation.actions to the calls the widgets make. Every method that touches disk or network
blocks and is meant for a worker thread (the main window calls them through ui.tasks.run_task);
listeners connect to the core's psygnal signals, are called on the thread that produced the
event, and the window marshals them onto the GUI thread.

With no server (offline login) sync answers with a readable reason and the live feed stays off;
reading and queueing actions work as always.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from workstation import actions
from workstation.changes import Changes
from workstation.protocol import WireModel
from workstation.session import WorkstationSession
from workstation.store import Store
from workstation.sync.connectivity import ConnectivityStatus
from workstation.sync.engine import SyncProgress, SyncSummary

log = logging.getLogger(__name__)

#: changes per pull page in a GUI session (the headless CLI keeps the engine's default of 1,000)
GUI_PAGE_SIZE = 250

class GuiServices:
    def __init__(self, session: WorkstationSession, officer_name: str = "", *, auto_sync: bool = True,
                 page_size: int | None = GUI_PAGE_SIZE) -> None:
        self.session = session
        if page_size is not None and session.engine is not None:
            # pydantic validates a whole page in one call that holds the GIL; with the GUI in the
            # same process a smaller page keeps each hold (and so each GUI stall) short
            session.engine.page_size = page_size
        self.officer_name = officer_name
        self.auto_sync = auto_sync
        self._stopped = False
        self._stopper: threading.Thread | None = None
        self._push_listener: Callable[[SyncSummary], None] | None = None
        session.pushed.connect(self._pushed)

    @property
    def store(self) -> Store:
        """The session's open store (a new one after each unlock)."""
        return self.session.store

    @property
    def online_capable(self) -> bool:
        return self.session.engine is not None

    # ------------------------------------------------------------------ connectivity
    def connectivity(self) -> tuple[str, str | None]:
        if not self.online_capable:
            return "offline", f"working offline: {self.session.offline_reason or 'no server'}"
        return _state_and_detail(self.session.connectivity_status())

    def add_connectivity_listener(self, listener: Callable[..., None]) -> None:
        self.session.connectivity.changed.connect(listener)

    # ------------------------------------------------------------------ sync
    def sync(self, progress: Callable[[str, int, int], None] | None, cancel: threading.Event) -> SyncSummary:
        """Blocking sync (push, then pull); run on a worker."""
        if not self.online_capable:
            return SyncSummary(ok=False, error="working offline: log in with the server reachable to sync")

        def report(p: SyncProgress) -> None:
            if progress is not None:
                progress("Sending" if p.phase == "push" else "Receiving", p.done, p.total)

        return self.session.sync_now(report, cancel)

    def start_auto_sync(self, on_result: Callable[[SyncSummary], None] | None = None,
                        interval_s: float | None = None) -> None:
        """Automatic sync (at start, every interval, when the network comes back); `on_result`
        is called on the scheduler's thread after each automatic sync."""
        if self.online_capable and self.auto_sync:
            scheduler = (self.session.start_auto_sync() if interval_s is None
                         else self.session.start_auto_sync(interval_s))
            if on_result is not None:
                scheduler.synced.connect(on_result)

    def request_push(self, on_done: Callable[[SyncSummary], None] | None = None) -> None:
        """Send queued actions soon without blocking (after each action the officer takes): the
        session's scheduler pushes on its thread; `on_done(summary)` is called there after each push."""
        if on_done is not None:
            self._push_listener = on_done
        if self.online_capable and not self._stopped:
            self.session.request_push()

    def _pushed(self, summary: SyncSummary) -> None:  # scheduler thread
        if self._push_listener is not None and not self._stopped:
            self._push_listener(summary)

    def sending_now(self) -> bool:
        """A push (a sync or an automatic push) is running right now; never blocks."""
        engine = self.session.engine
        return engine is not None and engine.busy

    def on_auth_required(self, listener: Callable[[str], None]) -> None:
        """listener(reason) on a worker thread when the server wants the password again."""
        self.session.auth_required.connect(listener)

    def on_revoked(self, listener: Callable[[str], None]) -> None:
        """listener(reason) after the agency revoked this workstation and its data was wiped."""
        self.session.revoked.connect(listener)

    def relogin(self, password: str) -> None:
        """Blocking: log in to the server again after AuthRequired (the store stays open)."""
        self.session.relogin(password)

    # ------------------------------------------------------------------ live feed
    def start_live(self, listener: Callable[[Changes], None], state: Callable[[str, str], None]) -> None:
        if not self.online_capable:
            state("off", "offline")
            return
        live = self.session.start_live(listener)
        state("on" if live.running else "error", "")

    def live_state(self) -> str:
        live = self.session.live
        if live is None:
            return "off"
        if live.connected.is_set():
            return "on"
        return "connecting" if live.running else "error"

    # ------------------------------------------------------------------ actions
    def record(self, store: Store, target: str, payload: WireModel) -> actions.Recorded:
        """Queue one action (local effect + outbox row in one transaction); blocking."""
        return actions.record(store, target, payload)

    def decide_conflict(self, store: Store, action_id: str, keep_mine: bool) -> str | None:
        return self.session.keep_mine(action_id) if keep_mine else self.session.use_server(action_id)

    # ------------------------------------------------------------------ shutdown
    def stop(self) -> None:
        """Begin stopping background work (feed, scheduler, pushes) without blocking the caller:
        the live feed's reader can take a heartbeat interval to notice, and the GUI thread must
        not wait for it. Call wait_stopped() (off the event loop, e.g. after app.exec()) before
        closing the session."""
        if self._stopped and self._stopper is not None:
            return
        self._stopped = True

        def stop_all() -> None:
            self.session.stop_auto_sync()  # automatic sync and pushes
            self.session.stop_live()

        self._stopper = threading.Thread(target=stop_all, name="gui-services-stop", daemon=True)
        self._stopper.start()

    def restart(self) -> None:
        """After stop() (a lock): pushes are allowed again; start_live and start_auto_sync
        start the feed and the scheduler over the session's new store. The lock's worker waited
        for stop() to finish before it closed the store, so nothing is left to wait for here."""
        self._stopped = False
        self._stopper = None

    def wait_stopped(self, timeout: float = 30.0) -> bool:
        if self._stopper is None:
            return True
        self._stopper.join(timeout)
        return not self._stopper.is_alive()


def _state_and_detail(status: ConnectivityStatus) -> tuple[str, str | None]:
    """(state, detail for the status bar's tooltip): the last error and, when not online, the
    last successful contact, so "offline" still says how old the officer's data is."""
    parts = [status.last_error] if status.last_error else []
    if status.state != "online" and status.last_contact_at is not None:
        parts.append(f"last contact with the server {status.last_contact_at:%d %b %H:%M} UTC")
    return status.state, " · ".join(parts) or None
