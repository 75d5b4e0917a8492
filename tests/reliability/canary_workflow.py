"""The disk-canary workflow, run by the canary campaign in its own process.

HOME, the XDG directories, TMPDIR and WORKSTATION_HOME all point inside one directory the
campaign scans afterwards. The workflow is what an officer does in a day: log in (first login
creates the store), full sync, open the GUI main window with the map, select the canary
participant (record + map), search for them, write a note about them, sync it, lock and unlock,
then log out. Prints one JSON line with what it did.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox")
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    from tests.reliability.campaigns import PASSWORD, USER

    name, case_number, url = os.environ["CAMPAIGN_CANARY"], os.environ["CAMPAIGN_CASE"], os.environ["CAMPAIGN_URL"]
    done: dict[str, object] = {}

    from ui.app import _register_map_scheme, open_tile_store

    _register_map_scheme()
    from PySide6.QtCore import QThreadPool
    from PySide6.QtWidgets import QApplication

    from local_db.queries import fts_prefix_query
    from ui.main_window import MainWindow
    from ui.services import GuiServices
    from workstation import actions
    from workstation.config import ensure_data_dir, load_config
    from workstation.session import WorkstationSession

    app = QApplication.instance() or QApplication([sys.argv[0]])
    home = ensure_data_dir()
    config = load_config(home=home)
    session = WorkstationSession.open(config, USER, PASSWORD, server_url=url)
    done["first_sync_ok"] = session.sync_now().ok
    with session.store.read_session() as s:
        from sqlalchemy import select

        from local_db.models import Participant

        pid = s.scalar(select(Participant.id).where(Participant.case_number == case_number))
    done["canary_synced"] = pid is not None

    window = MainWindow(GuiServices(session, auto_sync=False), tile_store=open_tile_store(home, config, session.store.cache_key))
    window.resize(1280, 800)
    window.show()
    window.start()
    _spin(app, lambda: window.caseload.model.rowCount() > 0, 30)
    if window.map is not None and hasattr(window.map, "ready"):
        _spin(app, lambda: bool(window.map.is_ready), 30)
        done["map_ready"] = bool(window.map.is_ready)
    window.show_participant(pid)
    _spin(app, lambda: getattr(window.record, "record", None) is not None, 20)
    window.centre.setCurrentIndex(1)  # the map tab, with the canary selected
    _spin(app, lambda: False, 3)
    done["record_shown"] = getattr(window.record, "record", None) is not None
    done["search_query"] = fts_prefix_query(name) is not None
    window.caseload.search.setText(name)  # the caseload search box, as typed by the officer
    _spin(app, lambda: False, 1)
    done["search_rows"] = window.caseload.proxy.rowCount() if hasattr(window.caseload, "proxy") else None
    actions.add_note(session.store, pid, f"Visited {name} ({case_number}) at home; all well.")
    done["note_sync_ok"] = session.sync_now().ok
    window.shutdown()
    QThreadPool.globalInstance().waitForDone(30_000)
    window.close()
    session.close()  # logout
    app.processEvents()
    done["data_dir_files"] = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    print(json.dumps(done), flush=True)
    return 0


def _spin(app, ready, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not ready():
        app.processEvents()
        time.sleep(0.02)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    raise SystemExit(main())
