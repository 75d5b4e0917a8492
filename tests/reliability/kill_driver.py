"""Child side of the kill -9 campaign (tests/reliability/kill.py starts it as a subprocess).

It imports everything once and then, for each run, forks a child that opens the store and
syncs (push + pull) while this process SIGKILLs it after a random delay, so kills land at random
points of the pull and push (inside page transactions, between a batch and its results, ...).
Between runs it queues new notes (each durable before it is counted as queued) and now and then
rewinds the pull cursor to 0 so that full pulls get killed too. Finally one unkilled sync runs
and `PRAGMA integrity_check` is read. The report is one JSON line on stdout.

Forking is safe here because this process holds no threads and no open database at fork time
(the store is opened and closed around each step). Inputs come from the environment:
KILL_URL, KILL_HOME, KILL_KEY (hex data key, so no PBKDF2 per run), KILL_PASSWORD, KILL_KILLS (how many kills to land),
KILL_SEED, KILL_MAX_DELAY_S (a floor; the delay range is calibrated on a measured sync).
"""

from __future__ import annotations

import gc
import json
import os
import random
import signal
import sys
import time
from pathlib import Path

from sqlalchemy import select, text, update

from local_db.models import Participant, SyncState
from local_db.store import open_store_with_key
from workstation import actions
from workstation.auth import Auth
from workstation.sync.engine import SyncEngine
from workstation.sync.http import ServerClient


def _sync_once(home: Path, key: bytes, url: str, auth: Auth) -> bool:
    store = open_store_with_key(home, key)
    try:
        with ServerClient(url, tokens=auth) as client:
            return SyncEngine(store, client, page_size=10, batch_size=5).sync().ok
    finally:
        store.close()


def main() -> int:
    env = os.environ
    url, home, key = env["KILL_URL"], Path(env["KILL_HOME"]), bytes.fromhex(env["KILL_KEY"])
    kills_wanted, rng = int(env["KILL_KILLS"]), random.Random(int(env["KILL_SEED"]))
    max_delay = float(env.get("KILL_MAX_DELAY_S", "0.4"))
    auth = Auth("officer1", "kill-campaign")
    with ServerClient(url, tokens=auth) as client:
        auth.login(client, env["KILL_PASSWORD"])
    # Calibrate: how long does one unkilled sync child take, from fork to exit, with a full pull
    # and with a delta? Each kill delay is drawn over the span of its kind of run, so kills land
    # in store opening, push and pull alike, and some runs finish.
    def timed_child(rewind: bool) -> float:
        store = open_store_with_key(home, key)
        if rewind:
            store.write(lambda s: s.execute(update(SyncState).values(cursor=0)))
        store.close()
        began = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os._exit(0 if _sync_once(home, key, url, auth) else 3)
        os.waitpid(pid, 0)
        return time.monotonic() - began

    # Objects that exist now are moved out of the collector's reach: otherwise the first
    # collection in each child touches the whole inherited heap and copies it (copy-on-write).
    gc.freeze()
    full_span = max(timed_child(True) for _ in range(2))
    delta_span = max(timed_child(False) for _ in range(2))
    queued: list[str] = []
    killed = finished = rewinds = 0
    run = 0
    while killed < kills_wanted and run < 3 * kills_wanted:
        run += 1
        store = open_store_with_key(home, key)
        try:
            with store.read_session() as session:
                cases = list(session.scalars(select(Participant.case_number)))
            for k in range(rng.randint(0, 4) if cases else 0):
                queued.append(actions.add_note(store, rng.choice(cases), f"kill-{run}-{k}"))
            rewind = rng.random() < 0.4
            if rewind:
                store.write(lambda s: s.execute(update(SyncState).values(cursor=0)))
                rewinds += 1
        finally:
            store.close()
        pid = os.fork()
        if pid == 0:  # child: sync and exit without running any parent cleanup
            code = 0
            try:
                code = 0 if _sync_once(home, key, url, auth) else 3
            except BaseException:  # noqa: BLE001 - the exit code is the report
                code = 4
            os._exit(code)
        # 0.9 of the span: most runs die somewhere inside the sync, a few (fast ones) finish
        time.sleep(rng.uniform(0, max(max_delay, 0.9 * (full_span if rewind else delta_span))))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            killed += 1
        else:
            finished += 1
    final_ok = _sync_once(home, key, url, auth)
    store = open_store_with_key(home, key)
    try:
        with store.read_session() as session:
            integrity = session.execute(text("PRAGMA integrity_check")).scalar()
    finally:
        store.close()
    print(json.dumps({"queued": queued, "runs": run, "killed": killed, "finished_before_kill": finished,
                      "cursor_rewinds": rewinds, "full_sync_span_s": round(full_span, 3), "delta_sync_span_s": round(delta_span, 3), "final_sync_ok": final_ok, "integrity_check": integrity}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
