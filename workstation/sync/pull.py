"""Pull: stream the officer's change feed into the local store, one transaction per page.

Each page is fetched (compressed), validated whole against protocol.ChangesPage, and only then
applied together with its next_cursor in ONE store transaction; so a crash, a cut or a bad
page leaves the store at the end of the last applied page, and the next pull resumes there.
A page that fails validation is rejected whole: nothing of it is applied, the cursor stays,
the error names the cursor, and PageRejected is raised.

While the writer applies page k, a fetcher thread already downloads and validates page k+1
(a queue of at most two pages), so network, server and disk overlap and memory stays bounded.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from local_db.models import SyncState
from local_db.store import Store
from workstation import protocol as p
from workstation.changes import Changes
from workstation.sync.apply import SYNC_STATE_ID, PageEffect, apply_page, sync_state
from workstation.sync.errors import PageRejected, SyncCancelled
from workstation.sync.http import ServerClient
from workstation.sync.store_tx import without_foreign_keys

log = logging.getLogger(__name__)

CHANGES_PATH = "/v1/sync/changes"
DEFAULT_PAGE_SIZE = 1000
PREFETCH_PAGES = 2


@dataclass
class PullProgress:
    done: int
    total: int
    bytes: int


@dataclass
class PullResult:
    changes_applied: int = 0
    pages: int = 0
    purged_participants: int = 0
    cursor: int = 0
    #: which participants, devices, alerts and incidents the applied pages wrote or deleted
    changed: Changes = field(default_factory=Changes)


def current_cursor(store: Store) -> int:
    with store.read_session() as session:
        state = session.get(SyncState, SYNC_STATE_ID)
        return state.cursor if state is not None else 0


def pull(
    store: Store,
    client: ServerClient,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: Callable[[PullProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> PullResult:
    store.write(lambda s: sync_state(s).cursor)  # make sure the SyncState row exists
    cursor = current_cursor(store)
    result = PullResult(cursor=cursor)
    pulled: list[Changes] = []  # each page's; united once at the end, not page by page (7,000 ids each time)
    pages: queue.Queue[tuple[int, p.ChangesPage] | BaseException | None] = queue.Queue(PREFETCH_PAGES)
    stop = threading.Event()
    fetcher = threading.Thread(
        target=_fetch_pages, args=(client, cursor, page_size, pages, stop), name="sync-pull-fetch", daemon=True
    )
    down_at_start = client.bytes.snapshot()[0]
    fetcher.start()
    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise SyncCancelled("sync cancelled; everything received so far is kept")
            item = pages.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            fetched_at, page = item
            try:
                effect: PageEffect = store.write(
                    without_foreign_keys(partial(apply_page, page=page, expected_cursor=fetched_at))
                )
            except IntegrityError as exc:
                # (security helper) a page that validates but collides with a stored unique key (a
                # case number or device serial now held by another id) was rolled back whole; say so
                # clearly instead of surfacing a raw database error (found by the fuzz campaign).
                raise PageRejected(
                    f"the server sent a change page (cursor {fetched_at}) that conflicts with stored rows "
                    f"({str(exc.orig).splitlines()[0]}); nothing of it was applied",
                    fetched_at,
                ) from None
            result.changes_applied += effect.changes
            result.purged_participants += effect.purged_participants
            pulled.append(effect.changed)
            result.pages += 1
            result.cursor = page.next_cursor
            if progress is not None:
                done = result.changes_applied
                progress(PullProgress(done, done + page.remaining, client.bytes.snapshot()[0] - down_at_start))
            if not page.has_more:
                break
    finally:
        stop.set()
        while fetcher.is_alive():  # unblock a fetcher waiting on a full queue
            try:
                pages.get_nowait()
            except queue.Empty:
                fetcher.join(0.05)
        result.changed = Changes.union(pulled)
    return result


def fetch_page(client: ServerClient, cursor: int, page_size: int) -> p.ChangesPage:
    response = client.request("GET", CHANGES_PATH, params={"cursor": cursor, "limit": page_size})
    try:
        page = p.ChangesPage.model_validate_json(response.content)
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(part) for part in errors[0]["loc"]) if errors else ""
        what = errors[0]["msg"] if errors else str(exc)
        message = (
            f"the server sent a change page (cursor {cursor}) that does not match the protocol "
            f"({exc.error_count()} problem(s), first at {where or 'top level'}: {what}); "
            "nothing of it was applied"
        )
        log.error("rejected change page at cursor %s: %s", cursor, exc)
        raise PageRejected(message, cursor) from None
    if page.changes and page.next_cursor <= cursor:
        log.error("rejected change page at cursor %s: next_cursor %s does not advance", cursor, page.next_cursor)
        raise PageRejected(
            f"the server sent a change page (cursor {cursor}) whose next_cursor does not advance; nothing applied",
            cursor,
        )
    return page


def _fetch_pages(
    client: ServerClient,
    cursor: int,
    page_size: int,
    out: queue.Queue[tuple[int, p.ChangesPage] | BaseException | None],
    stop: threading.Event,
) -> None:
    try:
        while not stop.is_set():
            page = fetch_page(client, cursor, page_size)
            out.put((cursor, page))
            if not page.has_more:
                out.put(None)
                return
            cursor = page.next_cursor
    except BaseException as exc:  # noqa: BLE001 - handed to the applying thread, which re-raises it
        out.put(exc)
