"""The sync engine: pull (pull.py, apply.py, upsert.py), push (push.py, outbox.py, effects.py),
live feed (live.py), connectivity and scheduling (connectivity.py, scheduler.py, backoff.py),
one sync at a time (engine.py), over one HTTP client (http.py, errors.py). No Qt, no widgets."""
