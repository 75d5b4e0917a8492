"""The officer's daily activity report: visits, contacts, check-ins, incidents handled, outbox still pending.

The day runs midnight to midnight in the report's time zone. Sealed and attached like a packet
(kind "day-report"), so a supervisor can check it with the same `workstation verify-packet`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reportlab.platypus import Flowable, Paragraph
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from local_db.models import Alert, Note, Officer, OutboxAction, Participant
from local_db.timeutil import to_db
from workstation.reports import pdf
from workstation.reports.contents import columns_of, record_of
from workstation.reports.packet_pdf import NOTE_KIND_LABEL
from workstation.reports.window import ReportWindow, utc_iso
from workstation.rules.incidents import KIND_LABEL

DAY_FORMAT = "field-workstation/day-report-manifest/1"
VISIT_KINDS = ("home_visit",)
CONTACT_KINDS = ("contact",)
CHECKIN_KINDS = ("office_checkin", "app_checkin")
#: outbox states that mean "not yet applied by the server"
PENDING_STATES = ("queued", "sending", "conflict", "rejected")


@dataclass
class DayContents:
    report_id: str
    generated_at: datetime
    window: ReportWindow
    agency: str
    officer: dict[str, Any]
    workstation_id: str
    visits: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    checkins: list[dict[str, Any]]
    other_notes: list[dict[str, Any]]
    incidents_handled: list[dict[str, Any]]
    outbox_pending: list[dict[str, Any]]
    #: participant id -> (case number, name), for the tables
    people: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        counts = ((self.visits, "visit"), (self.contacts, "contact"), (self.checkins, "check-in"),
                  (self.incidents_handled, "alert handled"), (self.outbox_pending, "action pending"))
        return ", ".join(counted(len(rows), noun) for rows, noun in counts)


def counted(n: int, noun: str) -> str:
    """`1 visit`, `2 visits`, `3 alerts handled` (the first word takes the plural)."""
    first, _, rest = noun.partition(" ")
    return f"{n} {first if n == 1 else first + 's'}{' ' + rest if rest else ''}"


def gather_day(
    session: Session, window: ReportWindow, officer_username: str, workstation_id: str, agency: str,
    *, now: datetime | None = None,
) -> DayContents:
    start, end = to_db(window.start), to_db(window.end)
    officer = session.scalar(select(Officer).where(Officer.username == officer_username)) or session.scalar(
        select(Officer).limit(1)
    )
    notes = [
        record_of(n, columns_of(Note))
        for n in session.scalars(
            select(Note).where(Note.occurred_at >= start, Note.occurred_at < end).order_by(Note.occurred_at, Note.id)
        )
    ]
    handled = [
        record_of(a, columns_of(Alert))
        for a in session.scalars(
            select(Alert)
            .where(or_(
                Alert.acknowledged_at.between(start, end), Alert.resolved_at.between(start, end),
            ))
            .order_by(Alert.opened_at, Alert.id)
        )
    ]
    pending = [
        record_of(a, ("id", "seq", "kind", "target", "participant_id", "created_at", "state", "attempts", "last_error"))
        for a in session.scalars(
            select(OutboxAction).where(OutboxAction.state.in_(PENDING_STATES)).order_by(OutboxAction.seq)
        )
    ]
    ids = {r["participant_id"] for r in (*notes, *handled, *pending) if r.get("participant_id")}
    people = {
        pid: (case, f"{last}, {first}")
        for pid, case, first, last in session.execute(
            select(Participant.id, Participant.case_number, Participant.first_name, Participant.last_name)
            .where(Participant.id.in_(ids))
        )
    }
    return DayContents(
        report_id=str(uuid.uuid4()),
        generated_at=(now or datetime.now(UTC)).astimezone(UTC),
        window=window,
        agency=agency,
        officer={"username": officer.username if officer else officer_username,
                 "display_name": officer.display_name if officer else ""},
        workstation_id=workstation_id,
        visits=[n for n in notes if n["kind"] in VISIT_KINDS],
        contacts=[n for n in notes if n["kind"] in CONTACT_KINDS],
        checkins=[n for n in notes if n["kind"] in CHECKIN_KINDS],
        other_notes=[n for n in notes if n["kind"] not in (*VISIT_KINDS, *CONTACT_KINDS, *CHECKIN_KINDS)],
        incidents_handled=handled,
        outbox_pending=pending,
        people=people,
    )


def day_manifest(c: DayContents) -> dict[str, Any]:
    return {
        "format": DAY_FORMAT,
        "report_id": c.report_id,
        "generated_at": utc_iso(c.generated_at),
        "window": c.window.as_record(),
        "agency": c.agency,
        "officer": c.officer,
        "workstation_id": c.workstation_id,
        "visits": c.visits,
        "contacts": c.contacts,
        "checkins": c.checkins,
        "other_notes": c.other_notes,
        "incidents_handled": c.incidents_handled,
        "outbox_pending": c.outbox_pending,
    }


SECTION_TITLES = {
    "visits": "1. Visits",
    "contacts": "2. Contacts",
    "checkins": "3. Check-ins",
    "notes": "4. Other notes",
    "incidents": "5. Incidents handled",
    "outbox": "6. Outbox still pending",
}


def render_day(c: DayContents, manifest: bytes, manifest_sha256: str, key_fingerprint: str) -> bytes:
    st = pdf.styles()
    win = c.window
    officer = c.officer.get("display_name") or c.officer.get("username")
    story: list[Flowable] = [
        Paragraph(f"Daily activity report: {pdf.text(officer)}, {win.start.date().isoformat()}", st.title),
        pdf.key_value_table([
            ("Agency", c.agency or "not configured on this laptop (agency_name in config.toml)"),
            ("Officer", f"{c.officer.get('display_name')} ({c.officer.get('username')})"),
            ("Workstation", c.workstation_id),
            ("Generated at", f"{win.local(c.generated_at)} ({win.zone_label})"),
            ("Day", f"{win.local(win.start)} to {win.local(win.end)} ({win.zone_label})"),
            ("Summary", c.summary),
            ("Signing key", f"Ed25519, SHA-256 fingerprint {key_fingerprint}"),
        ], st),
    ]
    story += _note_section(SECTION_TITLES["visits"], c.visits, c, st, "No home visit recorded on this laptop for this day.")
    story += _note_section(SECTION_TITLES["contacts"], c.contacts, c, st, "No contact recorded on this laptop for this day.")
    story += _note_section(SECTION_TITLES["checkins"], c.checkins, c, st, "No check-in recorded on this laptop for this day.")
    story += _note_section(SECTION_TITLES["notes"], c.other_notes, c, st, "No other note recorded on this laptop for this day.")
    story += _handled(c, st)
    story += _pending(c, st)
    info = pdf.DocumentInfo(
        title=f"Daily activity report {win.start.date().isoformat()}", author=officer or "",
        subject=f"Officer activity {win.local(win.start)} to {win.local(win.end)} ({win.zone_label})",
        packet_id=c.report_id, manifest_sha256=manifest_sha256, created=c.generated_at,
        attachment_name="manifest.json", attachment=manifest,
        attachment_description="Canonical JSON of every record in this report", id_label="Report",
    )
    return pdf.build_pdf(info, story)


def _who(c: DayContents, pid: str | None) -> str:
    case, name = c.people.get(pid or "", ("", ""))
    return f"{name} ({case})" if case else (pid or "")


def _note_section(title: str, rows: list[dict[str, Any]], c: DayContents, st: pdf.Styles, empty: str) -> list[Flowable]:
    if not rows:
        return pdf.section(title, st, [empty])
    table = [
        [c.window.local(n["occurred_at"], seconds=False)[11:], _who(c, n["participant_id"]),
         NOTE_KIND_LABEL.get(n["kind"], n["kind"]), (n.get("outcome") or "").replace("_", " "), n.get("place"),
         ("[pending] " if n.get("pending") else "") + str(n.get("text") or "")]
        for n in rows
    ]
    widths = [0.5, 1.6, 0.85, 0.75, 1.2, 2.3]
    return [*pdf.section(title, st), pdf.grid_table(["Time", "Participant", "Kind", "Outcome", "Place", "Text"], table,
                                                    [w * 72 for w in widths], wrap=st)]


def _handled(c: DayContents, st: pdf.Styles) -> list[Flowable]:
    title = SECTION_TITLES["incidents"]
    if not c.incidents_handled:
        return pdf.section(title, st, ["No alert was acknowledged or resolved this day, as far as this laptop knows."])
    rows = [
        [_who(c, a["participant_id"]), KIND_LABEL.get(a["kind"], a["kind"]), a.get("severity"),
         c.window.local(a.get("opened_at"), seconds=False), a.get("state"),
         "; ".join(x for x in (
             f"ack {c.window.local(a.get('acknowledged_at'), seconds=False)} {a.get('acknowledged_by') or ''}" if a.get("acknowledged_at") else "",
             f"resolved {c.window.local(a.get('resolved_at'), seconds=False)} {a.get('resolved_by') or ''}" if a.get("resolved_at") else "",
         ) if x)]
        for a in c.incidents_handled
    ]
    widths = [1.6, 1.0, 0.6, 1.1, 0.8, 2.1]
    return [*pdf.section(title, st), pdf.grid_table(["Participant", "Alert", "Severity", "Opened", "State", "Handled"],
                                                    rows, [w * 72 for w in widths], wrap=st)]


def _pending(c: DayContents, st: pdf.Styles) -> list[Flowable]:
    title = SECTION_TITLES["outbox"]
    if not c.outbox_pending:
        return pdf.section(title, st, ["Every action recorded on this laptop has reached the agency server."])
    rows = [
        [a["seq"], c.window.local(a["created_at"], seconds=False), a["kind"].replace("_", " "),
         _who(c, a.get("participant_id")), a["state"], a.get("last_error") or ""]
        for a in c.outbox_pending
    ]
    widths = [0.4, 1.1, 1.2, 1.7, 0.7, 2.1]
    return [*pdf.section(title, st, [f"{len(rows)} actions have not been applied by the agency server yet."]),
            pdf.grid_table(["#", "Recorded", "Action", "Participant", "State", "Last error"], rows,
                           [w * 72 for w in widths], wrap=st)]
