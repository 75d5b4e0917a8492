"""The selected participant's record: who, where, what device, which rules, what happened.

Rendered from one ParticipantRecord snapshot (workstation.read.record.load_participant) as rich text in a
read-only, keyboard-scrollable browser: legal-status flags and court hearings are made
prominent on purpose (officers must not miss a stay of removal or a hearing date); every
position says how old it is; notes queued offline say "pending".
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from ui import theme
from ui.outbox_view import pending_phrase
from workstation.clock import utc_now
from workstation.incidents import KIND_LABEL
from workstation.local_time import local_text
from workstation.read.record import ParticipantRecord
from workstation.read.rules import fix_is_stale, strap_is_problem, strap_label
from workstation.route import format_age

LEGAL_LABEL = {
    "stay_of_removal": "STAY OF REMOVAL",
    "asylum_pending": "ASYLUM PENDING",
    "final_order": "FINAL ORDER",
    "court_date_pending": "COURT DATE PENDING",
    "work_permit": "WORK PERMIT",
}
LANGUAGE_LABEL = {"en": "English", "es": "Spanish", "pl": "Polish", "zh": "Chinese", "ar": "Arabic", "fr": "French",
                  "ru": "Russian", "vi": "Vietnamese", "ht": "Haitian Creole", "pt": "Portuguese", "tl": "Tagalog"}
NOTE_KIND_LABEL = {"note": "Note", "contact": "Contact", "home_visit": "Home visit", "office_checkin": "Office check-in",
                   "app_checkin": "App check-in", "schedule_request": "Schedule change request"}
DAY = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _days(days: list[int]) -> str:
    days = sorted(days)
    if days == [1, 2, 3, 4, 5, 6, 7]:
        return "daily"
    if days == [1, 2, 3, 4, 5]:
        return "Mon–Fri"
    return ", ".join(DAY.get(d, str(d)) for d in days)


def _ago(age) -> str:
    words = format_age(age)
    return "just now" if words == "now" else f"{words} ago"


def render_record(rec: ParticipantRecord, now: datetime) -> str:
    """The record as HTML (pure function of the snapshot and the clock; tested directly)."""
    s = theme.semantic()
    out: list[str] = []
    age = ""
    if rec.dob:
        age = f" · {(now.date() - rec.dob).days // 365} y"
    out.append(f"<h2 style='margin:0'>{_e(rec.last_name)}, {_e(rec.first_name)}</h2>")
    out.append(
        f"<div>Case <b>{_e(rec.case_number)}</b> · {_e(rec.program or 'Supervision')} · "
        f"<span style='color:{getattr(s, theme.RISK_COLOUR_KEY.get(rec.risk_level, 'muted'))}'>"
        f"<b>{_e(rec.risk_level.capitalize())} risk</b></span></div>"
    )
    flags = [f for f in rec.legal_flags if f != "none"]
    if flags:
        badges = " ".join(
            f"<span style='color:{s.danger}; font-weight:bold'>&#9888; {_e(LEGAL_LABEL.get(f, f.upper()))}</span>"
            for f in flags
        )
        out.append(f"<p style='margin-top:6px'>{badges}</p>")
    out.append("<table cellspacing='0' cellpadding='2'>")
    rows = [
        ("Born", f"{rec.dob:%d %b %Y}{age}" if rec.dob else "—"),
        ("Address", rec.address or "—"),
        ("Phone", rec.phone or "—"),
        ("Language", LANGUAGE_LABEL.get(rec.language, rec.language)),
        ("Supervision", f"{rec.supervision_start or '—'} → {rec.supervision_end or 'open-ended'}"),
    ]
    for label, value in rows:
        out.append(f"<tr><td style='color:{s.muted}; padding-right:12px'>{label}</td><td>{_e(value)}</td></tr>")
    out.append("</table>")

    out.append("<h3>Device</h3>")
    if not rec.devices:
        out.append(f"<p style='color:{s.danger}'>No device assigned.</p>")
    for d in rec.devices:
        battery = "—" if d.battery_pct is None else f"{d.battery_pct}%" + (" (charging)" if d.charging else "")
        if d.last_fix_time:
            fix_age = format_age(now - d.last_fix_time)
            stale = fix_is_stale(d.last_fix_time, now)
            colour = s.danger if stale else s.ok
            when = "just now" if fix_age == "now" else f"{fix_age} ago"
            fix = (f"<span style='color:{colour}'>{when}{' — STALE' if stale else ''}</span> "
                   f"({_e(d.last_source or 'gps')}, ±{d.last_accuracy_m or 0:.0f} m)")
        else:
            fix = f"<span style='color:{s.danger}'>no fix received</span>"
        strap_colour = s.danger if strap_is_problem(d.strap) else s.ok
        contact = _ago(now - d.last_contact_at) if d.last_contact_at else "never"
        out.append(
            f"<div><b>{_e(d.kind.replace('_', ' ').title())}</b> #{_e(d.serial)} · battery {_e(battery)} · "
            f"strap <span style='color:{strap_colour}'>{_e(strap_label(d.strap))}</span><br>"
            f"Last fix {fix} · last contact {_e(contact)}</div>"
        )

    out.append(_provenance_html(rec.provenance, rec.time_zone, s))

    out.append("<h3>Zones and schedule</h3>")
    if not rec.zones:
        out.append(f"<p style='color:{s.muted}'>No zones.</p>")
    for z in rec.zones:
        kind_colour = s.ok if z.kind == "inclusion" else s.danger
        size = f"{z.radius_m:.0f} m radius" if z.radius_m else z.shape
        when = "; ".join(f"{_days(w.get('days', []))} {w.get('start')}–{w.get('end')}" for w in z.schedule) or "always"
        out.append(
            f"<div><span style='color:{kind_colour}'>{_e(z.kind.capitalize())}</span> <b>{_e(z.name)}</b> "
            f"· {_e(size)} · {_e(when)}</div>"
        )

    tz = rec.time_zone  # every time below is the participant's local time, labelled where the laptop differs
    out.append("<h3>Appointments</h3>")
    upcoming = [a for a in rec.appointments if a.starts_at >= now and a.status == "scheduled"]
    past = [a for a in rec.appointments if a not in upcoming][-3:]
    if not rec.appointments:
        out.append(f"<p style='color:{s.muted}'>None scheduled.</p>")
    for a in upcoming + past:
        label = a.kind.replace("_", " ").capitalize()
        line = f"{local_text(a.starts_at, tz, '%a %d %b %H:%M')} · {_e(label)} · {_e(a.place)} · {_e(a.status)}"
        if a.kind == "court_hearing" and a in upcoming:
            out.append(f"<div style='color:{s.accent}'><b>&#9878; {line}</b></div>")
        elif a in upcoming:
            out.append(f"<div>{line}</div>")
        else:
            out.append(f"<div style='color:{s.muted}'>{line}</div>")

    out.append("<h3>Alert history</h3>")
    if not rec.alerts:
        out.append(f"<p style='color:{s.muted}'>No alerts.</p>")
    for a in rec.alerts[:30]:
        colour = getattr(s, theme.SEVERITY_COLOUR_KEY.get(a.severity, "muted")) if a.state == "open" else s.muted
        pending = (f" <i style='color:{s.pending}'>(pending — {_e(pending_phrase(rec.outbox_states.get(a.id)))})</i>"
                   if a.pending else "")
        out.append(
            f"<div><span style='color:{colour}'>{local_text(a.opened_at, tz, '%d %b %H:%M')}</span> "
            f"{_e(KIND_LABEL.get(a.kind, a.kind))} · {_e(a.severity)} · {_e(a.state)}{pending}"
            f"{' · ' + _e(a.detail) if a.detail else ''}</div>"
        )

    out.append("<h3>Notes and contacts</h3>")
    if not rec.notes:
        out.append(f"<p style='color:{s.muted}'>No notes yet.</p>")
    for n in rec.notes[:50]:
        state = (f" <b style='color:{s.pending}'>PENDING — {_e(pending_phrase(rec.outbox_states.get(n.id)))}</b>"
                 if n.pending else "")
        outcome = f" · {_e(n.outcome.replace('_', ' '))}" if n.outcome else ""
        place = f" · {_e(n.place)}" if n.place else ""
        out.append(
            f"<div style='margin-bottom:4px'><span style='color:{s.muted}'>"
            f"{local_text(n.occurred_at, tz, '%d %b %Y %H:%M')}</span> "
            f"<b>{_e(NOTE_KIND_LABEL.get(n.kind, n.kind))}</b>{outcome}{place} — {_e(n.author)}{state}"
            f"<br>{_e(n.text)}</div>"
        )
    return "".join(out)


class ParticipantView(QWidget):
    """Record + the action buttons for the shown participant."""

    actionRequested = Signal(str, str)  # (action name, participant id)

    ACTIONS = (
        ("note", "Note…", "Add note", "Ctrl+N"),
        ("contact", "Contact / visit…", "Record contact or home visit", "Ctrl+Shift+V"),
        ("checkin", "Check-in…", "Record office check-in", "Ctrl+Shift+I"),
        ("schedule", "Schedule…", "Request schedule change", "Ctrl+Shift+S"),
        ("track", "Track", "Show recent track on the map", "Ctrl+T"),
    )

    def __init__(self, parent=None, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(parent)
        self.clock = clock
        self.record: ParticipantRecord | None = None
        self.photo = QLabel(self)
        self.photo.setFixedSize(72, 88)
        self.photo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.photo.setAccessibleName("Participant photo")
        self.photo.setAutoFillBackground(True)
        self.photo.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.browser = QTextBrowser(self)
        self.browser.setAccessibleName("Participant record")
        self.browser.setOpenLinks(False)
        self.browser.setHtml("<p>Select a participant in the caseload (Ctrl+0 goes to the caseload).</p>")
        self.buttons: dict[str, QPushButton] = {}
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for name, text, what, key in self.ACTIONS:
            button = QPushButton(text, self)
            button.setAccessibleName(what)
            button.setToolTip(f"{what} ({key})")
            button.setEnabled(False)
            button.clicked.connect(lambda _=False, n=name: self._request(n))
            self.buttons[name] = button
            bar.addWidget(button)
        bar.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.photo, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.browser, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addLayout(top, 1)

    def _request(self, name: str) -> None:
        if self.record is not None:
            self.actionRequested.emit(name, self.record.id)

    def show_record(self, record: ParticipantRecord | None) -> None:
        self.record = record
        for button in self.buttons.values():
            button.setEnabled(record is not None)
        if record is None:
            self.browser.setHtml("<p>This participant is no longer on your caseload.</p>")
            self.photo.clear()
            return
        scroll = self.browser.verticalScrollBar().value()
        same = self.browser.property("participant_id") == record.id
        self.browser.setHtml(render_record(record, self.clock()))
        self.browser.setProperty("participant_id", record.id)
        if same:
            self.browser.verticalScrollBar().setValue(scroll)
        initials = (record.first_name[:1] + record.last_name[:1]).upper()
        if record.photo:
            from PySide6.QtGui import QPixmap

            pix = QPixmap()
            if pix.loadFromData(record.photo):
                self.photo.setPixmap(pix.scaled(self.photo.size(), Qt.AspectRatioMode.KeepAspectRatio))
                return
        self.photo.setText(f"<span style='font-size:22pt'>{html.escape(initials)}</span><br><small>no photo</small>")


#: position flags in words (workstation.protocol.PositionFlag)
FLAG_WORDS = {
    "late": "late (sent after a newer fix)", "invalid": "invalid (the device said so)", "mock": "mock location",
    "drift": "drift", "impossible_speed": "impossible speed",
}


def via_words(via: str) -> str:
    if via == "osmand":
        return "the device's own key"
    if via.startswith("gateway:"):
        return f"gateway {via[8:]}"
    return via or "not recorded"


def _provenance_html(prov, tz: str, s) -> str:  # noqa: ANN001 - TrackProvenance, the palette
    """Where the window's positions came from, and which are not to be trusted."""
    if not prov.positions:
        return ""
    sources = ", ".join(f"{via_words(v)} ({n})" for v, n in prov.via)
    parts = [f"Positions held for the track: {prov.positions:,}, via {_e(sources)}"]
    if prov.last_received_at is not None:
        received = local_text(prov.last_received_at, tz, "%d %b %Y %H:%M:%S")
        parts.append(f"last received {received} via {_e(via_words(prov.last_via))}")
    flagged = "; ".join(f"{n} {FLAG_WORDS.get(f, f)}" for f, n in prov.flagged)
    line = " · ".join(parts)
    if flagged:
        line += f"<br><span style='color:{s.danger}'>Flagged, not trusted: {_e(flagged)}</span>"
    return f"<div style='color:{s.muted}'>{line}</div>"
