"""The main window's read side: caseload snapshots, the selected participant's record, today's
route and the live feed, all read on the thread pool and applied on the GUI thread.

The live feed hands over what it applied (workstation.changes.Changes with each device's new
values) on its thread; a queued Qt signal brings it here, the values are queued and applied on a
1 s tick: the caseload cells change in place (dataChanged), the map gets update_devices(), nothing
is reset and nothing is read again. A sync or an action says what it changed too: nothing changed,
nothing is read; the shown record is re-read only when its participant changed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from PySide6.QtCore import Qt, QTimer

from ui.tasks import run_task
from workstation.changes import Changes, LiveFix
from workstation.local_time import agency_day
from workstation.read.caseload import CaseloadSnapshot, device_marker, load_caseload
from workstation.read.record import load_participant
from workstation.read.visits import load_todays_visits
from workstation.route import RoutePlan, plan_route, route_payload

log = logging.getLogger(__name__)

#: fewest seconds between two snapshot reloads caused by live alerts
RELOAD_MIN_S = 5.0
#: markers handed to the map per event-loop turn
MAP_CHUNK = 150
#: live fixes shown per event-loop turn
LIVE_CHUNK = 40
TAB_RECORD, TAB_ROUTE = 0, 1


class WindowFeed:
    """Mixed into MainWindow: everything that reads the store and shows it."""

    def reload(self, scope: Changes | None = None) -> None:
        """Re-read the caseload snapshot on a worker (coalesced: one at a time, one queued).
        `scope`: what changed, so the shown record is re-read only when its participant is in it;
        None: anything may have changed."""
        if scope is None:
            self._reload_everything = True
        else:
            self._reload_scope = self._reload_scope | scope
        if self._suspended:  # locked: the store is closed; resume() reads again
            return
        if self._reload_running:
            self._reload_again = True
            return
        self._reload_running = True
        self._last_reload = time.monotonic()
        read_for = None if self._reload_everything else self._reload_scope
        self._reload_everything, self._reload_scope = False, Changes()
        store, previous = self.store, self._snapshot
        if previous is not None:
            # Compare with what the window shows now, live fixes included: rows and markers the live
            # feed already updated are not "changed" again. Against the last snapshot, every reload
            # during live tracking re-sent ~700 markers and repainted the whole caseload (22-33 ms).
            previous = replace(previous, rows=list(self.caseload.model.rows()), markers=dict(self._markers_shown))
        live = self.services.live_state() == "on"
        agency_tz = self.services.session.agency_time_zone
        run_task(lambda: load_caseload(store, self.clock(), previous, live=live, agency_time_zone=agency_tz),
                 lambda snap: self._snapshot_loaded(snap, read_for), self._reload_failed, owner=self)

    def apply_changes(self, changes: Changes) -> None:
        """Refresh what an action, a push or a sync changed, and only that. Nothing changed:
        nothing is read. Caseload rows, devices, alerts or incidents: a snapshot, diffed off
        the GUI thread, so only the changed caseload rows and map markers are touched (and the
        record re-read only when its participant changed). A note, contact or check-in alone
        re-reads the record when it is the one shown, and the outbox (whose counts the status bar
        shows); the caseload is not reloaded."""
        if changes.alerts or changes.devices or changes.incidents or changes.caseload_rows:
            self.reload(changes)
            return
        if self._selected is not None and self._selected in changes.participants:
            self._load_record(self._selected)
        self._refresh_outbox()

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
            if len(chunk) == MAP_CHUNK:
                self.map.flush()
            # a smaller batch (a live tick's fixes, 40 per turn) waits for the map's coalescing
            # timer: one page update per tick instead of one per chunk, each a frame to composite
        if not self._map_queue:
            self._map_feeder.stop()

    def _reload_failed(self, exc: BaseException) -> None:
        self._reload_running = False
        log.error("caseload reload failed: %s", exc)
        self.statusBar().showMessage(f"Could not read the local store: {exc}", 10_000)

    def _snapshot_loaded(self, snap: CaseloadSnapshot, read_for: Changes | None) -> None:
        self._reload_running = False
        first = self._snapshot is None
        self._snapshot = snap
        self._names = snap.names
        if snap.officer_name:
            self.urgent.set_officer(snap.officer_name)
        self.caseload.model.set_data_as_of(snap.data_as_of)
        self.caseload.model.set_time_zones(snap.time_zones)
        self.incidents.model.set_time_zones(snap.time_zones)
        self.urgent.set_data_as_of(snap.data_as_of)
        if snap.changed_rows is not None:
            self.caseload.model.replace_changed(snap.rows, snap.changed_rows, snap.search_texts)
        else:
            selected = self.caseload.selected_participant()
            self.caseload.model.set_rows(snap.rows, snap.search_texts)
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
        QTimer.singleShot(1, self, lambda: self._apply_snapshot_rest(snap, first, read_for))

    def _apply_snapshot_rest(self, snap: CaseloadSnapshot, first: bool, read_for: Changes | None) -> None:
        if self._closing:
            return
        self.incidents.set_incidents(snap.incidents, snap.names, snap.raw_alerts, snap.case_numbers)
        self.urgent.update(snap.incidents, snap.names)
        # and the map and the reads in one more turn: the incidents' reset alone is 10-30 ms
        QTimer.singleShot(1, self, lambda: self._apply_snapshot_last(snap, first, read_for))

    def _apply_snapshot_last(self, snap: CaseloadSnapshot, first: bool, read_for: Changes | None) -> None:
        if self._closing:
            return
        if self.map is not None:
            if first or snap.changed_markers is None:
                self.map.set_devices([])
                self._markers_shown = dict(snap.markers)
                self._feed_map(list(snap.markers.values()))
            elif snap.changed_markers:
                self._markers_shown.update((m["device_id"], m) for m in snap.changed_markers)
                self._feed_map(snap.changed_markers)
        if self._selected and (read_for is None or self._selected in read_for.participants):
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
        if self.map is not None:
            self.map.select_participant(participant_id)

    def show_participant(self, participant_id: str) -> None:
        if not self.caseload.select_participant(participant_id):
            # filtered out of the table: show the record anyway
            self._participant_selected(participant_id)
        self.centre.setCurrentIndex(TAB_RECORD)

    def show_incident(self, incident_id: str) -> None:
        """Select the incident (its participant follows) and go to the incidents list."""
        if not self.incidents.select_incident(incident_id):
            self.incidents.show_everything()
            self.incidents.select_incident(incident_id)
        self.incidents.table.setFocus(Qt.FocusReason.OtherFocusReason)

    def open_participant(self, participant_id: str) -> None:
        """Show the participant's record and go there (Enter on an incident)."""
        self.show_participant(participant_id)
        self.record.browser.setFocus(Qt.FocusReason.OtherFocusReason)

    def _load_record(self, participant_id: str) -> None:
        if self._suspended:
            return
        store = self.store
        agency_tz = self.services.session.agency_time_zone
        run_task(lambda: load_participant(store, participant_id, agency_time_zone=agency_tz), lambda rec: self._record_loaded(participant_id, rec),
                 owner=self)

    def _record_loaded(self, participant_id: str, record) -> None:
        if participant_id != self._selected:
            return  # the officer moved on meanwhile
        self.record.show_record(record)
        if record is not None and self.map is not None:
            self.map.show_zones([
                {"id": z.id, "name": z.name, "kind": z.kind, "shape": z.shape, "center_lat": z.center_lat,
                 "center_lon": z.center_lon, "radius_m": z.radius_m, "polygon": z.polygon, "schedule": z.schedule,
                 "time_zone": z.time_zone}
                for z in record.zones
            ])

    def _load_route(self) -> None:
        if self._suspended:
            return
        store = self.store
        now = self.clock()
        agency_tz = self.services.session.agency_time_zone
        day_start, day_end = agency_day(now, agency_tz)  # the officer's day, on the agency's clock

        def work():
            visits, start = load_todays_visits(store, day_start, day_end, agency_tz)
            return plan_route(visits, start, now)

        run_task(work, self._route_planned, owner=self)

    def _route_planned(self, plan: RoutePlan) -> None:
        self._route_plan = plan
        self.route.set_plan(plan)
        self._show_route_on_map()

    def _show_route_on_map(self) -> None:
        """The route is drawn on the map while the route tab is shown."""
        plan = getattr(self, "_route_plan", None)
        if self.map is None or not hasattr(self.map, "show_route"):
            return
        if plan is None or self.centre.currentIndex() != TAB_ROUTE:
            self.map.show_route(None)
            return
        self.map.show_route(route_payload(plan))

    # ------------------------------------------------------------------ live feed
    def _live_changed(self, changes: Changes) -> None:
        self._pending_fixes.extend(changes.fixes)
        if changes.alerts:
            self._alerts_dirty = True
            self._alert_participants.update(a.participant_id for a in changes.alert_values)
        if changes.incidents:  # escalated, cleared or folded on the server: the queue follows
            self._alerts_dirty = True
            self._alert_participants.update(changes.participants)

    def _apply_live(self) -> None:
        if self._suspended:
            return
        # New alerts need the incidents rebuilt (a full snapshot): at most every RELOAD_MIN_S, and
        # not while a sync runs (its end reloads anyway), so a burst of alerts cannot keep the
        # workers and the GUI thread busy with snapshots.
        if (self._alerts_dirty and self._sync_cancel is None
                and time.monotonic() - self._last_reload >= RELOAD_MIN_S):
            self._alerts_dirty = False
            participants, self._alert_participants = frozenset(self._alert_participants), set()
            self.reload(Changes(participants=participants))
        if not self._showing_fixes:
            self._show_pending_fixes()

    def _show_pending_fixes(self) -> None:
        """LIVE_CHUNK queued fixes per event-loop turn until none is left: a tick's ~120 fixes at
        once held the GUI thread 30-50 ms under load (`python -m bench ui`)."""
        self._showing_fixes = bool(self._pending_fixes) and not (self._suspended or self._closing)
        if not self._showing_fixes:
            return
        chunk, self._pending_fixes = self._pending_fixes[:LIVE_CHUNK], self._pending_fixes[LIVE_CHUNK:]
        self._show_fixes(chunk)
        QTimer.singleShot(1, self, self._show_pending_fixes)

    def _show_fixes(self, fixes: list[LiveFix]) -> None:
        """The live feed's applied values into the caseload cells and the map markers, in place."""
        changed = self.caseload.model.apply_live(fixes)
        self.live_fixes_applied += changed
        if self.map is not None:
            model = self.caseload.model
            rows, now = model.rows(), self.clock()
            updated: dict[str, dict] = {}
            for fix in fixes:
                row = model.row_for_device(fix.device_id)
                if row is not None:
                    r = rows[row]
                    updated[fix.device_id] = device_marker(r, bool(model.open_incidents(r.participant_id)), now)
            if updated:
                self._markers_shown.update(updated)
                self._feed_map(list(updated.values()))
        self.liveApplied.emit(changed)

    def _live_state_from_thread(self, state: str, detail: str = "") -> None:
        self._gui.post(lambda: self.status.set_live(state, detail))

    def _tick_ages(self) -> None:
        self.caseload.model.refresh_ages()
        self.incidents.tick()
        # the live feed came or went: say so, and judge staleness again (now, or as of the last data)
        live = self.services.live_state()
        if live != getattr(self, "_live_seen", live):
            self.status.set_live(live)
            self.reload()
        self._live_seen = live
