"""The GUI entry point: `workstation [--demo] [--screenshot PATH] [--server URL] [--user NAME]`.

Order matters: the map's URL scheme must be registered before QApplication exists; the login
(or, with --demo, the embedded demo server and an automatic login) comes before the main
window; on exit the window stops its timers and threads first, then the session closes the
store, then the demo server is stopped and its temporary data removed.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

SCREENSHOT_TIMEOUT_S = 180.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="workstation", description="Field Workstation (officer GUI)")
    parser.add_argument("--demo", action="store_true",
                        help="start a local reference server with a seeded demo caseload and the device simulator")
    parser.add_argument("--caseload", type=int, default=None, help="demo caseload size (default 7000)")
    parser.add_argument("--screenshot", metavar="PATH",
                        help="with --demo: wait for the caseload, map and first live fixes, save a PNG, exit")
    parser.add_argument("--size", default="1366x768", help="window size WIDTHxHEIGHT (default 1366x768)")
    parser.add_argument("--server", help="agency server URL (overrides the configuration)")
    parser.add_argument("--user", help="username to prefill")
    parser.add_argument("--dark", action="store_true", help="force the dark palette")
    args = parser.parse_args(argv)
    if args.screenshot and not args.demo:
        parser.error("--screenshot needs --demo")
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        args.size = (w, h)
    except ValueError:
        parser.error(f"--size must look like 1366x768, not {args.size!r}")
    return args


def _register_map_scheme() -> None:
    try:
        from maps.scheme import register_app_scheme
    except ImportError:
        return
    register_app_scheme()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.screenshot and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    demo = None
    if args.demo:
        from workstation.demo import DEMO_CASELOAD, DemoError, DemoServer

        print("Starting the demo server (seeding the caseload)…", file=sys.stderr)
        demo = DemoServer(caseload=args.caseload or DEMO_CASELOAD)
        try:
            demo.start()
        except DemoError as exc:
            print(f"workstation --demo: {exc}", file=sys.stderr)
            return 2
    try:
        return _run_gui(args, demo)
    finally:
        if demo is not None:
            demo.stop()


def tune_runtime() -> None:
    """Interpreter settings for a GUI sharing its process with sync threads.

    - Hand the GIL over every 1 ms instead of 5 ms: with sync, live feed and store writer busy in
      worker threads, the GUI thread otherwise waits up to a full interval per Python callback.
    - Collect garbage in bigger, rarer young-generation passes and almost never a full pass:
      measured in `python -m bench ui`, every GUI stall over 100 ms during a 7,000 sync was a
      full (generation 2) collection of 135-170 ms, stopping every thread. These objects are
      acyclic snapshots, freed by reference counting anyway.
    """
    sys.setswitchinterval(0.001)
    gc.set_threshold(50_000, 20, 100)


def freeze_startup_objects() -> None:
    """Move everything alive after start-up (modules, classes, the window) out of the collector's
    reach (gc.freeze), so the passes that still run do not rescan it."""
    gc.collect()
    gc.freeze()


def _run_gui(args: argparse.Namespace, demo) -> int:
    _register_map_scheme()
    tune_runtime()
    from PySide6.QtCore import QSettings, QThreadPool
    from PySide6.QtWidgets import QApplication, QDialog

    from ui import theme
    from ui.login import LoginDialog
    from ui.main_window import MainWindow
    from ui.services import GuiServices
    from ui.style import apply_palette, apply_style
    from workstation.config import ensure_data_dir, load_config

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Field Workstation")
    apply_style(app)
    apply_palette(app, theme.accessible_palette(theme.dark_palette() if args.dark else app.palette()))
    home = ensure_data_dir(create=True) if demo is None else Path(demo.home)
    config = load_config(home=home)
    settings = QSettings(str(home / "ui-state.ini"), QSettings.Format.IniFormat)

    from workstation.session import WorkstationSession

    def login(url: str, user: str, password: str, one_time_code: str | None = None):
        return WorkstationSession.open(config, user, password, server_url=url or None, one_time_code=one_time_code)

    banner = ""
    if demo is not None:
        from workstation.demo import DEMO_PASSWORD, DEMO_USER

        session = login(demo.url, DEMO_USER, DEMO_PASSWORD)
        banner = f"DEMO — signed in as {DEMO_USER} / password {DEMO_PASSWORD} on {demo.url}"
    else:
        dialog = LoginDialog(login, settings)
        if args.server:
            dialog.server.setText(args.server)
        elif config.server_url and not dialog.server.text():
            dialog.server.setText(config.server_url)
        if args.user:
            dialog.username.setText(args.user)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return 1
        session = dialog.session

    window = MainWindow(GuiServices(session), settings=None if args.screenshot else settings, banner=banner,
                        tile_store=open_tile_store(home, config, session.store.cache_key))
    if args.screenshot:
        window.resize(*args.size)
        window.reset_layout()
    window.show()
    window.start()
    # (security) idle lock / Ctrl+L / lock screen: the session locks and unlocks, the window stays
    from ui.lock_screen import install_lock

    locker, lockable = install_lock(session, window, config.lock_timeout_min)
    shooter = None
    if args.screenshot:
        shooter = ScreenshotWhenReady(window, Path(args.screenshot), app)
    freeze_startup_objects()
    rc = app.exec()
    locker.shutdown()
    lockable.wait_closed()  # a lock's session close still running on its worker
    window.shutdown()
    window.services.wait_stopped()
    QThreadPool.globalInstance().waitForDone(30_000)
    session.close()  # after a lock, only the client is left to close
    if shooter is not None:
        return shooter.result
    return rc


def open_tile_store(home: Path, config, cache_key: bytes | None):
    """The map's tile store: the offline map packages of the data directory (imported ones and those
    agency IT preloads with map_packages), the agency tile server (if configured) through a local
    cache, and the bundled Chicago demo basemap when it was built (`make assets`). The cache is
    encrypted with the session's cache key (Store.cache_key): the areas an officer viewed are
    location metadata about the caseload (CJIS SC-28)."""
    try:
        from maps.tiles import TileStore
    except ImportError:
        return None
    return TileStore.for_data_dir(home, tile_url=config.tile_url, preloaded=config.map_packages, cache_key=cache_key)


class ScreenshotWhenReady:
    """Waits until the caseload is shown, the map is ready and live fixes were applied, then
    saves the window as PNG and quits the application."""

    def __init__(self, window, path: Path, app) -> None:
        from PySide6.QtCore import QTimer

        self.window, self.path, self.app = window, path, app
        self.result = 3
        self.started = time.monotonic()
        self.rows = False
        self.live = 0
        self.map_ready = window.map is None or not hasattr(window.map, "ready")
        self.synced = False
        window.syncFinished.connect(self._synced)
        window.snapshotApplied.connect(self._snapshot)
        window.liveApplied.connect(self._live)
        if not self.map_ready:
            window.map.ready.connect(self._map)
        self.timer = QTimer(window)
        self.timer.setInterval(500)
        self.timer.timeout.connect(self._check)
        self.timer.start()

    def _synced(self, _summary) -> None:
        self.synced = True

    def _snapshot(self) -> None:
        # only a snapshot read after the first sync finished shows the whole caseload
        self.rows = self.synced and self.window.caseload.model.rowCount() > 0

    def _live(self, changed: int) -> None:
        self.live += changed

    def _map(self) -> None:
        self.map_ready = True

    def _check(self) -> None:
        waited = time.monotonic() - self.started
        ready = self.rows and self.map_ready and self.live > 0 and self.window._sync_cancel is None
        if not ready and waited < SCREENSHOT_TIMEOUT_S:
            return
        if ready and not hasattr(self, "_settle"):
            # select the top incident's participant so the record pane shows a real case
            self._settle = time.monotonic()
            top = self.window.incidents.model.incidents()
            if top:
                self.window.incidents.table.selectRow(0)
                self.window.show_participant(top[0].participant_id)
            return
        if ready and time.monotonic() - self._settle < 2.0:
            return
        self.timer.stop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ok = self.window.grab().save(str(self.path), "PNG")
        if not ready:
            print(f"screenshot: gave up waiting after {waited:.0f} s (rows={self.rows}, map={self.map_ready}, "
                  f"live fixes={self.live})", file=sys.stderr)
            self.result = 4
        else:
            self.result = 0 if ok else 5
            print(f"screenshot saved to {self.path} after {waited:.1f} s "
                  f"({self.window.caseload.model.rowCount():,} participants, {self.live} live updates)", file=sys.stderr)
        self.window.close()
        self.app.quit()
