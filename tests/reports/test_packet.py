"""Evidence packets end to end: a real encrypted store, ReportLab output read back with poppler, the seal.

Times are relative to now and printed in an explicit zone, so nothing depends on the hour or the TZ.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from local_db.audit import AuditWriteFailed
from local_db.models import AuditEvent
from maps.track_map import OfflineTrackMaps
from tests.reports.seed import CASE, seed_case
from workstation.reports import export, window
from workstation.reports.contents import ParticipantNotHeld
from workstation.reports.manifest import sha256_hex
from workstation.reports.packet_pdf import SECTION_TITLES
from workstation.reports.seal import SEAL_PREFIX, SealBroken, verify_sealed
from workstation.reports.verify import verify_file

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")
IDENTITY = export.Identity("officer1", "ws-report-test", "Cook County Pretrial Services", retention_days=7)


@pytest.fixture
def seeded(store):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    return seed_case(store, start=start, fixes=600)


def _window(seeded, **extra) -> window.ReportWindow:
    start = seeded.start - timedelta(hours=1)
    return window.parse_window(start.isoformat(), (seeded.start + timedelta(days=2)).isoformat(), "America/Chicago")


def _packet(store, seeded, **kwargs) -> export.GeneratedReport:
    maps = OfflineTrackMaps(store.home, store.cache_key)
    try:
        return export.generate_packet(store, CASE, _window(seeded), IDENTITY, map_renderer=maps, **kwargs)
    finally:
        maps.close()


def pdftotext(path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


@needs_poppler
def test_packet_text_names_the_case_every_section_and_what_is_not_held(store, seeded, tmp_path):
    report = _packet(store, seeded)
    out = export.export_report(store, report, tmp_path / "packet.pdf", via="test")
    extracted = pdftotext(out)
    assert CASE in extracted and "Renée Okafor" in extracted
    positions = [extracted.find(title) for title in SECTION_TITLES.values()]
    assert -1 not in positions, [t for t, at in zip(SECTION_TITLES.values(), positions, strict=True) if at < 0]
    assert positions == sorted(positions), "sections out of order"
    # the footer of every page carries the packet id and the manifest hash
    pages = extracted.split("\f")[:-1]
    assert len(pages) > 3
    assert all(report.packet_id in page and report.manifest_sha256 in page for page in pages)
    # what the laptop does not hold is said, not left out
    assert "Device assignment dates: not recorded on this laptop" in extracted
    assert "Provenance flags not recorded" not in extracted  # late, invalid, mock: kept since migration 0006
    assert "Photo: not held on this laptop" in extracted
    # the home zone carries its own time zone; the other falls back to the agency's, and says so
    assert "No time zone of its own is recorded on this laptop for: Victim's workplace;" in " ".join(extracted.split())
    # the incident timeline says who handled what, with this laptop's resolution note
    # (wrapped table cells come out of pdftotext interleaved line by line, so look for words)
    words = set(extracted.split())
    assert {"dispatch2;", "officer1", "re-seated", "resolve"} <= words
    assert "America/Chicago" in extracted


@needs_poppler
def test_every_page_renders_and_fonts_are_embedded(store, seeded, tmp_path):
    out = export.export_report(store, _packet(store, seeded), tmp_path / "packet.pdf", via="test")
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    assert fonts and all(" yes yes " in line for line in fonts), fonts  # embedded, subset: no standard-14 font
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(out), str(tmp_path / "page")], check=True, capture_output=True)
    assert len(list(tmp_path.glob("page-*.png"))) == int(
        next(line.split()[-1] for line in subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True,
                                                          check=True).stdout.splitlines() if line.startswith("Pages:"))
    )
    attached = subprocess.run(["pdfdetach", "-list", str(out)], capture_output=True, text=True, check=True).stdout
    assert "manifest.json" in attached


def test_manifest_holds_every_record_and_matches_the_footer_hash(store, seeded):
    report = _packet(store, seeded)
    result = verify_file(report.data)
    manifest = json.loads(result.manifest)
    assert sha256_hex(result.manifest) == report.manifest_sha256 == result.seal.manifest_sha256
    assert manifest["packet_id"] == report.packet_id and manifest["participant"]["case_number"] == CASE
    window_start = datetime.fromisoformat(manifest["window"]["from"].replace("Z", "+00:00"))
    assert len(manifest["positions"]) == 600 and window_start < seeded.start
    assert {a["id"] for a in manifest["alerts"]} == {"a-1", "a-2"}  # a-3 opens after the window
    assert manifest["map"]["image_sha256"] and "tiles" in manifest["map"]["caption"]
    assert result.server_check == "offline"


def test_verify_passes_untouched_and_fails_on_any_changed_byte(store, seeded):
    data = _packet(store, seeded).data
    verify_sealed(data)
    seal_at = data.rfind(b"\n" + SEAL_PREFIX) + 1
    rng = random.Random(15)
    # every byte of the seal and the final %%EOF, the bytes around the seal, and 300 spread over the PDF
    offsets = set(range(seal_at - 8, len(data))) | {0, 1, seal_at - 1} | {rng.randrange(seal_at) for _ in range(300)}
    for offset in sorted(offsets):
        for flip in (0x01, 0x20):
            changed = bytearray(data)
            changed[offset] ^= flip
            with pytest.raises(SealBroken):
                verify_sealed(bytes(changed))
    for damaged in (data[:-1], data + b"\n", data[:seal_at] + data[seal_at:].replace(b'":"', b'": "', 1), data[:seal_at]):
        with pytest.raises(SealBroken):
            verify_sealed(damaged)


def test_export_is_audited_before_the_file_is_written(store, seeded, tmp_path):
    report = _packet(store, seeded)
    out = export.export_report(store, report, tmp_path / "packet.pdf", via="test")
    with store.read_session() as db:
        obj, detail_text = db.execute(select(AuditEvent.object, AuditEvent.detail).where(AuditEvent.event == "export")).one()
    detail = json.loads(detail_text)
    assert obj == f"participant:{seeded.participant_id}"
    assert detail["case"] == CASE and detail["manifest_sha256"] == report.manifest_sha256
    assert detail["file_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert detail["window"]["time_zone"].startswith("America/Chicago")

    seq = export.record_print(store, report, printer="Office laser", via="test")
    with store.read_session() as db:
        event, detail_text = db.execute(select(AuditEvent.event, AuditEvent.detail).where(AuditEvent.seq == seq)).one()
    assert event == "print" and json.loads(detail_text)["printer"] == "Office laser"


def test_export_refused_when_the_audit_row_cannot_be_written(store, seeded, tmp_path):
    report = _packet(store, seeded)
    store.write(lambda s: s.execute(text(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_event BEGIN SELECT RAISE(ABORT, 'audit disk full'); END"
    )))
    with pytest.raises(AuditWriteFailed):
        export.export_report(store, report, tmp_path / "packet.pdf", via="test")
    assert list(tmp_path.iterdir()) == [tmp_path / "home"]  # no packet, no partial file


def test_unknown_case_is_refused(store, seeded):
    with pytest.raises(ParticipantNotHeld):
        export.generate_packet(store, "NO-SUCH-CASE", _window(seeded), IDENTITY)


def test_without_a_map_renderer_the_packet_says_so(store, seeded):
    report = export.generate_packet(store, CASE, _window(seeded), IDENTITY)
    manifest = json.loads(verify_file(report.data).manifest)
    assert manifest["map"]["image_sha256"] is None and "no offline map renderer" in manifest["map"]["caption"]


def test_the_signing_key_stays_the_same_and_lives_in_the_store(store, seeded):
    first = verify_file(_packet(store, seeded).data).seal
    second = verify_file(_packet(store, seeded).data).seal
    assert first.public_key == second.public_key and first.packet_id != second.packet_id
    raw = store.path.read_bytes()
    assert first.public_key not in raw  # the store file is encrypted: not even the public half shows


def test_flag_vocabulary_follows_the_wire_protocol():
    from workstation import protocol as p
    from workstation.reports.contents import flag_vocabulary

    # the packet names exactly the flags the wire accepts (the JSON schema both ends validate against)
    schema = json.dumps(p.PositionData.model_json_schema()["properties"]["flags"])
    assert "drift" in flag_vocabulary() and all(f'"{flag}"' in schema for flag in flag_vocabulary())
