"""Today's visits with what the route planner needs (workstation.route.plan_route)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from local_db.models import Appointment, Device, Officer, Participant, Zone
from local_db.store import Store
from workstation.route import PlannedVisit, ZoneRule
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE, effective_time_zone, participant_time_zone


def _zone_rule(z: Zone, agency_time_zone: str) -> ZoneRule:
    return ZoneRule(z.name, z.kind, z.center_lat, z.center_lon, tuple(z.schedule or ()),
                    effective_time_zone(z.time_zone, agency_time_zone))


def load_todays_visits(
    store: Store, day_start_utc: datetime, day_end_utc: datetime, agency_time_zone: str = DEFAULT_AGENCY_TIME_ZONE
) -> tuple[list[PlannedVisit], tuple[float, float] | None]:
    """Today's scheduled appointments the officer attends (home visits; court hearings to attend
    too), with the participant's device and schedule; plus the officer's office as route start."""
    with store.read_session() as s:
        appts = s.scalars(
            select(Appointment).where(
                Appointment.starts_at >= day_start_utc,
                Appointment.starts_at < day_end_utc,
                Appointment.status == "scheduled",
                Appointment.kind.in_(("home_visit", "court_hearing", "office_checkin")),
            ).order_by(Appointment.starts_at)
        ).all()
        pids = {a.participant_id for a in appts}
        people = {p.id: p for p in s.scalars(select(Participant).where(Participant.id.in_(pids)))} if pids else {}
        devices: dict[str, Device] = {}
        for d in s.scalars(select(Device).where(Device.participant_id.in_(pids))) if pids else ():
            best = devices.get(d.participant_id)
            if best is None or (d.last_fix_time or datetime.min) > (best.last_fix_time or datetime.min):
                devices[d.participant_id] = d
        zones: dict[str, list[ZoneRule]] = {}
        for z in s.scalars(select(Zone).where(Zone.participant_id.in_(pids))) if pids else ():
            zones.setdefault(z.participant_id, []).append(_zone_rule(z, agency_time_zone))
        officer = s.scalars(select(Officer)).first()
        start = ((officer.office_lat, officer.office_lon)
                 if officer and officer.office_lat is not None and officer.office_lon is not None else None)
        visits: list[PlannedVisit] = []
        for a in appts:
            p = people.get(a.participant_id)
            if p is None:
                continue
            device = devices.get(a.participant_id)
            lat = a.lat if a.lat is not None else p.home_lat
            lon = a.lon if a.lon is not None else p.home_lon
            visits.append(
                PlannedVisit(
                    participant_id=p.id, name=f"{p.first_name} {p.last_name}", case_number=p.case_number,
                    starts_at=a.starts_at, kind=a.kind, place=a.place or p.address, lat=lat, lon=lon,
                    home_lat=p.home_lat, home_lon=p.home_lon,
                    device_lat=device.last_lat if device else None, device_lon=device.last_lon if device else None,
                    fix_time=device.last_fix_time if device else None, zones=tuple(zones.get(p.id, ())),
                    time_zone=participant_time_zone((z.time_zone for z in zones.get(p.id, ())), agency_time_zone),
                )
            )
    return visits, start


