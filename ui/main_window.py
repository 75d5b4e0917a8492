"""The main window: caseload on the left, the participant record / map / today's route in the
centre, incidents on the right, status bar below.

Threading (the GUI thread never waits on disk or network): every read (workstation.read), every action
(workstation.actions), every sync and every outbox decision runs through ui.tasks.run_task on the
thread pool; results come back as immutable snapshots.

The window is assembled from one module per concern, each a mixin over the same widgets:
ui.window_feed (snapshots, record, route, live feed), ui.window_actions (officer actions),
ui.window_sync (server session and sync) and ui.window_menus (menus and dialogs). This module
builds the widgets and owns the lifecycle: `lock_requested` is where the lock controller connects;
`shutdown()` stops every timer and the map before the store is closed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui import map_actions, style, theme
from ui.caseload import CaseloadPanel
from ui.field_views import RouteView
from ui.incidents_view import IncidentsPanel
from ui.map_first import MapFirstLayout
from ui.outbox_view import OutboxDialog
from ui.participant_view import ParticipantView
from ui.search_audit import SearchAuditor
from ui.services import GuiServices
from ui.tasks import GuiInvoker, run_task
from ui.urgent import UrgentIncidents
from ui.window_actions import WindowActions
from ui.window_feed import WindowFeed
from ui.window_menus import WindowMenus
from ui.window_sync import WindowSync
from workstation.changes import Changes, LiveFix
from workstation.clock import utc_now
from workstation.read.caseload import CaseloadSnapshot
from workstation.store import Store

if TYPE_CHECKING:
    from maps.view import MapView

LIVE_APPLY_MS = 1000
AGE_TICK_MS = 30_000


class _LiveBridge(QObject):
    """Receives feed-thread callbacks and re-emits them as a queued signal on the GUI thread."""

    changed = Signal(object)  # workstation.changes.Changes, with the values the feed applied


class MainWindow(WindowFeed, WindowActions, WindowSync, WindowMenus, QMainWindow):
    #: SECURITY: connect the lock controller here (Ctrl+L itself is installed by the lock screen).
    lock_requested = Signal()
    #: emitted after each snapshot reached the widgets (tests, --screenshot)
    snapshotApplied = Signal()
    liveApplied = Signal(int)
    actionQueued = Signal(str)
    syncFinished = Signal(object)

    def __init__(
        self,
        services: GuiServices,
        *,
        settings: QSettings | None = None,
        clock: Callable[[], datetime] = utc_now,
        banner: str = "",
        with_map: bool = True,
        tile_store: Any = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.clock = clock
        self.settings = settings
        self._names: dict[str, str] = {}
        self._snapshot: CaseloadSnapshot | None = None
        #: device id -> the marker last handed to the map (from a snapshot or a live fix)
        self._markers_shown: dict[str, dict] = {}
        self._selected: str | None = None
        #: the live feed's applied device values not yet shown (applied on the next live tick)
        self._pending_fixes: list[LiveFix] = []
        #: queued fixes are being shown, a chunk per event-loop turn
        self._showing_fixes = False
        #: participants of live alerts not yet in a snapshot
        self._alert_participants: set[str] = set()
        self._alerts_dirty = False
        self._reload_running = False
        self._reload_again = False
        #: what the next snapshot is read for: everything, or the changes gathered in the scope
        self._reload_everything = False
        self._reload_scope = Changes()
        self._last_reload = 0.0
        self._sync_cancel: threading.Event | None = None
        self._closing = False
        #: locked: nothing reads the store (it is closed) until resume()
        self._suspended = False
        self.live_fixes_applied = 0
        self._tile_store = tile_store

        self.caseload = CaseloadPanel(self, clock=clock)
        self.record = ParticipantView(self, clock=clock)
        self.incidents = IncidentsPanel(self, clock=clock)
        self.incidents.agency_time_zone = services.session.agency_time_zone
        self.route = RouteView(self)
        self.map: MapView | None = self._make_map() if with_map else None
        # centre: the map stays in sight above the record / route tabs (an officer checks "where
        # is this person" and "who is this person" together)
        self.centre = QTabWidget(self)
        self.centre.setAccessibleName("Centre views")
        self.centre.addTab(self.record, "Participant")
        self.centre.addTab(self.route, "Today's route")
        self.centre.currentChanged.connect(lambda _index: self._show_route_on_map())
        self.devices_list = map_actions.add_devices_tab(self)
        self.map_area = self.map if self.map is not None else self._map_placeholder()
        self.centre_split = QSplitter(Qt.Orientation.Vertical, self)
        self.centre_split.setObjectName("centreSplitter")
        self.centre_split.addWidget(self.map_area)
        self.centre_split.addWidget(self.centre)
        self.centre_split.setStretchFactor(0, 2)
        self.centre_split.setStretchFactor(1, 3)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.caseload)
        self.splitter.addWidget(self.centre_split)
        self.splitter.addWidget(self.incidents)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setStretchFactor(2, 3)
        self.map_first = MapFirstLayout(self.splitter, self.centre_split)
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        if banner:
            strip = QLabel(banner, central)
            strip.setObjectName("demoBanner")
            strip.setAccessibleName("Demo banner")
            strip.setAlignment(Qt.AlignmentFlag.AlignCenter)
            strip.setContentsMargins(6, 3, 6, 3)
            strip.setAutoFillBackground(True)
            strip.setBackgroundRole(QPalette.ColorRole.Highlight)
            strip.setForegroundRole(QPalette.ColorRole.HighlightedText)
            column.addWidget(strip)
        self.urgent = UrgentIncidents(self)
        self.urgent.set_officer(services.officer_name)
        self.urgent.showRequested.connect(self.show_incident)
        column.addWidget(self.urgent.banner)
        column.addWidget(self.urgent.offline)
        column.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        from ui.status import StatusBar

        self.status = StatusBar(self, clock=clock)
        self.setStatusBar(self.status)

        self._build_menus()
        # AU-2: a settled search is audited (on a worker); if it cannot be, the search is cleared
        self._search_audit = SearchAuditor(lambda: self.store, self.caseload.proxy.rowCount, self)
        self.caseload.search.textChanged.connect(self._search_audit.text_changed)
        self._search_audit.refused.connect(self._search_refused)
        self.caseload.participantSelected.connect(self._participant_selected)
        self.incidents.participantSelected.connect(self.show_participant)
        self.incidents.participantActivated.connect(self.open_participant)
        self.incidents.acknowledgeRequested.connect(self.acknowledge_incidents)
        self.incidents.resolveRequested.connect(self.resolve_incident)
        self.record.actionRequested.connect(self._record_action)
        self.route.participantActivated.connect(self.show_participant)
        self.status.cancel.clicked.connect(self.cancel_sync)
        self.status.sign_in.clicked.connect(self.sign_in_again)

        self._gui = GuiInvoker(self)
        self._live_bridge = _LiveBridge(self)
        self._live_bridge.changed.connect(self._live_changed)
        self._live_timer = QTimer(self)
        self._live_timer.setObjectName("live-apply")
        self._live_timer.setInterval(LIVE_APPLY_MS)
        self._live_timer.timeout.connect(self._apply_live)
        self._age_timer = QTimer(self)
        self._age_timer.setObjectName("age-refresh")
        self._age_timer.setInterval(AGE_TICK_MS)
        self._age_timer.timeout.connect(self._tick_ages)
        self._map_queue: list[dict] = []
        self._map_feeder = QTimer(self)
        self._map_feeder.setObjectName("map-feeder")
        self._map_feeder.setInterval(0)
        self._map_feeder.timeout.connect(self._feed_map_chunk)
        self.outbox_dialog: OutboxDialog | None = None
        self._outbox_reads = 0  # outbox reads started
        self._outbox_shown = 0  # the newest read whose result is on screen
        self.resize(1366, 740)
        self._restore_layout()

    # ------------------------------------------------------------------ construction helpers
    def _make_map(self) -> MapView:
        # imported here: QtWebEngine costs start-up time, and a window without a map (tests,
        # with_map=False) never pays it
        from maps.view import MapView

        view = MapView(self._tile_store, self)
        view.setAccessibleName("Map")
        view.set_dark(app_palette_is_dark())
        view.participantClicked.connect(self.show_participant)
        return view

    def _map_placeholder(self) -> QWidget:
        """Where the map goes in a window built without one (with_map=False)."""
        label = QLabel("No map in this window.", self)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setAccessibleName("Map placeholder")
        return label

    def toggle_map_first(self) -> bool:
        """Map-first layout on or off (ui.map_first); returns whether it is on now."""
        on = self.map_first.toggle()
        self.statusBar().showMessage("Map-first layout (Ctrl+M to go back)" if on else "Layout restored", 4000)
        return on

    def _show_tab(self, index: int) -> None:
        if self.map_first.active:
            self.map_first.toggle()  # the record or route was asked for: show it
        self.centre.setCurrentIndex(index)
        self.centre.currentWidget().setFocus(Qt.FocusReason.ShortcutFocusReason)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Load the snapshot, start the ticking parts and the live feed."""
        self.status.start()
        self._live_timer.start()
        self._age_timer.start()
        self.services.add_connectivity_listener(self._connectivity_from_thread)
        self.services.on_auth_required(lambda reason: self._gui.post(lambda: self._auth_required(reason)))
        self.services.on_revoked(lambda reason: self._gui.post(lambda: self._revoked(reason)))
        self._connectivity_changed_gui()
        self.services.start_live(lambda changes: self._live_bridge.changed.emit(changes), self._live_state_from_thread)
        self.reload()
        if self.services.online_capable:
            # the first sync runs with the progress bar once the stored caseload is on screen (so
            # it does not compete with the first paint); automatic sync takes over after it
            self._start_auto_after_sync = True
            self._sync_after_first_snapshot = True

    @property
    def store(self) -> Store:
        """The session's open store (the handle reads and actions are given on their worker)."""
        return self.services.store

    def suspend(self) -> None:
        """Locking: stop everything that reads the store or the server (timers, live feed,
        automatic sync, a running sync) and keep every widget as it is, for resume()."""
        if self._suspended or self._closing:
            return
        self._suspended = True
        self._live_timer.stop()
        self._age_timer.stop()
        self._search_audit.stop()
        self._map_feeder.stop()
        self._map_queue.clear()
        if self._sync_cancel is not None:
            self._sync_cancel.set()
        self.services.stop()
        if self._tile_store is not None:
            # SC-28: the tile cache's key (derived from the data key) goes with the store's; on
            # the pool, which the lock waits for before it closes the store
            run_task(self._tile_store.close_cache)

    def resume(self) -> None:
        """Unlocked: the session's store is open again; restart what suspend() stopped and
        re-read what may have changed meanwhile. Selection, search, map view and open forms
        were never touched."""
        if not self._suspended or self._closing:
            return
        self._suspended = False
        self.services.restart()
        if self._tile_store is not None:
            tiles, key = self._tile_store, self.store.cache_key
            run_task(lambda: tiles.reopen_cache(key))
        self._live_timer.start()
        self._age_timer.start()
        self._search_audit.text_changed(self.caseload.search.text())
        self.services.start_live(lambda changes: self._live_bridge.changed.emit(changes), self._live_state_from_thread)
        self._connectivity_changed_gui()
        self.reload()
        if getattr(self, "_start_auto_after_sync", False):
            self.sync_now()  # the first sync was cut short by the lock: automatic sync follows it
        else:
            self.services.start_auto_sync(self._auto_synced)

    def shutdown(self) -> None:
        """Stop every timer, the map and the services' threads (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self._save_layout()
        self._live_timer.stop()
        self._age_timer.stop()
        self._search_audit.stop()
        self._map_feeder.stop()
        self.status.stop()
        if self._sync_cancel is not None:
            self._sync_cancel.set()
        if self.map is not None:
            self.map.shutdown()
        self.services.stop()
        if self._tile_store is not None:
            # on the pool: closing waits for the store's lock, which a tile download may hold
            # (the application waits for the pool before it exits)
            run_task(self._tile_store.close)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.PaletteChange:
            theme.refresh()  # the system switched light/dark: colours follow
            style.follow_palette(QApplication.instance())
            if self.map is not None and hasattr(self.map, "set_dark"):
                self.map.set_dark(app_palette_is_dark())
        super().changeEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    def _save_layout(self) -> None:
        if self.settings is None:
            return
        self.settings.setValue("main/geometry", self.saveGeometry())
        self.settings.setValue("main/state", self.saveState())
        self.settings.setValue("main/splitter", self.splitter.saveState())
        self.settings.setValue("main/centreSplitter", self.centre_split.saveState())
        self.settings.setValue("main/caseloadHeader", self.caseload.table.horizontalHeader().saveState())
        self.settings.setValue("main/incidentHeader", self.incidents.table.horizontalHeader().saveState())
        self.settings.sync()

    def _restore_layout(self) -> None:
        if self.settings is None:
            self._default_sizes()
            return
        restored = False
        for key, restore in (
            ("main/geometry", self.restoreGeometry),
            ("main/state", self.restoreState),
            ("main/splitter", self.splitter.restoreState),
            ("main/centreSplitter", self.centre_split.restoreState),
            ("main/caseloadHeader", self.caseload.table.horizontalHeader().restoreState),
            ("main/incidentHeader", self.incidents.table.horizontalHeader().restoreState),
        ):
            value = self.settings.value(key)
            if isinstance(value, QByteArray | bytes) and value:
                restored = restore(QByteArray(value)) or restored
        if not restored:
            self._default_sizes()

    def reset_layout(self) -> None:
        """Pane sizes for the current window size (used when no saved layout applies)."""
        self._default_sizes()

    def _default_sizes(self) -> None:
        # caseload 41 %, centre 31 %, incidents 28 % of the width: at 1366 px the caseload shows
        # name to incidents and an incident line ("Low battery → No communication · 2 alerts") fits
        width = max(self.width(), 1200)
        self.splitter.setSizes([int(width * 0.41), int(width * 0.31), int(width * 0.28)])
        height = max(self.height(), 700)
        self.centre_split.setSizes([int(height * 0.45), int(height * 0.55)])

def app_palette_is_dark() -> bool:
    return theme.is_dark(QApplication.palette())
