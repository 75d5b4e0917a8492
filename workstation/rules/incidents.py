"""The incident definition: what an alert is worth, which alerts make one incident, when an
incident clears by itself, when it needs an officer, and by when.

The server groups alerts into incident records with these rules and the workstation shows,
ranks and acts on them with the same ones; nothing else in the code base may define them
(tests/workstation/test_rules_single_home.py fails on a second copy).

Alert overload is the complaint officers voice most: one flat battery produces "low battery", then
"no communication", then "no GPS"; a participant pacing a zone edge produces a dozen "zone exit"
alerts in ten minutes. So alerts of one device chain into one incident when each follows the
previous within a family-specific gap, and a tamper is never folded into a battery story because
its resolution rules differ.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

LOW_BATTERY_PCT, CRITICAL_BATTERY_PCT = 20, 5

#: Alert kind -> severity, set by the server when it raises the alert.
ALERT_SEVERITY: Mapping[str, str] = {
    "strap_tamper": "critical",
    "device_removed": "critical",
    "sos": "critical",
    "mock_location": "critical",
    "battery_critical": "high",
    "low_battery": "low",
    "charging": "info",
    "no_gps": "medium",
    "no_communication": "high",
    "zone_exit": "high",
    "zone_entry": "high",
    "curfew_violation": "high",
    "missed_checkin": "medium",
}
SEVERITY_RANK: Mapping[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
RISK_RANK: Mapping[str, int] = {"low": 0, "medium": 1, "high": 2}

#: Alert kinds whose resolution requires a note (a tamper-class incident is never closed silently). A
#: phone app reporting a mock location is circumvention: tamper class.
TAMPER_CLASS_ALERTS: frozenset[str] = frozenset({"strap_tamper", "device_removed", "mock_location"})
NOTE_REQUIRED_MESSAGE = "A tamper incident cannot be resolved without a note saying what was found."

#: Alert kind -> family. Alerts of one device chain only within a family.
FAMILY_OF_KIND: Mapping[str, str] = {
    "strap_tamper": "tamper",
    "device_removed": "tamper",
    "low_battery": "device_health",
    "battery_critical": "device_health",
    "charging": "device_health",
    "no_communication": "device_health",
    "no_gps": "device_health",
    "zone_exit": "location",
    "zone_entry": "location",
    "curfew_violation": "location",
    "mock_location": "tamper",
    "missed_checkin": "checkin",
    "sos": "sos",
}

#: Largest gap between consecutive alerts of one chain. A dying battery takes hours to turn into
#: "no communication"; repeated zone exits belong together only within minutes.
FAMILY_GAP: Mapping[str, timedelta] = {
    "tamper": timedelta(hours=2),
    "device_health": timedelta(hours=6),
    "location": timedelta(minutes=30),
    "checkin": timedelta(hours=1),
    "sos": timedelta(minutes=30),
    "outage": timedelta(minutes=30),
}
DEFAULT_GAP = timedelta(hours=1)

FAMILY_TITLE: Mapping[str, str] = {
    "tamper": "Device tamper",
    "device_health": "Device power / signal",
    "location": "Location rule violation",
    "checkin": "Missed check-in",
    "sos": "SOS",
    "outage": "Outage: devices silent",
}

KIND_LABEL: Mapping[str, str] = {
    "strap_tamper": "Strap tamper",
    "device_removed": "Device removed",
    "low_battery": "Low battery",
    "battery_critical": "Battery critical",
    "charging": "Charging",
    "no_gps": "No GPS",
    "no_communication": "No communication",
    "zone_exit": "Zone exit",
    "zone_entry": "Zone entry",
    "curfew_violation": "Curfew violation",
    "missed_checkin": "Missed check-in",
    "mock_location": "Mock location",
    "sos": "SOS",
}

#: Kinds an officer must always resolve (with a note where TAMPER_CLASS_ALERTS says so): they stay
#: in the queue whatever the device reports afterwards.
NEVER_AUTO_RESOLVED: frozenset[str] = frozenset({
    "strap_tamper", "device_removed", "zone_entry", "curfew_violation", "mock_location", "sos", "missed_checkin",
})

#: Kind -> the condition whose return clears it, as recorded in the incident's resolution reason.
CLEARED_WHEN: Mapping[str, str] = {
    "low_battery": "battery back above the threshold or charging",
    "battery_critical": "battery back above the threshold or charging",
    "charging": "battery back above the threshold or charging",
    "no_communication": "contact restored",
    "no_gps": "GPS restored",
    "zone_exit": "back inside the inclusion zone",
}

#: How long a self-clearing alert may stay uncleared before it needs an officer: most charging
#: lapses, indoor GPS losses and coverage gaps end within these (docs/rules.md, "A realistic day", gives the sources).
NEEDS_ACTION_AFTER: Mapping[str, timedelta] = {
    "low_battery": timedelta(hours=2),
    "battery_critical": timedelta(minutes=30),
    "charging": timedelta(hours=24),
    "no_gps": timedelta(hours=2),
    "no_communication": timedelta(minutes=30),
    "zone_exit": timedelta(minutes=10),
}

#: Response deadline per severity, counted from when the incident first needed an officer
#: (agency-configurable: the server's --response-times).
DEFAULT_RESPONSE_TIME: Mapping[str, timedelta] = {
    "critical": timedelta(minutes=15),
    "high": timedelta(hours=1),
    "medium": timedelta(hours=4),
    "low": timedelta(hours=24),
    "info": timedelta(hours=72),
}

def parse_response_times(text: str) -> dict[str, timedelta]:
    """"critical=15m,high=1h,low=2d" -> the response times with those severities replaced (agency
    configuration); ValueError on anything else."""
    units = {"m": 60, "h": 3600, "d": 86400}
    times = dict(DEFAULT_RESPONSE_TIME)
    for part in filter(None, (p.strip() for p in text.split(","))):
        severity, _, amount = part.partition("=")
        severity, amount = severity.strip(), amount.strip()
        if severity not in DEFAULT_RESPONSE_TIME or len(amount) < 2 or amount[-1] not in units or not amount[:-1].isdigit():
            raise ValueError(f"{part!r}: expected SEVERITY=N(m|h|d), SEVERITY one of {', '.join(DEFAULT_RESPONSE_TIME)}")
        seconds = int(amount[:-1]) * units[amount[-1]]
        if not 0 < seconds <= 30 * 86400:
            raise ValueError(f"{part!r}: a response time is between 1 minute and 30 days")
        times[severity] = timedelta(seconds=seconds)
    return times


#: An outage: at least OUTAGE_MIN_DEVICES devices of one vendor gateway, or of one area, going silent
#: ("no_communication") within OUTAGE_WINDOW. Their silence is one incident naming the devices (family
#: OUTAGE_FAMILY), not one High row per device: a vendor's or a cell network's failure is one thing for
#: an officer to know about. A device whose silence ends a battery story keeps it there (its own
#: incident explains it better). Why five in fifteen minutes: docs/rules.md, "Outages".
OUTAGE_FAMILY = "outage"
OUTAGE_KIND = "no_communication"
OUTAGE_MIN_DEVICES = 5
OUTAGE_WINDOW = timedelta(minutes=15)
#: The area of a device is the cell of this many degrees of latitude and longitude holding its last
#: position (about 2.2 km north-south and 1.7 km east-west at Chicago's latitude: an urban cell site's reach).
OUTAGE_AREA_DEG = 0.02


def outage_groups(gateway: str | None, lat: float | None, lon: float | None) -> tuple[str, ...]:
    """The groups whose outage a device's silence may belong to, vendor first: "gateway:NAME" (the
    vendor gateway that reports for it) and "area:LAT:LON" (the cell of its last known position)."""
    groups = []
    if gateway:
        groups.append(f"gateway:{gateway}")
    if lat is not None and lon is not None:
        groups.append(f"area:{math.floor(lat / OUTAGE_AREA_DEG)}:{math.floor(lon / OUTAGE_AREA_DEG)}")
    return tuple(groups)


def is_outage(silent_devices: int) -> bool:
    """Whether this many devices of one group falling silent within OUTAGE_WINDOW is an outage."""
    return silent_devices >= OUTAGE_MIN_DEVICES


def assign_outages(
    silent: Mapping[str, Sequence[str]], in_outages: Mapping[str, int] | None = None
) -> dict[str, str]:
    """Which outage each newly silent device is part of: `silent` maps a device to its groups
    (outage_groups), `in_outages` counts the silences of the window already in an outage, per group.
    The group explaining the most silences goes first and takes all of them (a cell site down silences
    every vendor's devices around it; a vendor's gateway down silences its devices everywhere), then
    the next, while one still reaches the threshold. A device not returned is in no outage."""
    counted = dict(in_outages or {})
    left = {device: list(groups) for device, groups in silent.items()}
    chosen: dict[str, str] = {}
    while left:
        counts = dict(counted)
        for groups in left.values():
            for group in groups:
                counts[group] = counts.get(group, 0) + 1
        candidates = {g for groups in left.values() for g in groups if is_outage(counts[g])}
        if not candidates:
            break
        best = max(sorted(candidates), key=lambda g: counts[g])
        for device in [d for d, groups in left.items() if best in groups]:
            chosen[device] = best
            del left[device]
        counted[best] = counts[best]
    return chosen


def outage_label(group: str) -> str:
    """"gateway:acme" -> "vendor gateway acme"; "area:2094:-4390" -> "area near 41.88, -87.80"."""
    kind, _, rest = group.partition(":")
    if kind == "gateway":
        return f"vendor gateway {rest}"
    lat_cell, _, lon_cell = rest.partition(":")
    try:
        return f"area near {int(lat_cell) * OUTAGE_AREA_DEG:.2f}, {int(lon_cell) * OUTAGE_AREA_DEG:.2f}"
    except ValueError:
        return group


INCIDENT_STATES = ("open", "acknowledged", "resolved", "auto_resolved")
CLOSED_STATES: frozenset[str] = frozenset({"resolved", "auto_resolved"})


def severity_of(kind: str) -> str:
    return ALERT_SEVERITY.get(kind, "medium")


def battery_low(battery_pct: int | None, charging: bool) -> bool:
    """At or below the low-battery threshold and not charging: the state a low_battery alert reports
    and the caseload marks."""
    return battery_pct is not None and battery_pct <= LOW_BATTERY_PCT and not charging


def family_of(kind: str) -> str:
    return FAMILY_OF_KIND.get(kind, kind)


def max_severity(severities: Iterable[str]) -> str:
    return max(severities, key=lambda s: SEVERITY_RANK.get(s, 0), default="info")


def chains_into(family: str, last_alert_at: datetime, alert_at: datetime) -> bool:
    """Whether an alert of `family` at `alert_at` joins an unresolved incident of the same
    participant, device and family whose last alert was at `last_alert_at`."""
    return alert_at - last_alert_at <= FAMILY_GAP.get(family, DEFAULT_GAP)


def auto_resolvable(kinds: Iterable[str]) -> bool:
    """An incident clears by itself only when every alert in it is of a self-clearing kind."""
    kinds = list(kinds)
    return bool(kinds) and all(k in CLEARED_WHEN and k not in NEVER_AUTO_RESOLVED for k in kinds)


def needs_action_from(kind: str, opened_at: datetime) -> datetime:
    """When an alert of this kind, raised at `opened_at` and not cleared, starts needing an officer."""
    if kind in NEVER_AUTO_RESOLVED or kind not in NEEDS_ACTION_AFTER:
        return opened_at
    return opened_at + NEEDS_ACTION_AFTER[kind]


def escalation_time(alerts: Iterable[tuple[str, datetime]], active: Collection[str]) -> datetime | None:
    """When an open incident with these alerts ((kind, opened_at) pairs) needs an officer, now that its
    device's conditions are `active` (active_conditions): a kind that never clears by itself counts from its
    first alert; a self-clearing kind counts only while its condition lasts, from its latest alert (alerts
    are raised when a condition starts, so that is when the current episode began). A battery charged
    within the hour does not make a later GPS loss in the same incident need an officer at the battery's
    deadline. None when nothing left in the incident can."""
    first: dict[str, datetime] = {}
    latest: dict[str, datetime] = {}
    for kind, opened_at in alerts:
        first[kind] = min(first.get(kind, opened_at), opened_at)
        latest[kind] = max(latest.get(kind, opened_at), opened_at)
    times = [
        needs_action_from(kind, latest[kind]) if auto_resolvable((kind,)) else needs_action_from(kind, first[kind])
        for kind in first
        if kind in active or not auto_resolvable((kind,))
    ]
    return min(times, default=None)


def due_at(
    needs_action_since: datetime, severity: str, response_times: Mapping[str, timedelta] | None = None
) -> datetime:
    times = response_times or DEFAULT_RESPONSE_TIME
    return needs_action_since + times.get(severity, DEFAULT_RESPONSE_TIME.get(severity, timedelta(hours=4)))


def active_conditions(
    battery_pct: int | None, charging: bool, silent: bool, gps_lost: bool, outside_inclusion_zone: bool
) -> frozenset[str]:
    """The self-clearing alert kinds whose condition a device's current state still shows."""
    active = set()
    if battery_low(battery_pct, charging):
        active.add("low_battery")
        active.add("charging")
        if battery_pct is not None and battery_pct <= CRITICAL_BATTERY_PCT:
            active.add("battery_critical")
    if silent:
        active.add("no_communication")
    if gps_lost:
        active.add("no_gps")
    if outside_inclusion_zone:
        active.add("zone_exit")
    return frozenset(active)


def clearing_reason(kinds: Iterable[str]) -> str:
    """The words recorded when an incident of these kinds clears by itself."""
    reasons: list[str] = []
    for kind in kinds:
        reason = CLEARED_WHEN.get(kind)
        if reason and reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons)


def already_resolved_message(resolved_by: str | None, resolved_at: datetime | None, note_added: bool) -> str:
    """What an officer's acknowledge/resolve of an incident closed meanwhile ends as."""
    who = resolved_by or "the monitoring centre"
    when = f" at {resolved_at:%Y-%m-%d %H:%M} UTC" if resolved_at is not None else ""
    tail = "your note was added" if note_added else "nothing else was changed"
    return f"already resolved by {who}{when}; {tail}"


def requires_note(kinds: Iterable[str]) -> bool:
    return any(k in TAMPER_CLASS_ALERTS for k in kinds)


def note_problem(kinds: Iterable[str], note: str) -> str | None:
    """The tamper-needs-a-note rule: why resolving alerts of these kinds with this note is refused."""
    if requires_note(kinds) and not (note or "").strip():
        return NOTE_REQUIRED_MESSAGE
    return None
