"""`python -m bench ui`: how the officer's window feels.

filter_ms_7k / filter_ms_100k
    One keystroke in the caseload search box: from setting the text to the table having re-laid
    out (processEvents done), over a typed word ("g", "ga", "gar", ...), sorted by fix age so
    every keystroke also re-sorts. Median over the keystrokes; _max is the worst one. Baseline:
    the same filter through a QSortFilterProxyModel with a Python filterAcceptsRow (the textbook
    way), on the same rows (at 100k only filtering is measured for the baseline, because its sort
    takes ~35 s there).
gui_stall_max_ms
    The worst event-loop stall (ui.stall_probe: lateness of a 5 ms timer) while the real main
    window, map included, does a first full sync of 7,000 participants from the reference server
    (a separate process, simulator on: every device reports about once a minute, 7,000 fixes/min)
    and then applies the live feed for LIVE_AFTER_S more seconds.
note_gui_stall_max_ms
    An officer's note on the same window (7,000 participants, live feed paused for the
    measurement): the worst event-loop stall from queuing it until its record, the outbox and the
    push after it are settled. Baseline (note_baseline_reload_stall_max_ms): what a note cost the
    GUI thread before, a full caseload snapshot reload, on the same window in the same run.
cold_start_s
    A new process with a synced store: interpreter start, imports, QApplication, sign-in (key
    derivation), main window with the map, until the 7,000-row caseload is on screen.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

LIVE_AFTER_S = 20
WORDS = ("garcia", "chi-2026-01", "madison")


def synthetic_rows(n: int, seed: int = 7):
    """n CaseloadRow snapshots with realistic spreads (names, risk, fix ages, batteries)."""
    from local_db.queries import CaseloadRow
    from local_db.timeutil import utc_now

    first = ("Maria", "James", "Ana", "Luis", "Wei", "Fatima", "John", "Olga", "Carlos", "Aisha", "Jorge", "Mei")
    last = ("Garcia", "Smith", "Nguyen", "Kowalski", "Okafor", "Hernandez", "Brown", "Ivanova", "Khan", "Lopez",
            "Johnson", "Rossi", "Martinez", "Kim", "Patel", "Novak")
    streets = ("W Madison St", "N Clark St", "S State St", "W Division St", "N Milwaukee Ave", "S Halsted St")
    rnd = random.Random(seed)
    now = utc_now()
    rows = []
    for i in range(n):
        fix = None if rnd.random() < 0.03 else now - timedelta(seconds=rnd.expovariate(1 / 400))
        appt = now + timedelta(hours=rnd.randint(1, 24 * 30)) if rnd.random() < 0.8 else None
        rows.append(CaseloadRow(
            participant_id=f"p{i}", case_number=f"CHI-2026-{100000 + i:07d}", first_name=rnd.choice(first),
            last_name=rnd.choice(last), risk_level=rnd.choice(("low", "medium", "medium", "high")),
            device_id=f"d{i}", device_kind=rnd.choice(("ankle", "wrist", "phone_app")),
            battery_pct=rnd.randint(0, 100), charging=rnd.random() < 0.1, strap="ok", last_fix_time=fix,
            last_lat=41.88 + rnd.uniform(-0.1, 0.1), last_lon=-87.63 + rnd.uniform(-0.1, 0.1), last_accuracy_m=10.0,
            open_alerts=rnd.choice((0, 0, 0, 1, 2)), next_appointment_at=appt,
            next_appointment_kind=rnd.choice(("home_visit", "office_checkin", "court_hearing")) if appt else None,
            legal_flags=(), address=f"{rnd.randint(100, 9999)} {rnd.choice(streets)}, Chicago, IL",
            phone=f"(312) 555-{rnd.randint(0, 9999):04d}",
        ))
    return rows


def _keystrokes(app, set_text) -> list[float]:
    times = []
    for word in WORDS:
        for end in range(1, len(word) + 1):
            started = time.perf_counter()
            set_text(word[:end])
            app.processEvents()
            times.append((time.perf_counter() - started) * 1000)
        set_text("")
        app.processEvents()
    return times


def measure_filter(app, n: int, baseline: bool) -> dict[str, float]:
    from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
    from PySide6.QtWidgets import QTableView

    from ui.caseload import CaseloadPanel
    from ui.caseload_model import CaseloadTableModel, Col

    rows = synthetic_rows(n)
    panel = CaseloadPanel()
    panel.resize(900, 700)
    panel.show()
    panel.model.set_rows(rows)
    panel.table.sortByColumn(Col.LAST_FIX, Qt.SortOrder.AscendingOrder)
    app.processEvents()
    ours = _keystrokes(app, panel.search.setText)
    out = {f"filter_ms_{n // 1000}k": round(statistics.median(ours), 1),
           f"filter_ms_{n // 1000}k_max": round(max(ours), 1)}
    panel.close()
    panel.deleteLater()
    if baseline:
        model = CaseloadTableModel()
        model.set_rows(rows)
        hay = model.haystack()

        class Textbook(QSortFilterProxyModel):
            needle = ""

            def filterAcceptsRow(self, source_row: int, parent: QModelIndex) -> bool:  # noqa: N802
                return self.needle in hay[source_row]

        proxy = Textbook()
        proxy.setSourceModel(model)
        view = QTableView()
        view.setModel(proxy)
        view.resize(900, 700)
        view.show()
        app.processEvents()

        def set_text(text: str) -> None:
            proxy.needle = text.casefold()
            proxy.invalidateFilter()

        base = _keystrokes(app, set_text)
        out[f"baseline_qsortfilterproxy_filter_ms_{n // 1000}k"] = round(statistics.median(base), 1)
        view.close()
        view.deleteLater()
    app.processEvents()
    return out


def measure_sync_stall(app, home: Path, demo) -> dict[str, Any]:
    from PySide6.QtCore import QEvent

    from ui.app import freeze_startup_objects, open_tile_store
    from ui.main_window import MainWindow
    from ui.services import GuiServices
    from ui.stall_probe import StallProbe
    from workstation.config import load_config
    from workstation.session import WorkstationSession

    config = load_config(home=home)
    session = WorkstationSession.open(config, "officer1", demo.password, server_url=demo.url)
    window = MainWindow(GuiServices(session), tile_store=open_tile_store(home, config, session.store.cache_key))
    window.resize(1366, 768)
    window.show()
    probe = StallProbe(interval_ms=5)
    freeze_startup_objects()  # as ui.app does before entering the event loop
    done: dict[str, Any] = {}
    window.syncFinished.connect(lambda summary: done.setdefault("summary", summary))
    app.processEvents()
    probe.start()
    started = time.perf_counter()
    window.start()
    while "summary" not in done and time.perf_counter() - started < 600:
        app.processEvents()
        time.sleep(0.001)
    sync_s = time.perf_counter() - started
    sync_stall = probe.max_stall_ms
    live_from = window.live_fixes_applied
    until = time.perf_counter() + LIVE_AFTER_S
    while time.perf_counter() < until:
        app.processEvents()
        time.sleep(0.001)
    probe.stop()
    summary = done.get("summary")
    note = measure_note(app, window)
    result = {
        "gui_stall_max_ms": round(probe.max_stall_ms, 1),
        "gui_stall_during_sync_max_ms": round(sync_stall, 1),
        "gui_stalls_over_50ms": probe.stalls_over_50ms,
        "ui_full_sync_s": round(sync_s, 2),
        "ui_sync_changes": getattr(summary, "changes_applied", 0),
        "ui_live_rows_updated": window.live_fixes_applied - live_from,
        "ui_caseload_rows": window.caseload.model.rowCount(),
        **note,
    }
    snap = window._snapshot
    if snap is not None:
        result["demo_raw_alerts"] = snap.raw_alerts
        result["demo_incidents"] = len(snap.incidents)
        result["demo_alerts_per_incident"] = round(snap.raw_alerts / max(1, len(snap.incidents)), 2)
    window.shutdown()
    window.services.wait_stopped()
    window.close()
    window.deleteLater()
    session.close()
    # deleteLater needs an event loop; without one the map's WebEngine page outlives its profile and
    # QtWebEngine crashes at interpreter exit. Deliver the deferred deletes here, explicitly.
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()
    return result


def measure_note(app, window) -> dict[str, float]:
    from PySide6.QtCore import QThreadPool

    from ui.stall_probe import StallProbe
    from workstation import protocol as p

    def settle(quiet_s: float = 1.0) -> None:
        """Until the pool has been idle for quiet_s (the note's reads, the push and its refresh)."""
        idle_since = None
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.001)
            if QThreadPool.globalInstance().activeThreadCount():
                idle_since = None
            elif idle_since is None:
                idle_since = time.perf_counter()
            elif time.perf_counter() - idle_since >= quiet_s:
                return

    window._live_timer.stop()  # live fixes would blur what the note itself costs
    pid = window.caseload.model.rows()[len(window.caseload.model.rows()) // 2].participant_id
    window.show_participant(pid)
    settle()
    probe = StallProbe(interval_ms=5)
    probe.start()
    window._queue(pid, p.AddNotePayload(text="Bench: phoned, no answer."))
    settle()
    probe.stop()
    note_ms = probe.max_stall_ms
    applied = []
    window.snapshotApplied.connect(lambda: applied.append(1))
    probe = StallProbe(interval_ms=5)
    probe.start()
    window.reload()
    while not applied:
        app.processEvents()
        time.sleep(0.001)
    settle()
    probe.stop()
    window._live_timer.start()
    return {"note_gui_stall_max_ms": round(note_ms, 1),
            "note_baseline_reload_stall_max_ms": round(probe.max_stall_ms, 1)}


_CHILD = r"""
import sys, time
t0 = float(sys.argv[1])
from maps.scheme import register_app_scheme
register_app_scheme()
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from pathlib import Path
from ui.app import freeze_startup_objects, open_tile_store, tune_runtime
tune_runtime()
from ui.main_window import MainWindow
from ui.services import GuiServices
from workstation.config import load_config
from workstation.session import WorkstationSession
home = Path(sys.argv[2])
config = load_config(home=home)
session = WorkstationSession.open(config, "officer1", sys.argv[4], server_url=sys.argv[3])
window = MainWindow(GuiServices(session, auto_sync=False), tile_store=open_tile_store(home, config, session.store.cache_key))
window.resize(1366, 768)
window.show()
shown = {}
def check():
    if window.caseload.model.rowCount() >= int(sys.argv[5]) and "t" not in shown:
        shown["t"] = time.time() - t0
window.snapshotApplied.connect(check)
freeze_startup_objects()
window.start()
while "t" not in shown and time.time() - t0 < 120:
    app.processEvents()
    time.sleep(0.002)
print("COLD_START", shown.get("t", -1), flush=True)
window.shutdown()
window.services.wait_stopped()
session.close()
"""


def measure_cold_start(home: Path, demo, rows: int) -> float:
    env = dict(os.environ)
    started = time.time()
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, repr(started), str(home), demo.url, demo.password, str(rows)],
        capture_output=True, text=True, timeout=300, env=env, cwd=Path(__file__).resolve().parent.parent,
    )
    for line in child.stdout.splitlines():
        if line.startswith("COLD_START"):
            return round(float(line.split()[1]), 2)
    raise RuntimeError(f"cold start child failed: {child.stderr[-2000:]}")


