"""The server process's collector settings (run in a child: they are process-wide)."""

from __future__ import annotations

import json
import subprocess
import sys

from sync_server.gc_tuning import YOUNG_THRESHOLD


def test_tuning_freezes_the_start_up_heap_and_raises_the_young_threshold():
    code = (
        "import gc, json; from sync_server.gc_tuning import tune_for_serving; import sync_server.app; "
        "before = gc.get_threshold(); tune_for_serving(); "
        "print(json.dumps({'before': before, 'after': gc.get_threshold(), 'frozen': gc.get_freeze_count()}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    out = json.loads(done.stdout)
    assert out["after"] == [YOUNG_THRESHOLD, *out["before"][1:]]
    assert out["frozen"] > 10_000  # the imported server code and its schemas are out of every collection

