"""Generate a report into memory, then audit and write (or print) it: the one path every front end uses.

Order, for accountability (CJIS AU-2): the report is rendered and sealed in memory; the `export` (or
`print`) audit row with the case, window, manifest hash and file hash is committed durably; only then
is the first byte written to the destination (or sent to the printer). If the audit row cannot be
written, local_db.audit.AuditWriteFailed propagates and nothing leaves the laptop. The file is
written under a temporary name in the destination folder and renamed into place after fsync, so a
full disk or a pulled USB stick leaves no half-written packet.

Nothing here touches the network: a packet is generated the same way with the server unreachable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from local_db import audit as audit_log
from local_db.atomic import write_atomic
from workstation.reports import day as day_report
from workstation.reports.contents import gather_packet, packet_time_zone
from workstation.reports.manifest import canonical_json, packet_manifest, sha256_hex
from workstation.reports.packet_pdf import MapImage, render_packet
from workstation.reports.seal import seal_pdf
from workstation.reports.signing_key import fingerprint_of, signing_key
from workstation.reports.window import ReportWindow, utc_iso
from workstation.rules.schedule import DEFAULT_AGENCY_TIME_ZONE

#: Draws the track map offline: (track as [(lat, lon)], zone records) -> (PNG bytes, caption).
#: The core cannot import maps/ (import contracts); the CLI launcher and the GUI pass maps.track_map's.
TrackMapRenderer = Callable[[Sequence[tuple[float, float]], Sequence[dict[str, Any]]], tuple[bytes, str]]


class ReportRefused(audit_log.AuditWriteFailed):
    """Not written or printed: its audit row could not be committed, so nothing left the laptop (AU-5)."""


@dataclass(frozen=True)
class Identity:
    """Who generates the report, from where: printed in its header."""

    officer_username: str
    workstation_id: str
    agency: str = ""
    retention_days: int = 7
    agency_time_zone: str = DEFAULT_AGENCY_TIME_ZONE


@dataclass(frozen=True)
class GeneratedReport:
    kind: str  # "evidence-packet" | "day-report"
    data: bytes  # the sealed PDF
    packet_id: str
    manifest_sha256: str
    window: ReportWindow
    #: participant the packet is about (None for a day report)
    participant_id: str | None
    case_number: str | None
    summary: str  # one line: what the report holds

    @property
    def file_sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def audit_detail(self, **extra: Any) -> str:
        return json.dumps({
            "kind": self.kind,
            "case": self.case_number,
            "window": self.window.as_record(),
            "packet_id": self.packet_id,
            "manifest_sha256": self.manifest_sha256,
            "file_sha256": self.file_sha256,
            **extra,
        }, sort_keys=True)

    @property
    def audit_object(self) -> str:
        return f"participant:{self.participant_id}" if self.participant_id else f"day:{self.window.start.date().isoformat()}"


def generate_packet(
    store: Any,
    case_number: str,
    window: ReportWindow,
    identity: Identity,
    *,
    map_renderer: TrackMapRenderer | None = None,
    now: datetime | None = None,
) -> GeneratedReport:
    """The sealed evidence packet in memory. Raises contents.ParticipantNotHeld; writes only the signing key."""
    key, key_record = signing_key(store)
    with store.read_session() as session:
        contents = gather_packet(
            session, case_number, window, officer_username=identity.officer_username,
            workstation_id=identity.workstation_id, agency=identity.agency,
            retention_days=identity.retention_days, agency_time_zone=identity.agency_time_zone, now=now,
        )
    map_image, map_gap = _draw_map(contents.positions, contents.zones, map_renderer)
    map_record = (
        {"image_sha256": hashlib.sha256(map_image.png).hexdigest(), "caption": map_image.caption}
        if map_image else {"image_sha256": None, "caption": map_gap}
    )
    manifest = canonical_json(packet_manifest(contents, map_record))
    manifest_hash = sha256_hex(manifest)
    registered = key_record.get("registered")
    signer = {
        "fingerprint": fingerprint_of(key),
        "registered": f"{registered['at']} with {registered['server_url']}" if registered else "",
    }
    rendered = render_packet(contents, manifest, manifest_hash, map_image, map_gap, signer)
    sealed = seal_pdf(
        rendered, key, kind="evidence-packet", packet_id=contents.packet_id, manifest_sha256=manifest_hash,
        workstation_id=identity.workstation_id, signed_at=utc_iso(contents.generated_at) or "",
    )
    return GeneratedReport(
        kind="evidence-packet", data=sealed, packet_id=contents.packet_id, manifest_sha256=manifest_hash,
        window=window, participant_id=str(contents.participant["id"]), case_number=contents.case_number,
        summary=f"{len(contents.positions):,} positions, {len(contents.alerts)} alerts, {len(contents.notes)} notes",
    )


def packet_zone(store: Any, case_number: str, identity: Identity) -> str:
    """The participant's time zone (their zones', else the agency's): a packet's times by default."""
    with store.read_session() as session:
        return packet_time_zone(session, case_number, identity.agency_time_zone)


def generate_day_report(store: Any, window: ReportWindow, identity: Identity, *, now: datetime | None = None) -> GeneratedReport:
    key, _record = signing_key(store)
    with store.read_session() as session:
        contents = day_report.gather_day(session, window, identity.officer_username, identity.workstation_id,
                                         identity.agency, now=now)
    manifest = canonical_json(day_report.day_manifest(contents))
    manifest_hash = sha256_hex(manifest)
    rendered = day_report.render_day(contents, manifest, manifest_hash, fingerprint_of(key))
    sealed = seal_pdf(
        rendered, key, kind="day-report", packet_id=contents.report_id, manifest_sha256=manifest_hash,
        workstation_id=identity.workstation_id, signed_at=utc_iso(contents.generated_at) or "",
    )
    return GeneratedReport(
        kind="day-report", data=sealed, packet_id=contents.report_id, manifest_sha256=manifest_hash,
        window=window, participant_id=None, case_number=None, summary=contents.summary,
    )


def _draw_map(
    positions: list[dict[str, Any]], zones: list[dict[str, Any]], renderer: TrackMapRenderer | None
) -> tuple[MapImage | None, str | None]:
    if renderer is None:
        return None, "Map: no offline map renderer in this installation; the track is listed in section 6."
    track = [(float(p["lat"]), float(p["lon"])) for p in positions]
    if not track and not zones:
        return None, "Map: no position and no zone to draw."
    png, caption = renderer(track, zones)
    return MapImage(png, caption), None


def export_report(store: Any, report: GeneratedReport, destination: Path, *, via: str) -> Path:
    """Audit (`export`), then write the sealed file atomically. AuditWriteFailed -> nothing is written."""
    destination = Path(destination)
    _audit(store, "export", report, via=via, file=destination.name)
    write_atomically(destination, report.data)
    return destination


def record_print(store: Any, report: GeneratedReport, *, printer: str, via: str) -> int:
    """The `print` audit row, committed before the caller sends a page to the printer."""
    return _audit(store, "print", report, via=via, printer=printer)


def _audit(store: Any, event: str, report: GeneratedReport, **detail: Any) -> int:
    try:
        return audit_log.audit(store, event, report.audit_object, "ok", report.audit_detail(**detail))
    except audit_log.AuditWriteFailed as exc:
        raise ReportRefused(f"refused: the audit trail cannot be written, so nothing left the laptop ({exc})") from exc


def write_atomically(destination: Path, data: bytes) -> None:
    write_atomic(destination, data)

