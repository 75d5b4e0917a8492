"""The evidence packet's pages, in the order the issue and a court expect them.

1 Packet (agency, officer, workstation, generated at, window and its time zone), 2 Participant,
3 Devices, 4 Zones and schedules, 5 Map of the track, 6 Positions with their provenance, 7 Incidents
and alerts (timeline), 8 Notes, contacts and visits, 9 Integrity. Each section first states what this
laptop does not hold for it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import inch
from reportlab.platypus import Flowable, Image, KeepTogether, Paragraph, Table, TableStyle

from workstation.reports import pdf
from workstation.reports.contents import PacketContents
from workstation.reports.window import parse_utc_iso
from workstation.rules.incidents import KIND_LABEL

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

SECTION_TITLES = {
    "packet": "1. Packet",
    "participant": "2. Participant",
    "devices": "3. Devices",
    "zones": "4. Zones and schedules",
    "map": "5. Map of the track",
    "positions": "6. Positions and their provenance",
    "incidents": "7. Incidents and alerts",
    "notes": "8. Notes, contacts and visits",
    "integrity": "9. Integrity",
}


@dataclass(frozen=True)
class MapImage:
    """The track map drawn by a renderer outside the core (maps/): PNG bytes and what it shows."""

    png: bytes
    caption: str


def render_packet(
    contents: PacketContents,
    manifest: bytes,
    manifest_sha256: str,
    map_image: MapImage | None,
    map_gap: str | None,
    signer: dict[str, str],
) -> bytes:
    st = pdf.styles()
    story: list[Flowable] = []
    story += _header(contents, st)
    story += _participant(contents, st)
    story += _devices(contents, st)
    story += _zones(contents, st)
    story += _map(contents, st, map_image, map_gap)
    story += _positions(contents, st)
    story += _incidents(contents, st)
    story += _notes(contents, st)
    story += _integrity(contents, st, manifest_sha256, signer)
    info = pdf.DocumentInfo(
        title=f"Evidence packet {contents.case_number}",
        author=contents.officer.get("display_name") or contents.officer.get("username") or "",
        subject=f"{contents.participant_name}, {contents.window.local(contents.window.start)} to "
        f"{contents.window.local(contents.window.end)} ({contents.window.zone_label})",
        packet_id=contents.packet_id,
        manifest_sha256=manifest_sha256,
        created=contents.generated_at,
        attachment_name="manifest.json",
        attachment=manifest,
        attachment_description="Canonical JSON of every record in this packet",
    )
    return pdf.build_pdf(info, story)


def _gaps(contents: PacketContents, key: str) -> list[str]:
    return contents.not_held.get(key, [])


def _header(c: PacketContents, st: pdf.Styles) -> list[Flowable]:
    win = c.window
    officer = c.officer.get("display_name") or ""
    officer = f"{officer} ({c.officer.get('username')})" if officer else c.officer.get("username")
    return [
        Paragraph(f"Evidence packet: case {pdf.text(c.case_number)}, {pdf.text(c.participant_name)}", st.title),
        *pdf.section(SECTION_TITLES["packet"], st, _gaps(c, "packet")),
        pdf.key_value_table([
            ("Agency", c.agency or "not configured on this laptop (agency_name in config.toml)"),
            ("Officer", officer),
            ("Workstation", c.workstation_id),
            ("Generated at", f"{win.local(c.generated_at)} ({win.zone_label})"),
            ("Window", f"{win.local(win.start)} to {win.local(win.end)}"),
            ("Time zone", f"{win.zone_label}; every time in this packet is in this zone"),
            ("Packet id", c.packet_id),
        ], st),
    ]


def _participant(c: PacketContents, st: pdf.Styles) -> list[Flowable]:
    p = c.participant
    rows = [
        ("Name", c.participant_name),
        ("Case number", p.get("case_number")),
        ("Date of birth", p.get("dob")),
        ("Language", p.get("language")),
        ("Phone", p.get("phone")),
        ("Address", p.get("address")),
        ("Program", p.get("program")),
        ("Risk level", p.get("risk_level")),
        ("Legal status", ", ".join(str(f).replace("_", " ") for f in p.get("legal_flags") or []) or "none recorded"),
        ("Supervision", f"{p.get('supervision_start') or 'start not recorded'} to {p.get('supervision_end') or 'no end date'}"),
    ]
    for appointment in c.appointments:
        rows.append((
            "Appointment",
            f"{c.window.local(appointment['starts_at'], seconds=False)} {str(appointment['kind']).replace('_', ' ')}"
            f" at {appointment.get('place') or 'place not recorded'} ({appointment.get('status')})",
        ))
    identity = pdf.key_value_table(rows, st, widths=(1.3 * inch, 4.3 * inch))
    row = Table([[identity, _photo(c, st)]], colWidths=[5.7 * inch, 1.5 * inch], hAlign="LEFT")
    row.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), pdf.FONT, 9), ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
    ]))
    return [*pdf.section(SECTION_TITLES["participant"], st, _gaps(c, "participant")), row]


def _photo(c: PacketContents, st: pdf.Styles) -> Flowable:
    if c.photo:
        try:
            return Image(io.BytesIO(_rgb_png(c.photo)), width=1.3 * inch, height=1.6 * inch, kind="proportional")
        except (OSError, ValueError):
            pass  # an unreadable photo falls back to the placeholder, which says so
    box = Table([[Paragraph("Photo<br/>not held on<br/>this laptop", st.small)]], colWidths=[1.3 * inch],
                rowHeights=[1.6 * inch])
    box.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), pdf.FONT, 9),
        ("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor("#8899aa")),
        ("ALIGN", (0, 0), (-1, -1), "CENTER"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f3f5f7")),
    ]))
    return box


def _rgb_png(data: bytes) -> bytes:
    from PIL import Image as PilImage

    with PilImage.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.convert("RGB").save(out, "PNG")
        return out.getvalue()


def _devices(c: PacketContents, st: pdf.Styles) -> list[Flowable]:
    flow = pdf.section(SECTION_TITLES["devices"], st, _gaps(c, "devices"))
    if not c.devices:
        return [*flow, Paragraph("No device is recorded for this participant on this laptop.", st.body)]
    assigned = [k for k in c.devices[0] if "assign" in k]
    header = ["Kind", "Serial", "Battery", "Strap", "Last contact", "Last fix", "Source"] + [a.replace("_", " ") for a in assigned]
    rows = [
        [d.get("kind"), d.get("serial"), "" if d.get("battery_pct") is None else f"{d['battery_pct']} %", d.get("strap"),
         c.window.local(d.get("last_contact_at")), c.window.local(d.get("last_fix_time")), d.get("last_source"),
         *[c.window.local(d.get(a)) if isinstance(d.get(a), str) else d.get(a) for a in assigned]]
        for d in c.devices
    ]
    widths = [0.7 * inch, 1.3 * inch, 0.6 * inch, 0.6 * inch, 1.35 * inch, 1.35 * inch, 0.6 * inch]
    widths += [1.0 * inch] * len(assigned)
    return [*flow, pdf.grid_table(header, rows, widths)]


def schedule_text(schedule: list[dict[str, Any]]) -> str:
    if not schedule:
        return "always"
    parts = []
    for window in schedule:
        days = ",".join(WEEKDAYS[int(d) - 1] for d in window.get("days", []))
        parts.append(f"{days} {window.get('start')}\u2013{window.get('end')}")
    return "; ".join(parts)


def _zones(c: PacketContents, st: pdf.Styles) -> list[Flowable]:
    flow = pdf.section(SECTION_TITLES["zones"], st, _gaps(c, "zones"))
    if not c.zones:
        return [*flow, Paragraph("No zone is recorded for this participant on this laptop.", st.body)]
    rows = []
    for z in c.zones:
        if z.get("shape") == "circle":
            where = f"circle {z.get('radius_m'):.0f} m around {z.get('center_lat'):.5f}, {z.get('center_lon'):.5f}"
        else:
            where = f"polygon of {len(z.get('polygon') or [])} points"
        own = z.get("time_zone")
        rows.append([z.get("name"), z.get("kind"), where, schedule_text(z.get("schedule") or []),
                     own or f"{z.get('effective_time_zone')} (agency default)"])
    widths = [1.5 * inch, 0.8 * inch, 2.2 * inch, 1.7 * inch, 1.1 * inch]
    return [*flow, pdf.grid_table(["Zone", "Kind", "Where", "Schedule", "Time zone"], rows, widths, wrap=st)]


def _map(c: PacketContents, st: pdf.Styles, image: MapImage | None, gap: str | None) -> list[Flowable]:
    gaps = _gaps(c, "map") + ([gap] if gap else [])
    flow = pdf.section(SECTION_TITLES["map"], st, gaps)
    if image is None:
        return flow
    width = 7.2 * inch
    picture = Image(io.BytesIO(image.png), width=width, height=width * 0.62, kind="proportional")
    return [KeepTogether([*flow, picture, Paragraph(pdf.text(image.caption), st.small)])]


def flags_text(position: dict[str, Any], boolean_columns: tuple[str, ...]) -> str:
    flags = [str(f) for f in position.get("flags") or []]
    flags += [name for name in boolean_columns if position.get(name) is True]
    return ", ".join(flags)


def received_text(c: PacketContents, position: dict[str, Any]) -> str:
    """When the position reached the system, with its delay after the fix: `14:03:09 (+4 s)`."""
    received, fixed = position.get("received_at"), position["fix_time"]
    if not received:
        return "not recorded"
    local_received, local_fix = c.window.local(received), c.window.local(fixed)
    shown = local_received[11:] if local_received[:10] == local_fix[:10] else local_received
    delay = (parse_utc_iso(received) - parse_utc_iso(fixed)).total_seconds()
    if abs(delay) < 120:
        return f"{shown} (+{delay:.0f} s)"
    return f"{shown} (+{delay / 60:.0f} min)" if abs(delay) < 7200 else f"{shown} (+{delay / 3600:.1f} h)"


def _positions(c: PacketContents, st: pdf.Styles) -> list[Flowable]:
    flow = pdf.section(SECTION_TITLES["positions"], st, _gaps(c, "positions"))
    if not c.positions:
        return flow
    booleans = tuple(k for k, v in c.positions[0].items() if isinstance(v, bool))
    devices = {d["id"]: d.get("serial") for d in c.devices}
    header = ["#", "Fix time", "Latitude", "Longitude", "Acc. m", "km/h", "Source", "Received (delay)", "Device", "Flags"]
    rows = [
        [i, c.window.local(pos["fix_time"]), f"{pos['lat']:.6f}", f"{pos['lon']:.6f}",
         f"{pos.get('accuracy_m') or 0:.0f}", "" if pos.get("speed_kmh") is None else f"{pos['speed_kmh']:.0f}",
         pos.get("source"), received_text(c, pos), devices.get(pos.get("device_id"), pos.get("device_id")),
         flags_text(pos, booleans)]
        for i, pos in enumerate(c.positions, start=1)
    ]
    widths = [0.42, 1.12, 0.66, 0.72, 0.42, 0.36, 0.44, 1.25, 0.8, 1.05]
    intro = Paragraph(
        f"{len(c.positions):,} positions in the window, in time order. Flags recorded by this laptop: "
        f"{', '.join(c.recorded_flags) or 'none'}.", st.body,
    )
    return [*flow, intro, pdf.RuledRows(header, rows, [w * inch for w in widths])]


def _incidents(c: PacketContents, st: pdf.Styles) -> list[Flowable]:
    flow = pdf.section(SECTION_TITLES["incidents"], st, _gaps(c, "incidents"))
    rows = []
    for a in c.alerts:
        who = []
        if a.get("acknowledged_at") or a.get("acknowledged_by"):
            who.append(f"acknowledged {c.window.local(a.get('acknowledged_at'))} by {a.get('acknowledged_by') or 'unknown'}")
        if a.get("resolved_at") or a.get("resolved_by"):
            who.append(f"resolved {c.window.local(a.get('resolved_at'))} by {a.get('resolved_by') or 'unknown'}")
        if a.get("pending"):
            who.append("(this laptop's action not yet confirmed by the server)")
        notes = [
            f"{n['action'].replace('_alert', '').replace('_', ' ')} note {c.window.local(n['at'], seconds=False)}: {n['note']}"
            for n in a.get("officer_notes", []) if n.get("note")
        ]
        rows.append([
            c.window.local(a["opened_at"]), KIND_LABEL.get(a["kind"], a["kind"]), a.get("severity"),
            a.get("incident_id") or "", a.get("state"), "; ".join(who) or "not handled", "; ".join(notes) or a.get("detail"),
        ])
    if not rows:
        return flow
    header = ["Opened", "Alert", "Severity", "Incident", "State", "Handled", "Notes / detail"]
    widths = [0.95, 0.9, 0.55, 0.6, 0.85, 1.75, 1.6]
    return [*flow, pdf.grid_table(header, rows, [w * inch for w in widths], wrap=st)]


NOTE_KIND_LABEL = {
    "note": "Note",
    "contact": "Contact",
    "home_visit": "Home visit",
    "office_checkin": "Office check-in",
    "app_checkin": "App check-in",
    "schedule_request": "Schedule request",
}


def _notes(c: PacketContents, st: pdf.Styles) -> list[Flowable]:
    flow = pdf.section(SECTION_TITLES["notes"], st, _gaps(c, "notes"))
    rows = [
        [c.window.local(n["occurred_at"], seconds=False), NOTE_KIND_LABEL.get(str(n.get("kind")), n.get("kind")),
         (n.get("outcome") or "").replace("_", " "), n.get("author"), n.get("place"),
         ("[pending] " if n.get("pending") else "") + str(n.get("text") or "")]
        for n in c.notes
    ]
    if not rows:
        return flow
    widths = [0.95, 0.85, 0.7, 0.8, 1.2, 2.7]
    return [*flow, pdf.grid_table(["When", "Kind", "Outcome", "By", "Place", "Text"], rows,
                                  [w * inch for w in widths], wrap=st)]


def _integrity(c: PacketContents, st: pdf.Styles, manifest_sha256: str, signer: dict[str, str]) -> list[Flowable]:
    return [KeepTogether([
        *pdf.section(SECTION_TITLES["integrity"], st),
        Paragraph(
            "Every record shown in this packet is in the attached file manifest.json (canonical JSON: sorted keys, "
            "no spaces, UTF-8, times in UTC). Its SHA-256 is printed at the foot of every page. The file is sealed "
            "with this workstation's Ed25519 key: the seal after the last page covers the SHA-256 of every byte "
            "before it, so changing any byte of the file breaks it. Check it with "
            "<b>workstation verify-packet FILE.pdf</b>, which also asks the agency server whether the key belongs "
            "to this workstation when the server can be reached.", st.body,
        ),
        pdf.spacer(),
        pdf.key_value_table([
            ("Manifest SHA-256", manifest_sha256),
            ("Signing key", f"Ed25519, SHA-256 fingerprint {signer.get('fingerprint', '')}"),
            ("Key registered", signer.get("registered") or "not yet registered with the agency server"),
        ], st),
    ])]