def run(quick: bool = False) -> dict[str, float | int]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if os.geteuid() == 0 if hasattr(os, "geteuid") else False:
        os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox")
    from maps.scheme import register_app_scheme

    register_app_scheme()
    from PySide6.QtWidgets import QApplication

    from ui.app import tune_runtime  # importing ui applies the PySide6 workaround
    from ui.style import apply_style
    from workstation.demo import DemoServer

    tune_runtime()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_style(app)
    metrics: dict[str, Any] = {}
    metrics.update(measure_filter(app, 7_000, baseline=True))
    metrics.update(measure_filter(app, 100_000, baseline=not quick))
    caseload = 2_000 if quick else 7_000
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir(mode=0o700)
        old_home = os.environ.get("WORKSTATION_HOME")
        os.environ["WORKSTATION_HOME"] = str(home)
        try:
            with DemoServer(caseload=caseload, simulate=True) as demo:
                metrics.update(measure_sync_stall(app, home, demo))
                metrics["cold_start_s"] = measure_cold_start(home, demo, caseload)
        finally:
            if old_home is None:
                os.environ.pop("WORKSTATION_HOME", None)
            else:
                os.environ["WORKSTATION_HOME"] = old_home
    metrics["ui_bench_caseload"] = caseload
    return metrics


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
