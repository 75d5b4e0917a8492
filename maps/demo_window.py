"""`python -m maps.demo_window [--devices N] [--screenshots DIR]`: the map alone, with N fake devices moving
around central Chicago on the demo basemap, a participant's zones and track, and the device list beside it.

With --screenshots it saves city-zoom, street-zoom and track-playback PNGs to DIR and exits (used for the
docs; works offscreen with QT_QPA_PLATFORM=offscreen).
"""

from __future__ import annotations

import argparse
import io
import logging
import math
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from maps.scheme import register_app_scheme

# the seeded demo caseload area
SOUTH, NORTH, WEST, EAST = 41.86, 41.90, -87.66, -87.61


def fake_devices(n: int, rng: random.Random, now: datetime) -> list[dict]:
    states = ["ok"] * 30 + ["incident", "stale", "stale", "no_fix"]
    out = []
    for i in range(n):
        state = rng.choice(states)
        age = rng.uniform(0, 90) if state == "ok" else rng.uniform(900, 7200)
        out.append(
            {
                "device_id": f"dev-{i:05d}",
                "participant_id": f"p-{i:05d}",
                "label": f"Participant {i:05d}",
                "lat": rng.uniform(SOUTH, NORTH),
                "lon": rng.uniform(WEST, EAST),
                "fix_time": (now - timedelta(seconds=age)).isoformat(),
                "accuracy_m": rng.choice([5, 8, 12, 20, 35, 60, 150]),
                "state": state,
            }
        )
    return out


def fake_track(rng: random.Random, now: datetime) -> tuple[list[dict], list[dict]]:
    """A day: home, a walk to work with a stop, a drift fix, an impossible jump, back home."""
    home = (41.8790, -87.6470)
    work = (41.8850, -87.6280)
    positions = []
    t = now - timedelta(hours=10)
    pid = 0

    def fix(lat, lon, flags=()):
        nonlocal pid, t
        positions.append({"id": pid, "fix_time": t.isoformat(), "lat": lat, "lon": lon,
                          "accuracy_m": rng.uniform(5, 25), "flags": list(flags)})
        pid += 1

    for _ in range(25):  # at home for 25 min
        fix(home[0] + rng.gauss(0, 0.00005), home[1] + rng.gauss(0, 0.00005))
        t += timedelta(minutes=1)
    for k in range(1, 41):  # walk along streets (east, then north)
        f = k / 40
        lat = home[0] + (work[0] - home[0]) * max(0, f * 2 - 1)
        lon = home[1] + (work[1] - home[1]) * min(1, f * 2)
        fix(lat + rng.gauss(0, 0.00003), lon + rng.gauss(0, 0.00003),
            ["drift"] if k == 12 else (["impossible_speed"] if k == 27 else []))
        t += timedelta(minutes=1)
    for _ in range(45):  # at work
        fix(work[0] + rng.gauss(0, 0.00005), work[1] + rng.gauss(0, 0.00005))
        t += timedelta(minutes=2)
    positions[60 + 12]["lat"] += 0.004  # the drift fix is visibly off
    alerts = [{"lat": positions[66]["lat"], "lon": positions[66]["lon"], "kind": "zone_exit", "severity": "high",
               "opened_at": positions[66]["fix_time"]}]
    return positions, alerts


def fake_zones() -> list[dict]:
    return [
        {"id": "z-home", "name": "Home (curfew)", "kind": "inclusion", "shape": "circle",
         "center_lat": 41.8790, "center_lon": -87.6470, "radius_m": 120,
         "schedule": [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "21:00", "end": "06:00"}]},
        {"id": "z-school", "name": "School exclusion", "kind": "exclusion", "shape": "polygon",
         "polygon": [[41.8815, -87.6400], [41.8835, -87.6400], [41.8835, -87.6360], [41.8815, -87.6360]],
         "schedule": [], "active_now": True},
    ]


