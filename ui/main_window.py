"""The main window: caseload on the left, the participant record / map / today's route in the
centre, incidents on the right, status bar below.

Threading (DESIGN.md guarantee "the GUI thread never waits on disk or network"): every read
(ui.data), every action (workstation.actions), every sync and every outbox decision runs through
ui.tasks.run_task on the thread pool; results come back as immutable snapshots. Live-feed
notifications arrive on the feed's thread, are turned into a queued Qt signal, coalesced into a
set of dirty device ids and applied on a 1 s tick: the caseload cells change in place
(dataChanged), the map gets update_devices(), nothing is reset.

Hooks for other parts:
- SECURITY: `lock_requested` is the place a lock controller connects to; `shutdown()` stops
  every timer and the map before the store is closed.
- MAP: `_make_map()` builds maps.view.MapView when that module exists; until then a labelled
  placeholder holds its place.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from local_db.timeutil import utc_now
from ui import data as ui_data
from ui import map_actions, style, theme
from ui.action_forms import CheckinForm, ContactForm, NoteForm, ResolveForm, ScheduleChangeForm
from ui.caseload import CaseloadPanel, LiveFix
from ui.field_views import JournalDialog, RouteView
from ui.incidents_view import IncidentsPanel
from ui.keyboard import SHORTCUTS, KeyboardDialog
from ui.outbox_view import OutboxDialog
from ui.participant_view import ParticipantView
from ui.password_dialog import ChangePasswordDialog
from ui.search_audit import SearchAuditor
from ui.services import GuiServices
from ui.tasks import GuiInvoker, run_task
from workstation.access_audit import audit_map_view
from workstation.incidents import Incident, resolution_problem
from workstation.route import plan_route

log = logging.getLogger(__name__)

LIVE_APPLY_MS = 1000
#: fewest seconds between two snapshot reloads caused by live alerts
RELOAD_MIN_S = 5.0
#: markers handed to the map per event-loop turn
MAP_CHUNK = 250
AGE_TICK_MS = 30_000
TAB_RECORD, TAB_ROUTE = 0, 1


class _LiveBridge(QObject):
    """Receives feed-thread callbacks and re-emits them as a queued signal on the GUI thread."""

    changed = Signal(object, object)  # (device ids, alert ids)


class MainWindow(QMainWindow):
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
        self.store = services.store
        self.clock = clock
        self.settings = settings
        self.setWindowTitle("Field Workstation" + (f" — {services.officer_name}" if services.officer_name else ""))
        self._names: dict[str, str] = {}
        self._snapshot: ui_data.CaseloadSnapshot | None = None
        #: device id -> the marker last handed to the map (from a snapshot or a live fix)
        self._markers_shown: dict[str, dict] = {}
        self._selected: str | None = None
        self._dirty_devices: set[str] = set()
        self._alerts_dirty = False
        self._reload_running = False
        self._reload_again = False
        self._last_reload = 0.0
        self._sync_cancel: threading.Event | None = None
        self._closing = False
        self.live_fixes_applied = 0
        self._tile_store = tile_store

        self.caseload = CaseloadPanel(self, clock=clock)
        self.record = ParticipantView(self, clock=clock)
        self.incidents = IncidentsPanel(self, clock=clock)
        self.route = RouteView(self)
        self.map = self._make_map() if with_map else None
        # centre: the map stays in sight above the record / route tabs (an officer checks "where
        # is this person" and "who is this person" together)
        self.centre = QTabWidget(self)
        self.centre.setAccessibleName("Centre views")
        self.centre.addTab(self.record, "Participant")
        self.centre.addTab(self.route, "Today's route")
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
        column.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        from ui.status import StatusBar

        self.status = StatusBar(self, clock=clock)
        self.setStatusBar(self.status)

        self._build_menus()
        # AU-2: a settled search is audited (on a worker); if it cannot be, the search is cleared
        self._search_audit = SearchAuditor(self.store, self.caseload.proxy.rowCount, self)
        self.caseload.search.textChanged.connect(self._search_audit.text_changed)
        self._search_audit.refused.connect(self._search_refused)
        self.caseload.participantSelected.connect(self._participant_selected)
        self.incidents.participantActivated.connect(self.show_participant)
        self.incidents.acknowledgeRequested.connect(self.acknowledge_incident)
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
    def _make_map(self) -> QWidget | None:
        """MAP: maps.view.MapView in the centre tab when available, else None (placeholder)."""
        try:
            from maps.view import MapView
        except ImportError:
            return None
        view = MapView(self._tile_store, self)
        view.setAccessibleName("Map")
        view.participantClicked.connect(self.show_participant)
        return view

    def _map_placeholder(self) -> QWidget:
        label = QLabel("The map is not available in this build.", self)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setAccessibleName("Map placeholder")
        return label

    def _build_menus(self) -> None:
        handlers: dict[str, Callable[[], Any]] = {
            "focus_caseload": lambda: self.caseload.table.setFocus(Qt.FocusReason.ShortcutFocusReason),
            "search": self.caseload.focus_search,
            "focus_record": lambda: self._show_tab(TAB_RECORD),
            "focus_map": lambda: self.map_area.setFocus(Qt.FocusReason.ShortcutFocusReason),
            "focus_route": lambda: self._show_tab(TAB_ROUTE),
            "focus_incidents": lambda: self.incidents.table.setFocus(Qt.FocusReason.ShortcutFocusReason),
            "acknowledge": lambda: self._incident_action(self.acknowledge_incident),
            "resolve": lambda: self._incident_action(self.resolve_incident),
            "note": lambda: self._record_action("note", self._selected),
            "contact": lambda: self._record_action("contact", self._selected),
            "checkin": lambda: self._record_action("checkin", self._selected),
            "schedule": lambda: self._record_action("schedule", self._selected),
            "track": lambda: self._record_action("track", self._selected),
            "sync": self.sync_now,
            "outbox": self.open_outbox,
            "journal": self.open_journal,
            "keyboard": self.show_keyboard,
            "quit": self.close,
            "focus_devices": lambda: map_actions.show_devices(self),
            "download_area": lambda: map_actions.download_area(self),
            "import_tiles": lambda: map_actions.import_tiles(self),
        }
        menus = {
            "File": ("sync", "outbox", "journal", "quit"),
            "View": ("focus_caseload", "search", "focus_record", "focus_map", "focus_route", "focus_incidents"),
            "Participant": ("note", "contact", "checkin", "schedule", "track"),
            "Incident": ("acknowledge", "resolve"),
            "Map": ("focus_devices", "download_area", "import_tiles"),
            "Help": ("keyboard",),
        }
        self.actions_by_id: dict[str, QAction] = {}
        texts = {aid: what for aid, _keys, what in SHORTCUTS}
        keys = {aid: k for aid, k, _what in SHORTCUTS}
        for menu_name, ids in menus.items():
            menu = self.menuBar().addMenu("&" + menu_name)
            for aid in ids:
                action = QAction(texts[aid], self)
                action.setShortcut(QKeySequence(keys[aid]))
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
                action.triggered.connect(lambda _=False, h=handlers[aid]: h())
                menu.addAction(action)
                self.actions_by_id[aid] = action
            if menu_name == "File":
                change = QAction("Change password…", self)
                change.triggered.connect(self.change_password)
                menu.insertAction(self.actions_by_id["quit"], change)
                menu.insertSeparator(self.actions_by_id["quit"])
            if menu_name == "Help":
                about = QAction("About Field Workstation", self)
                about.triggered.connect(self.show_about)
                menu.addAction(about)

    def _show_tab(self, index: int) -> None:
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
        self.services.start_live(lambda changes: self._live_bridge.changed.emit(changes.device_ids, changes.alert_ids),
                                 self._live_state_from_thread)
        self.reload()
        if self.services.online_capable:
            # the first sync runs with the progress bar once the stored caseload is on screen (so
            # it does not compete with the first paint); automatic sync takes over after it
            self._start_auto_after_sync = True
            self._sync_after_first_snapshot = True

    def _pushed_from_thread(self, _summary) -> None:  # push thread
        self._gui.post(lambda: (self._connectivity_changed_gui(), self.reload(), self._refresh_outbox()))

    def _auto_synced(self, summary) -> None:  # scheduler thread
        self._gui.post(lambda: (self._show_audit_problem(summary), self._connectivity_changed_gui(), self.reload(),
                                self._refresh_outbox()))

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
        if self.map is not None and hasattr(self.map, "shutdown"):
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

    # ------------------------------------------------------------------ snapshots
    def reload(self) -> None:
        """Re-read the caseload snapshot on a worker (coalesced: one at a time, one queued)."""
        if self._reload_running:
            self._reload_again = True
            return
        self._reload_running = True
        self._last_reload = time.monotonic()
        store, previous = self.store, self._snapshot
        if previous is not None:
            # Compare with what the window shows now, live fixes included: rows and markers the live
            # feed already updated are not "changed" again. Against the last snapshot, every reload
            # during live tracking re-sent ~700 markers and repainted the whole caseload (22-33 ms).
            previous = replace(previous, rows=list(self.caseload.model.rows()), markers=dict(self._markers_shown))
        run_task(lambda: ui_data.load_caseload(store, self.clock(), previous), self._snapshot_loaded,
                 self._reload_failed, owner=self)

    def _feed_map(self, markers: list[dict]) -> None:
        """Hand markers to the map MAP_CHUNK at a time, one chunk per event-loop turn: the map
        cleans and serialises each marker on the GUI thread (~40 us each, measured), so 7,000 at
        once would freeze the window for ~0.4 s."""
        self._map_queue.extend(markers)
        if not self._map_feeder.isActive():
            self._map_feeder.start()

    def _feed_map_chunk(self) -> None:
        chunk, self._map_queue = self._map_queue[:MAP_CHUNK], self._map_queue[MAP_CHUNK:]
        if chunk and self.map is not None and not self._closing:
            self.map.update_devices(chunk)
            self.map.flush()
        if not self._map_queue:
            self._map_feeder.stop()

    def _reload_failed(self, exc: BaseException) -> None:
        self._reload_running = False
        log.error("caseload reload failed: %s", exc)
        self.statusBar().showMessage(f"Could not read the local store: {exc}", 10_000)

    def _snapshot_loaded(self, snap: ui_data.CaseloadSnapshot) -> None:
        self._reload_running = False
        first = self._snapshot is None
        self._snapshot = snap
        self._names = snap.names
        if snap.officer_name:
            self.setWindowTitle(f"Field Workstation — {snap.officer_name}")
        if snap.changed_rows is not None:
            self.caseload.model.replace_changed(snap.rows, snap.changed_rows)
        else:
            selected = self.caseload.selected_participant()
            self.caseload.model.set_rows(snap.rows)
            if selected:
                self.caseload.select_participant(selected)
        self.caseload.model.set_open_incidents(snap.open_incidents)
        # the pending count comes from the outbox reads only (each snapshot starts one below): two
        # sources finishing in either order made the status bar flip between old and new counts
        self.status.set_last_sync(snap.last_sync_at)
        # The rest in a later event-loop turn: the caseload repaints first, then the incidents (a
        # reset of their table) and the map. One turn doing all of it froze the window for 45-60 ms
        # on every live-alert reload (`python -m bench ui`, gui_stall_max_ms). A 1 ms timer, not 0:
        # Qt 6 delivers a 0 ms single shot as a posted event, in the same pass as this one, before
        # the paint and any pending input. Snapshots are applied in arrival order: nothing is skipped.
        QTimer.singleShot(1, self, lambda: self._apply_snapshot_rest(snap, first))

    def _apply_snapshot_rest(self, snap: ui_data.CaseloadSnapshot, first: bool) -> None:
        if self._closing:
            return
        self.incidents.set_incidents(snap.incidents, snap.names, snap.raw_alerts)
        if self.map is not None and hasattr(self.map, "set_devices"):
            if first or snap.changed_markers is None:
                self.map.set_devices([])
                self._markers_shown = dict(snap.markers)
                self._feed_map(list(snap.markers.values()))
            elif snap.changed_markers:
                self._markers_shown.update((m["device_id"], m) for m in snap.changed_markers)
                self._feed_map(snap.changed_markers)
        if self._selected:
            self._load_record(self._selected)
        self._load_route()
        self._refresh_outbox()
        self.snapshotApplied.emit()
        if getattr(self, "_sync_after_first_snapshot", False):
            self._sync_after_first_snapshot = False
            self.sync_now()
        if self._reload_again:  # now, so it compares with this snapshot fully applied (markers included)
            self._reload_again = False
            self.reload()

    # ------------------------------------------------------------------ selection / record
    def _participant_selected(self, participant_id: str) -> None:
        self._selected = participant_id
        self._load_record(participant_id)
        if self.map is not None and hasattr(self.map, "select_participant"):
            self.map.select_participant(participant_id)

    def show_participant(self, participant_id: str) -> None:
        if not self.caseload.select_participant(participant_id):
            # filtered out of the table: show the record anyway
            self._participant_selected(participant_id)
        self.centre.setCurrentIndex(TAB_RECORD)

    def _load_record(self, participant_id: str) -> None:
        store = self.store
        run_task(lambda: ui_data.load_participant(store, participant_id), lambda rec: self._record_loaded(participant_id, rec),
                 owner=self)

    def _record_loaded(self, participant_id: str, record) -> None:
        if participant_id != self._selected:
            return  # the officer moved on meanwhile
        self.record.show_record(record)
        if record is not None and self.map is not None and hasattr(self.map, "show_zones"):
            self.map.show_zones([
                {"id": z.id, "name": z.name, "kind": z.kind, "shape": z.shape, "center_lat": z.center_lat,
                 "center_lon": z.center_lon, "radius_m": z.radius_m, "polygon": z.polygon, "schedule": z.schedule}
                for z in record.zones
            ])

    def _load_route(self) -> None:
        store = self.store
        now = self.clock()
        local_offset = datetime.now().astimezone().utcoffset() or timedelta(0)
        local_midnight = (now + local_offset).replace(hour=0, minute=0, second=0, microsecond=0) - local_offset

        def work():
            visits, start = ui_data.load_todays_visits(store, local_midnight, local_midnight + timedelta(days=1))
            return plan_route(visits, start, now, local_offset)

        run_task(work, lambda stops: self.route.set_stops(stops, local_offset), owner=self)

    # ------------------------------------------------------------------ live feed
    def _live_changed(self, device_ids, alert_ids) -> None:
        self._dirty_devices.update(device_ids)
        if alert_ids:
            self._alerts_dirty = True

    def _apply_live(self) -> None:
        # New alerts need the incidents rebuilt (a full snapshot): at most every RELOAD_MIN_S, and
        # not while a sync runs (its end reloads anyway), so a burst of alerts cannot keep the
        # workers and the GUI thread busy with snapshots.
        if (self._alerts_dirty and self._sync_cancel is None
                and time.monotonic() - self._last_reload >= RELOAD_MIN_S):
            self._alerts_dirty = False
            self.reload()
        if not self._dirty_devices:
            return
        ids = list(self._dirty_devices)
        self._dirty_devices.clear()
        store = self.store
        run_task(lambda: self.services.device_fixes(store, ids), self._fixes_loaded, owner=self)

    def _fixes_loaded(self, fixes: list[LiveFix]) -> None:
        changed = self.caseload.model.apply_live(fixes)
        self.live_fixes_applied += changed
        if self.map is not None and hasattr(self.map, "update_devices"):
            model = self.caseload.model
            rows, now = model.rows(), self.clock()
            updated = []
            for fix in fixes:
                row = model.row_for_device(fix.device_id)
                if row is not None:
                    r = rows[row]
                    updated.append(ui_data.device_marker(r, bool(model.open_incidents(r.participant_id)), now))
            if updated:
                self._markers_shown.update((m["device_id"], m) for m in updated)
                self._feed_map(updated)
        self.liveApplied.emit(changed)

    def _live_state_from_thread(self, state: str, detail: str = "") -> None:
        self._gui.post(lambda: self.status.set_live(state, detail))

    def _tick_ages(self) -> None:
        self.caseload.model.refresh_ages()
        self.incidents.model.layoutChanged.emit()

    # ------------------------------------------------------------------ connectivity
    def _connectivity_from_thread(self, _old=None, _new=None) -> None:
        self._gui.post(self._connectivity_changed_gui)

    def _connectivity_changed_gui(self) -> None:
        state, detail = self.services.connectivity()
        self.status.set_connection(state, detail)

    # ------------------------------------------------------------------ server session
    def _auth_required(self, reason: str) -> None:
        """The server session ended (token refused) or was never opened (offline sign-in): say
        so in the status bar and offer "Sign in…"; never a blocking modal prompt from a
        background event. Work continues offline meanwhile; nothing queued is lost."""
        if self._closing:
            return
        self.status.set_connection("degraded", f"sign-in needed: {reason}")
        self.status.sign_in.show()

    def sign_in_again(self) -> None:
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Sign in again")
        dialog.setLabelText("The server asks you to sign in again.\nPassword:")
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        dialog.textValueSelected.connect(self._relogin)
        dialog.open()
        self._open_form = dialog

    def _relogin(self, password: str) -> None:
        if not password:
            return

        def done(_result) -> None:
            self.status.sign_in.hide()
            self.sync_now()

        run_task(lambda: self.services.relogin(password), done,
                 lambda exc: self.statusBar().showMessage(f"Sign-in failed: {exc}", 10_000), owner=self)

    def _revoked(self, reason: str) -> None:
        """The agency revoked this workstation: the session already wiped the local data."""
        self.shutdown()
        QMessageBox.critical(self, "Workstation revoked",
                             f"This workstation was revoked by the agency and its local data was erased.\n\n{reason}")
        self.close()

    # ------------------------------------------------------------------ sync
    def sync_now(self) -> None:
        if self._sync_cancel is not None:
            self.statusBar().showMessage("A sync is already running.", 3000)
            return
        cancel = threading.Event()
        self._sync_cancel = cancel
        self.status.show_progress(0, 0, "Syncing")

        def progress(phase: str, done: int, total: int) -> None:  # runs on the worker
            self._gui.post(lambda: self.status.show_progress(done, total, phase))

        run_task(lambda: self.services.sync(progress, cancel), self._sync_done, self._sync_failed, owner=self)

    def cancel_sync(self) -> None:
        if self._sync_cancel is not None:
            self._sync_cancel.set()
            self.statusBar().showMessage("Cancelling sync…", 3000)

    def _sync_done(self, summary) -> None:
        self._sync_cancel = None
        if getattr(self, "_start_auto_after_sync", False) and not self._closing:
            self._start_auto_after_sync = False
            self.services.start_auto_sync(self._auto_synced)
        self.status.hide_progress()
        error = getattr(summary, "error", None)
        if error:
            self.statusBar().showMessage(f"Sync failed: {error}", 10_000)
        else:
            self.statusBar().showMessage(
                f"Synced: {getattr(summary, 'changes_applied', 0):,} changes in, "
                f"{getattr(summary, 'actions_sent', 0)} actions out", 6000)
        self._show_audit_problem(summary)
        self._connectivity_changed_gui()
        self.reload()
        self._refresh_outbox()
        self.syncFinished.emit(summary)

    def _show_audit_problem(self, summary) -> None:
        problem = getattr(summary, "audit_chain_break", None)
        if problem and not self._closing:
            self.status.set_audit_problem(problem)

    def _sync_failed(self, exc: BaseException) -> None:
        self._sync_cancel = None
        if getattr(self, "_start_auto_after_sync", False) and not self._closing:
            self._start_auto_after_sync = False
            self.services.start_auto_sync(self._auto_synced)
        self.status.hide_progress()
        self.statusBar().showMessage(f"Sync failed: {exc}", 10_000)
        self._connectivity_changed_gui()
        self.syncFinished.emit(exc)

    # ------------------------------------------------------------------ actions
    def _participant_name(self, participant_id: str) -> str:
        return self._names.get(participant_id, participant_id)

    def _record_action(self, name: str, participant_id: str | None) -> None:
        if not participant_id:
            self.statusBar().showMessage("Select a participant first.", 4000)
            return
        who = self._participant_name(participant_id)
        record = self.record.record if self.record.record and self.record.record.id == participant_id else None
        if name == "track":
            self._show_track(participant_id, record)
            return
        if name == "note":
            form = NoteForm(who, self)
        elif name == "contact":
            form = ContactForm(who, self, place=record.address if record else "")
        elif name == "checkin":
            form = CheckinForm(who, self, place="Field office")
        else:
            appts = []
            if record:
                now = self.clock()
                appts = [(a.id, f"{a.starts_at:%a %d %b %H:%M} {a.kind.replace('_', ' ')}") for a in record.appointments
                         if a.starts_at >= now and a.status == "scheduled"]
            form = ScheduleChangeForm(who, appts, self)
        form.setModal(True)
        form.accepted.connect(lambda: self._queue(form.kind_name, participant_id, form.payload))
        form.kind_name = {"note": "add_note", "contact": "record_contact", "checkin": "record_checkin",
                          "schedule": "request_schedule_change"}[name]
        form.open()
        self._open_form = form

    def _queue(self, kind: str, target: str, payload) -> None:
        store = self.store
        fields = payload.model_dump()
        run_task(lambda: self.services.record(store, kind, target, fields), self._queued, self._action_failed, owner=self)

    def _queued(self, action_id: str) -> None:
        self.statusBar().showMessage("Action saved — pending until the next sync.", 5000)
        self.actionQueued.emit(action_id)
        self.reload()
        self._refresh_outbox()
        self.services.kick_sync(self._pushed_from_thread)

    def _action_failed(self, exc: BaseException) -> None:
        QMessageBox.warning(self, "Action not saved", f"The action was not saved:\n{exc}")

    def _incident_action(self, handler) -> None:
        incident = self.incidents.current_incident()
        if incident is None:
            self.statusBar().showMessage("Select an incident first (Ctrl+I).", 4000)
            return
        handler(incident)

    def acknowledge_incident(self, incident: Incident) -> None:
        if incident.state != "open":
            self.statusBar().showMessage("This incident is already acknowledged.", 4000)
            return
        ids = [a.id for a in incident.alerts if a.state == "open"]
        store = self.store
        run_task(lambda: [self.services.record(store, "acknowledge_alert", i, {"note": ""}) for i in ids],
                 lambda results: self._queued(results[-1] if results else ""), self._action_failed, owner=self)

    def resolve_incident(self, incident: Incident, note: str | None = None) -> str | None:
        """Open the resolve form (or, with `note` given, resolve directly). Returns the refusal
        message when the rules forbid it (tamper without a note), None when queued/opened."""
        if note is not None:
            problem = resolution_problem(incident, note)
            if problem:
                self.statusBar().showMessage(problem, 8000)
                return problem
            self._queue_resolve(incident, {"resolution": "resolved", "note": note})
            return None
        form = ResolveForm(self._participant_name(incident.participant_id), incident.summary,
                           incident.requires_note_to_resolve, self)
        form.accepted.connect(lambda: self._queue_resolve(incident, form.payload.model_dump()))
        form.open()
        self._open_form = form
        return None

    def _queue_resolve(self, incident: Incident, fields: dict) -> None:
        ids = list(incident.actionable_alert_ids)
        store = self.store
        run_task(lambda: [self.services.record(store, "resolve_alert", i, fields) for i in ids],
                 lambda results: self._queued(results[-1] if results else ""), self._action_failed, owner=self)

    def _show_track(self, participant_id: str, record) -> None:
        if self.map is None or record is None or not hasattr(self.map, "show_track"):
            self.statusBar().showMessage("No track to show.", 3000)
            return
        positions = [{"lat": lat, "lon": lon, "fix_time": t.isoformat() + "Z"} for lat, lon, t in record.track]
        alerts = [{"lat": a.lat, "lon": a.lon, "kind": a.kind, "opened_at": a.opened_at.isoformat() + "Z"}
                  for a in record.alerts if a.lat is not None]
        store, mapped = self.store, self.map

        def show(_seq) -> None:
            if not self._closing:
                mapped.show_track(positions, alerts)

        def refuse(exc: BaseException) -> None:
            self.statusBar().showMessage(f"Track not shown: the audit trail cannot be written ({exc}).", 8000)

        # AU-2: a participant's location history on the map is a view of its own, audited before it is shown
        run_task(lambda: audit_map_view(store, participant_id, len(positions)), show, refuse, owner=self)

    def _search_refused(self, why: str) -> None:
        self.caseload.search.clear()
        QMessageBox.warning(self, "Search refused", why)

    # ------------------------------------------------------------------ outbox / journal / help
    def open_outbox(self) -> OutboxDialog:
        if self.outbox_dialog is None:
            dialog = OutboxDialog(self)
            dialog.retryRequested.connect(self.sync_now)
            dialog.keepMineRequested.connect(lambda aid: self._decide_conflict(aid, keep_mine=True))
            dialog.useServerRequested.connect(lambda aid: self._decide_conflict(aid, keep_mine=False))
            self.outbox_dialog = dialog
        self.outbox_dialog.show()
        self.outbox_dialog.raise_()
        self._refresh_outbox()
        return self.outbox_dialog

    def _refresh_outbox(self) -> None:
        # Reads run in parallel on the pool and may finish out of order: number them and never
        # let an older read overwrite what a newer one already showed (a stale "queued" read
        # landing after the push's "done" read would stay on screen until the next sync).
        self._outbox_reads += 1
        seq, store = self._outbox_reads, self.store
        services = self.services

        def read():
            # "sending" rows are in flight only while a push runs; otherwise they are unconfirmed
            # (the request may never have left: crash, cable pulled)
            in_flight = services.sending_now()
            return ui_data.load_outbox(store), in_flight and services.sending_now()

        run_task(read, lambda result: self._outbox_loaded(*result, seq=seq), owner=self)

    def _outbox_loaded(self, items, in_flight: bool = False, seq: int | None = None) -> None:
        if seq is not None:
            if seq < self._outbox_shown:
                return
            self._outbox_shown = seq
        problems = sum(1 for i in items if i.state in ("conflict", "rejected"))
        pending = sum(1 for i in items if i.state in ("queued", "sending"))
        self.status.set_pending(pending, problems)
        if self.outbox_dialog is not None:
            self.outbox_dialog.set_items(items, self._names, in_flight)

    def _decide_conflict(self, action_id: str, keep_mine: bool) -> None:
        store = self.store
        run_task(lambda: self.services.decide_conflict(store, action_id, keep_mine),
                 lambda _r: (self.reload(), self._refresh_outbox(),
                             keep_mine and self.services.kick_sync(self._pushed_from_thread)),
                 self._action_failed, owner=self)

    def open_journal(self) -> None:
        store = self.store
        run_task(lambda: ui_data.load_journal(store), lambda entries: JournalDialog(entries, self).open(), owner=self)

    def show_keyboard(self) -> KeyboardDialog:
        dialog = KeyboardDialog(self)
        dialog.open()
        return dialog

    def change_password(self) -> ChangePasswordDialog:
        dialog = ChangePasswordDialog(self.store, self.services.session.home, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.statusBar().showMessage("Password changed.", 6000))
        dialog.lockedOut.connect(self.lock_requested)
        dialog.open()
        return dialog

    def show_about(self) -> None:
        from workstation.version import app_version

        QMessageBox.about(self, "About Field Workstation",
                          f"<b>Field Workstation</b> {app_version()}<br>Offline-first workstation for "
                          "electronic-monitoring field officers.")


def app_palette_is_dark() -> bool:
    return theme.is_dark(QApplication.palette())
