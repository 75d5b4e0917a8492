"""The main window's officer actions: the forms for notes, contacts, check-ins and schedule
changes, acknowledging and resolving incidents, and showing a participant's track."""

from __future__ import annotations

from datetime import datetime
from functools import reduce
from operator import or_

from PySide6.QtWidgets import QMessageBox

from ui.action_forms import (
    CheckinForm,
    ContactForm,
    NoteForm,
    ResolveForm,
    ScheduleChangeForm,
    TrackWindowForm,
)
from ui.tasks import run_task
from workstation import actions, tracks
from workstation import protocol as p
from workstation.access_audit import audit_map_view
from workstation.actions import Recorded
from workstation.incidents import Incident, resolution_problem
from workstation.local_time import local_text
from workstation.rules.schedule import time_zone


class WindowActions:
    """Mixed into MainWindow: every action an officer records goes through here to the outbox."""

    def _participant_name(self, participant_id: str) -> str:
        """"Rebecca Nelson · CHI-2026-0000007": who a form is for, as the officer can check it."""
        name = self._names.get(participant_id, participant_id)
        row = self.caseload.model.row_for_participant(participant_id)
        return f"{name} · {self.caseload.model.rows()[row].case_number}" if row is not None else name

    def _record_action(self, name: str, participant_id: str | None) -> None:
        if not participant_id:
            self.statusBar().showMessage("Select a participant first.", 4000)
            return
        who = self._participant_name(participant_id)
        record = self.record.record if self.record.record and self.record.record.id == participant_id else None
        if name == "track":
            self._show_track(participant_id, record)
            return
        zone = record.time_zone if record else self.caseload.model.time_zone(participant_id)
        if name == "track_window":
            now = self.clock()
            since = tracks.default_since(now, time_zone(zone))
            window_form = TrackWindowForm(who, self, since=since, until=now, time_zone=zone)
            window_form.accepted.connect(lambda: self._show_track(participant_id, record, *window_form.payload))
            window_form.open()
            self._open_form = window_form
            return
        if name == "note":
            form = NoteForm(who, self)
        elif name == "contact":
            form = ContactForm(who, self, place=record.address if record else "", time_zone=zone)
        elif name == "checkin":
            form = CheckinForm(who, self, place="Field office", time_zone=zone)
        else:
            appts = []
            if record:
                now = self.clock()
                appts = [(a.id, f"{local_text(a.starts_at, zone, '%a %d %b %H:%M')} {a.kind.replace('_', ' ')}")
                         for a in record.appointments if a.starts_at >= now and a.status == "scheduled"]
            form = ScheduleChangeForm(who, appts, self, time_zone=zone)
        form.setModal(True)
        form.accepted.connect(lambda: self._queue(participant_id, form.payload))
        form.open()
        self._open_form = form

    def _queue(self, target: str, payload: p.WireModel) -> None:
        store = self.store
        run_task(lambda: self.services.record(store, target, payload), self._queued, self._action_failed, owner=self)

    def _queue_each(self, targets: list[str], payload: p.WireModel) -> None:
        """One action per alert of an incident, in one worker task."""
        self._queue_all([(target, payload) for target in targets])

    def _queue_all(self, work: list[tuple[str, p.WireModel]], saved: str = "") -> None:
        """Record each (target, payload) as its own outbox action, in one worker task. One that the
        rules refuse (its incident changed meanwhile) does not stop the others; the refusals are said."""
        store = self.store

        def record_all() -> tuple[Recorded | None, list[str]]:
            done, refused = [], []
            for target, payload in work:
                try:
                    done.append(self.services.record(store, target, payload))
                except actions.ActionInvalid as exc:
                    refused.append(str(exc))
            recorded = Recorded(done[-1].action_id, reduce(or_, (r.changes for r in done))) if done else None
            return recorded, refused

        def show(result: tuple[Recorded | None, list[str]]) -> None:
            recorded, refused = result
            if recorded is not None:
                self._queued(recorded, saved)
            if refused:
                QMessageBox.warning(self, "Not every action was saved",
                                    f"{len(refused)} not saved:\n" + "\n".join(sorted(set(refused))))

        run_task(record_all, show, self._action_failed, owner=self)

    def _queued(self, recorded: Recorded, saved: str = "") -> None:
        self.statusBar().showMessage(f"{saved or 'Action saved'} — pending until the next sync.", 5000)
        self.actionQueued.emit(recorded.action_id)
        self.apply_changes(recorded.changes)
        self.services.request_push(self._pushed_from_thread)

    def _action_failed(self, exc: BaseException) -> None:
        QMessageBox.warning(self, "Action not saved", f"The action was not saved:\n{exc}")

    def resolve_selected(self) -> None:
        """Ctrl+E: resolve the one selected incident (each needs its own finding, a tamper its note)."""
        incident = self.incidents.current_incident()
        if incident is None:
            self.statusBar().showMessage("Select an incident first (Ctrl+I).", 4000)
            return
        if len(self.incidents.selected_incidents()) > 1:
            self.statusBar().showMessage("Resolve one incident at a time: select just the one to resolve.", 6000)
            return
        self.resolve_incident(incident)

    def acknowledge_incident(self, incident: Incident) -> None:
        self.acknowledge_incidents([incident])

    def acknowledge_selected(self) -> None:
        chosen = self.incidents.selected_incidents()
        if not chosen:
            self.statusBar().showMessage("Select an incident first (Ctrl+I).", 4000)
            return
        self.acknowledge_incidents(chosen)

    def acknowledge_incidents(self, incidents: list[Incident]) -> None:
        """Queue an acknowledge of each open incident: one outbox action on each server incident, one
        per open alert of local history the server holds no incident for. The rows stay where they
        are, marked acknowledged (pending until the server applies it)."""
        work: list[tuple[str, p.WireModel]] = []
        to_ack = [i for i in incidents if i.state == "open" and not i.pending]
        for incident in to_ack:
            if incident.on_server:
                work.append((incident.id, p.AcknowledgeIncidentPayload()))
            else:
                work += [(alert_id, p.AcknowledgeAlertPayload()) for alert_id in incident.open_alert_ids]
        if not work:
            self.statusBar().showMessage(
                "Already acknowledged." if len(incidents) == 1 else "None of these needs an acknowledge.", 4000)
            return
        skipped = len(incidents) - len(to_ack)
        saved = (f"{len(to_ack)} incidents acknowledged" if len(to_ack) > 1 else "Acknowledged") + (
            f" ({skipped} already were)" if skipped else "")
        self._queue_all(work, saved)

    def resolve_incident(self, incident: Incident, note: str | None = None) -> str | None:
        """Open the resolve form (or, with `note` given, resolve directly). Returns the refusal
        message when the rules forbid it (tamper without a note), None when queued/opened."""
        if note is not None:
            problem = resolution_problem(incident, note)
            if problem:
                self.statusBar().showMessage(problem, 8000)
                return problem
            self._queue_resolve(incident, p.ResolveAlertPayload(note=note))
            return None
        form = ResolveForm(self._participant_name(incident.participant_id), incident.summary,
                           incident.requires_note_to_resolve, self)
        form.accepted.connect(lambda: self._queue_resolve(incident, form.payload))
        form.open()
        self._open_form = form
        return None

    def _queue_resolve(self, incident: Incident, payload: p.ResolveAlertPayload) -> None:
        if incident.on_server:
            self._queue_each([incident.id], p.ResolveIncidentPayload(**payload.model_dump()))
        else:
            self._queue_each(list(incident.actionable_alert_ids), payload)

    def _show_track(self, participant_id: str, record, since: datetime | None = None,
                    until: datetime | None = None) -> None:
        """Fetch the participant's track for the window (default: since yesterday 18:00 in their zone)
        from the server (offline: what the store holds, said so in the status bar) and play it on the map."""
        zone = record.time_zone if record else self.caseload.model.time_zone(participant_id)
        since = since or tracks.default_since(self.clock(), time_zone(zone))
        when = local_text(since, zone, "%a %H:%M")
        alerts = [{"lat": a.lat, "lon": a.lon, "kind": a.kind, "opened_at": a.opened_at.isoformat() + "Z"}
                  for a in (record.alerts if record else ()) if a.lat is not None]
        store, mapped, session = self.store, self.map, self.services.session
        self.statusBar().showMessage("Fetching the track…", 3000)

        def fetch_and_audit() -> tracks.Track:
            got = session.track(participant_id, since, until)
            # AU-2: a participant's location history on the map is a view of its own, audited before it is shown
            audit_map_view(store, participant_id, len(got.points))
            return got

        def show(got: tracks.Track) -> None:
            if self._closing:
                return
            if mapped is not None and hasattr(mapped, "show_track"):
                mapped.show_track(got.map_positions(), alerts)
            self.statusBar().showMessage(tracks.describe(got, when), 15_000)

        def refuse(exc: BaseException) -> None:
            self.statusBar().showMessage(f"Track not shown: {exc}", 8000)

        run_task(fetch_and_audit, show, refuse, owner=self)

    def _search_refused(self, why: str) -> None:
        self.caseload.search.clear()
        QMessageBox.warning(self, "Search refused", why)