def save_png(pixmap, path: Path) -> None:
    """PNG for the docs, reduced to a 256-colour palette only when it would exceed ~390 KB."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    pixmap.save(buffer, "PNG")
    image = Image.open(io.BytesIO(bytes(buffer.data().data()))).convert("RGB")
    image.save(path, optimize=True)
    if path.stat().st_size > 390_000:
        image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Field map demo window")
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    register_app_scheme()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter

    from maps.asset_paths import basemap_path
    from maps.device_list import DeviceListWidget
    from maps.tiles import TileStore
    from maps.view import MapView

    app = QApplication(sys.argv[:1])
    rng = random.Random(42)
    now = datetime.now(UTC)
    tmp = tempfile.TemporaryDirectory(prefix="map-demo-")
    store = TileStore(Path(tmp.name) / "cache.mbtiles",
                      packages=[basemap_path()] if basemap_path().exists() else [])
    window = QMainWindow()
    window.setWindowTitle("Field map demo")
    view = MapView(store)
    device_list = DeviceListWidget(view)
    splitter = QSplitter()
    splitter.addWidget(view)
    splitter.addWidget(device_list)
    splitter.setSizes([1000, 360])
    window.setCentralWidget(splitter)
    window.resize(1360, 820)
    devices = fake_devices(args.devices, rng, now)
    view.set_devices(devices)

    def move_some() -> None:
        t = datetime.now(UTC).isoformat()
        moved = []
        for d in rng.sample(devices, k=max(1, len(devices) // 8)):
            if d["state"] in ("ok", "incident"):
                heading = rng.uniform(0, 2 * math.pi)
                d["lat"] += 0.0002 * math.sin(heading)
                d["lon"] += 0.0003 * math.cos(heading)
                d["fix_time"] = t
                moved.append(dict(d))
        view.update_devices(moved)

    mover = QTimer(window)
    mover.timeout.connect(move_some)
    mover.start(1000)

    if args.screenshots is None:
        view.show_zones(fake_zones())
        window.show()
        code = app.exec()
        view.shutdown()
        store.close()
        return code

    out = args.screenshots
    out.mkdir(parents=True, exist_ok=True)
    window.show()
    positions, alerts = fake_track(rng, now)
    target = devices[len(devices) // 2]

    def shoot(name: str) -> None:
        # Offscreen, a QWebEngineView hands out its last delivered frame; ask for a fresh one first.
        view.web_view.update()
        QTimer.singleShot(1200, lambda: save_png(view.grab(), out / name))

    steps = [
        (5000, lambda: view.evaluate("FieldMap.map.panBy([1, 0], {animate: false}); 1")),
        (1500, lambda: None),
        (0, lambda: shoot("map-city-zoom.png")),
        (1400, lambda: None),
        (0, lambda: view.select_participant(target["participant_id"])),
        (300, lambda: view.evaluate(
            f"FieldMap.map.setView([{target['lat']}, {target['lon']}], 16, {{animate: false}}); 1")),
        (4000, lambda: None),
        (0, lambda: shoot("map-street-zoom.png")),
        (1400, lambda: None),
        (0, lambda: (mover.stop(), view.set_devices([]), view.select_participant(""), view.show_zones(fake_zones()),
                     view.show_track(positions, alerts))),
        (2500, lambda: view.evaluate("FieldMap.seekTrackFraction(0.33); FieldMap.playTrack(60); 1")),
        (3000, lambda: None),
        (0, lambda: shoot("map-track-playing.png")),
        (1600, app.quit),
    ]

    def run_steps(index: int = 0) -> None:
        # each step waits its delay, then acts (tiles and the canvas need a moment to paint offscreen)
        steps[index][1]()
        if index + 1 < len(steps):
            QTimer.singleShot(steps[index + 1][0], lambda: run_steps(index + 1))

    view.ready.connect(lambda: QTimer.singleShot(steps[0][0], run_steps))
    code = app.exec()
    mover.stop()
    view.shutdown()
    store.close()
    print("\n".join(str(p) for p in sorted(out.glob("map-*.png"))))
    return code


if __name__ == "__main__":
    sys.exit(main())
