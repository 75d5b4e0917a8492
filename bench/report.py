"""Evidence packet: a 7-day packet of one participant with one fix a minute (10,080 fixes).

Project: workstation.reports.export.generate_packet on a real encrypted store, offline, with the
track map drawn from the bundled basemap (maps.track_map): gather, manifest, map, PDF, seal, all of
it. Target: report_packet_7d_s <= 5.
Baseline, same run, same rows: the positions table (nine tenths of the pages) laid out with
ReportLab's own Table in blocks of 40 rows (the straightforward implementation, which the
project replaced with pdf.RuledRows) against the project's RuledRows, each in a document of its
own with the same fonts and footer.

Metrics: report_packet_7d_s, report_pages, report_bytes, report_verify_s (verify_file of the
result), report_positions_table_s, report_positions_table_baseline_s, report_table_speedup.
"""

from __future__ import annotations

import statistics
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import timed
from local_db.store import open_store
from maps.track_map import OfflineTrackMaps
from tests.reports.seed import CASE, seed_case
from workstation.reports import export, pdf, window
from workstation.reports.verify import verify_file

FIXES_7D = 7 * 24 * 60
HEADER = ["#", "Fix time", "Latitude", "Longitude", "Acc. m", "km/h", "Source", "Received (delay)", "Device", "Flags"]
WIDTHS = [w * 72 for w in (0.42, 1.12, 0.66, 0.72, 0.42, 0.36, 0.44, 1.25, 0.8, 1.05)]


def run(quick: bool = False) -> dict[str, float | int]:
    fixes = 1440 if quick else FIXES_7D
    repeats = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        home = Path(tmp)
        store = open_store(home, "bench password", create=True)
        try:
            start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=7)
            seed_case(store, start=start, fixes=fixes)
            span = window.parse_window(start.isoformat(), (start + timedelta(days=7)).isoformat(), "America/Chicago")
            identity = export.Identity("officer1", "bench-ws", "Bench County", retention_days=8)
            packet_times, report = [], None
            for _ in range(repeats):
                maps = OfflineTrackMaps(home, store.cache_key)
                try:
                    report, seconds = timed(lambda m=maps: export.generate_packet(store, CASE, span, identity, map_renderer=m))
                finally:
                    maps.close()
                packet_times.append(seconds)
            assert report is not None
            verified, verify_s = timed(lambda: verify_file(report.data))
            pages = report.data.count(b"/Type /Page\n")
        finally:
            store.close()
    rows = _rows(fixes)
    table_s = statistics.median(timed(lambda: _document([pdf.RuledRows(HEADER, rows, WIDTHS)]))[1] for _ in range(repeats))
    baseline_s = statistics.median(timed(lambda: _document(_table_blocks(rows)))[1] for _ in range(repeats))
    if verified.seal.packet_id != report.packet_id:
        raise AssertionError("the packet does not verify")
    return {
        "report_fixes": fixes,
        "report_packet_7d_s": round(statistics.median(packet_times), 3),
        "report_pages": pages,
        "report_bytes": len(report.data),
        "report_verify_s": round(verify_s, 4),
        "report_positions_table_s": round(table_s, 3),
        "report_positions_table_baseline_s": round(baseline_s, 3),
        "report_table_speedup": round(baseline_s / table_s, 2),
    }


def _rows(n: int) -> list[list[str]]:
    t0 = datetime(2026, 11, 26, 6, 0)
    return [
        [str(i), f"{t0 + timedelta(minutes=i):%Y-%m-%d %H:%M:%S}", f"{41.88 + i * 1e-6:.6f}", f"{-87.62 - i * 1e-6:.6f}",
         str(5 + i % 20), str(i % 30), "gps", f"{t0 + timedelta(minutes=i, seconds=4):%H:%M:%S} (+4 s)", "GA-77813", ""]
        for i in range(1, n + 1)
    ]


def _table_blocks(rows: list[list[str]]) -> list:
    return [pdf.grid_table(HEADER, rows[i : i + 40], WIDTHS) for i in range(0, len(rows), 40)]


def _document(story: list) -> bytes:
    info = pdf.DocumentInfo(
        title="bench", author="bench", subject="bench", packet_id="bench", manifest_sha256="0" * 64,
        created=datetime.now(UTC), attachment_name="manifest.json", attachment=b"{}", attachment_description="bench",
    )
    return pdf.build_pdf(info, story)
