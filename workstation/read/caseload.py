"""The caseload as the officer's screens show it: rows, incidents, open-incident counts, names and
map markers, read in one snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from local_db import audit as audit_log
from local_db.models import Alert, Officer, OutboxAction, SyncState, Zone
from local_db.models import Incident as IncidentRow
from local_db.queries import CaseloadRow, caseload_rows
from local_db.store import Store
from local_db.timeutil import utc_now
from workstation.access_audit import search_target
from workstation.incidents import AlertFact, Incident, ServerIncidentFact, build_incidents
from workstation.local_time import agency_day
from workstation.read.rules import display_name, is_stale, marker_state, stale_reference
from workstation.read.search import search_rows, search_text
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE, participant_time_zone
from workstation.sync import outbox

__all__ = ["CaseloadRow", "CaseloadSnapshot", "alert_fact", "device_marker", "load_caseload",
           "list_caseload"]

#: Resolved alerts stay visible (greyed) this long, so "what happened today" stays reachable.
RESOLVED_KEEP = timedelta(hours=24)


def alert_fact(a: Alert, conflict: str = "") -> AlertFact:
    return AlertFact(
        id=a.id, participant_id=a.participant_id, device_id=a.device_id, kind=a.kind, severity=a.severity,
        opened_at=a.opened_at, state=a.state, detail=a.detail, pending=a.pending, incident_id=a.incident_id,
        lat=a.lat, lon=a.lon, conflict=conflict,
    )


@dataclass(frozen=True)
class CaseloadSnapshot:
    rows: list[CaseloadRow]
    incidents: list[Incident]
    open_incidents: dict[str, int]
    names: dict[str, str]
    raw_alerts: int
    officer_name: str
    pending_actions: int
    #: outbox actions in conflict or rejected (waiting for the officer)
    outbox_problems: int
    last_sync_at: datetime | None
    #: device id -> map marker dict
    markers: dict[str, dict[str, Any]]
    #: rows that differ from the previous snapshot (None: participants added/removed/reordered)
    changed_rows: list[int] | None
    #: markers that differ from the previous snapshot (None: no previous snapshot)
    changed_markers: list[dict[str, Any]] | None
    #: read without the live feed: when the data last came from the server (None: live, or never synced)
    data_as_of: datetime | None = None
    #: participant id -> the IANA time zone their times are shown in (rules.schedule.participant_time_zone)
    time_zones: dict[str, str] = field(default_factory=dict)
    #: participant id -> case number (two participants may share a name: the queue shows both)
    case_numbers: dict[str, str] = field(default_factory=dict)
    #: search texts (read.search.search_text) of every row when the rows replace the shown ones whole
    #: (changed_rows None), else of the changed rows, in the order of changed_rows
    search_texts: list[str] = field(default_factory=list)


def server_incident_fact(i: IncidentRow) -> ServerIncidentFact:
    return ServerIncidentFact(
        id=i.id, state=i.state, severity=i.severity, needs_action=i.needs_action, due_at=i.due_at,
        acknowledged_by=i.acknowledged_by, resolved_by=i.resolved_by, resolved_at=i.resolved_at,
        resolution=i.resolution or "", pending=i.pending, family=i.family,
    )


def load_server_incidents(session: Session, closed_since: datetime) -> dict[str, ServerIncidentFact]:
    """The server's incident records still open, or closed since `closed_since`."""
    rows = session.scalars(select(IncidentRow).where(
        or_(IncidentRow.state.in_(("open", "acknowledged")), IncidentRow.resolved_at >= closed_since)
    ))
    return {i.id: server_incident_fact(i) for i in rows}


def device_marker(r: CaseloadRow, has_incident: bool, now: datetime) -> dict[str, Any]:
    """The map's device dict for one caseload row (maps.view.MapView.set_devices format)."""
    return {
        "device_id": r.device_id, "participant_id": r.participant_id, "label": display_name(r),
        "lat": r.last_lat, "lon": r.last_lon,
        "fix_time": r.last_fix_time.isoformat() + "Z" if r.last_fix_time else None,
        "accuracy_m": r.last_accuracy_m, "state": marker_state(r, has_incident, now),
        "stale": r.last_fix_time is not None and is_stale(r, now),
    }


def load_caseload(
    store: Store,
    now: datetime | None = None,
    previous: CaseloadSnapshot | None = None,
    live: bool = True,
    agency_time_zone: str = DEFAULT_AGENCY_TIME_ZONE,
) -> CaseloadSnapshot:
    """Read the caseload and derive everything the window shows from it. With `previous` (the
    snapshot on screen), also work out here, off the GUI thread, which rows and which map markers
    changed, so applying the new snapshot costs the GUI thread only the changed cells. Without the
    live feed (`live` False) staleness is judged as of the last data from the server (rules.stale_reference)."""
    now = now or utc_now()
    # the queue's "Auto-resolved today" needs the whole agency day, 25 hours long at a DST change
    closed_since = min(now - RESOLVED_KEEP, agency_day(now, agency_time_zone)[0])
    with store.read_session() as session:
        rows = caseload_rows(session, now=now)
        alerts = session.scalars(
            select(Alert).where(or_(Alert.state != "resolved", Alert.resolved_at >= closed_since))
        ).all()
        zone_tzs: dict[str, list[str | None]] = {}
        for participant_id, tz in session.execute(select(Zone.participant_id, Zone.time_zone)):
            zone_tzs.setdefault(participant_id, []).append(tz)

        def time_zone_of(participant_id: str | None) -> str:
            return participant_time_zone(zone_tzs.get(participant_id or "", ()), agency_time_zone)

        conflicts = outbox.alert_conflicts(session, time_zone_of)
        facts = [alert_fact(a, conflicts.get(a.id, "")) for a in alerts]
        server_incidents = load_server_incidents(session, closed_since)
        pending = session.scalar(
            select(func.count()).select_from(OutboxAction).where(OutboxAction.state.in_(("queued", "sending")))
        )
        problems = session.scalar(
            select(func.count()).select_from(OutboxAction).where(OutboxAction.state.in_(("conflict", "rejected")))
        )
        state = session.scalars(select(SyncState).order_by(SyncState.id.desc())).first()
        last_pull = state.last_pull_at if state else None
        heard = [t for t in (last_pull, state.last_contact_at if state else None) if t is not None]
        data_as_of = None if live or not heard else max(heard)
        officer = session.scalars(select(Officer)).first()
        officer_name = officer.display_name if officer else ""
    risk = {r.participant_id: r.risk_level for r in rows}
    incidents = build_incidents(facts, risk, server_incidents, now)
    counts: dict[str, int] = {}  # the caseload's Incidents column: what needs the officer
    for incident in incidents:
        if incident.needs_officer:
            for participant_id in incident.waiting_participant_ids or (incident.participant_id,):
                counts[participant_id] = counts.get(participant_id, 0) + 1
    names = {r.participant_id: f"{r.first_name} {r.last_name}" for r in rows}
    judged_at = stale_reference(now, data_as_of)
    markers = {r.device_id: device_marker(r, bool(counts.get(r.participant_id)), judged_at)
               for r in rows if r.device_id}
    changed_rows: list[int] | None = None
    changed_markers: list[dict[str, Any]] | None = None
    if previous is not None:
        old_rows = previous.rows
        if len(old_rows) == len(rows) and all(
            a.participant_id == b.participant_id for a, b in zip(old_rows, rows, strict=True)
        ):
            changed_rows = [i for i, (a, b) in enumerate(zip(old_rows, rows, strict=True)) if a != b]
        old_markers = previous.markers
        changed_markers = [m for key, m in markers.items() if old_markers.get(key) != m]
    return CaseloadSnapshot(
        markers=markers,
        changed_rows=changed_rows,
        changed_markers=changed_markers,
        rows=rows,
        incidents=incidents,
        open_incidents=counts,
        names=names,
        raw_alerts=len(facts),
        officer_name=officer_name,
        pending_actions=int(pending or 0),
        outbox_problems=int(problems or 0),
        last_sync_at=last_pull,
        data_as_of=data_as_of,
        time_zones={r.participant_id: time_zone_of(r.participant_id) for r in rows},
        case_numbers={r.participant_id: r.case_number for r in rows},
        search_texts=[search_text(r) for r in rows] if changed_rows is None else
                     [search_text(rows[i]) for i in changed_rows],
    )


def list_caseload(store: Store, search: str | None = None, limit: int | None = None) -> list[CaseloadRow]:
    """The caseload sorted by name, optionally searched as the window searches (workstation.read.search).

    AU-2: a whole-caseload listing and a search are both accesses to participant data; each is
    audited first, and nothing is read if the audit row cannot be written (AccessRefused)."""
    def read() -> list[CaseloadRow]:
        with store.read_session() as db:
            rows = caseload_rows(db, now=utc_now())
        rows = search_rows(rows, search) if search else rows
        return rows if limit is None else rows[: max(0, limit)]

    event, target = ("search", search_target(search)) if search else ("view_participant", "caseload")
    return audit_log.audited_access(store, event, target, read, detail="cli caseload")
