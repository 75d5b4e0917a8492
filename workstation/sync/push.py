"""Push: send the outbox to POST /v1/actions:batch in creation order, in batches.

Per batch: mark the actions `sending` (attempts + 1), send, then record every per-action result
in ONE durable transaction (outbox.apply_results), overlapped with sending the next batch. A lost answer (the server committed, the
response never arrived) leaves the actions `sending`; the next push resends the same ids and
the server answers `duplicate` with the original result, so nothing is applied twice.

A request the server refuses as a whole (4xx: it could not parse the batch) would block every
action behind it, so the batch is split and each action is sent alone; the one the server
refuses is quarantined as rejected with the server's words, and the rest go through.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import ValidationError

from local_db.store import Store
from workstation import protocol as p
from workstation.sync import outbox
from workstation.sync.errors import RequestRefused, ServerFailed, SyncCancelled
from workstation.sync.http import ServerClient

ACTIONS_PATH = "/v1/actions:batch"
DEFAULT_BATCH_SIZE = 200
#: statuses that mean "this request body is wrong" (not "you may not"): split the batch to find the culprit
PAYLOAD_REFUSALS = frozenset({400, 413, 422})
MAX_UNRECORDED = 2


@dataclass
class PushResult:
    sent: int = 0
    counts: outbox.ResultCounts = field(default_factory=outbox.ResultCounts)


def push(
    store: Store,
    client: ServerClient,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> PushResult:
    result = PushResult()
    with store.read_session() as session:
        total = sum(n for state, n in outbox.counts_by_state(session).items() if state in outbox.OPEN_STATES)
    after_seq = 0
    # Results are recorded by the store's writer while the next batch is already on the wire
    # (submit, not write): the writer runs them in submission order, so batch k's results are
    # committed before batch k+1's. At most MAX_UNRECORDED batches wait; all are waited for
    # before push returns (or raises), so a caller never sees a half-recorded push.
    unrecorded: deque[tuple[Future[outbox.ResultCounts], int]] = deque()

    def settle(keep: int) -> None:
        while len(unrecorded) > keep:
            future, sent = unrecorded.popleft()
            result.counts.add(future.result())
            result.sent += sent
            if progress is not None:
                progress(result.sent, total)

    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise SyncCancelled("sync cancelled; actions not yet sent stay queued")
            with store.read_session() as session:
                batch = outbox.next_batch(session, batch_size, after_seq)
            if not batch:
                break
            after_seq = batch[-1].pop("_seq")
            for action in batch:
                action.pop("_seq", None)
            ids = [action["id"] for action in batch]
            store.submit(partial(outbox.mark_sending, ids=ids))
            try:
                answers = send_batch(client, batch)
            except RequestRefused as exc:
                if exc.status not in PAYLOAD_REFUSALS:
                    raise
                answers = [_refused(batch[0], str(exc))] if len(batch) == 1 else _send_one_by_one(client, batch)
            except ServerFailed as exc:
                store.submit(partial(outbox.record_transport_error, ids=ids, error=str(exc)))
                raise
            unrecorded.append((store.submit(partial(outbox.apply_results, results=answers), durable=True), len(batch)))
            settle(MAX_UNRECORDED)
    finally:
        try:
            settle(0)
        finally:
            store.write(lambda s: None)  # a barrier: every submitted write above is committed
    return result


def send_batch(client: ServerClient, actions: list[dict[str, Any]]) -> list[p.ActionResult]:
    body = json.dumps({"actions": actions}, separators=(",", ":")).encode()
    response = client.request("POST", ACTIONS_PATH, body=body)
    try:
        answer = p.ActionBatchResult.model_validate_json(response.content)
    except ValidationError as exc:
        raise ServerFailed(f"the server's answer to a batch of actions is not valid: {exc}", 200) from None
    sent = {action["id"] for action in actions}
    # An answer for an id we did not send is ignored; an id without an answer stays `sending`
    # and is resent next time.
    return [r for r in answer.results if str(r.id) in sent]


def _send_one_by_one(client: ServerClient, batch: list[dict[str, Any]]) -> list[p.ActionResult]:
    answers: list[p.ActionResult] = []
    for action in batch:
        try:
            answers.extend(send_batch(client, [action]))
        except RequestRefused as exc:
            if exc.status not in PAYLOAD_REFUSALS:
                raise
            answers.append(_refused(action, str(exc)))
    return answers


def _refused(action: dict[str, Any], reason: str) -> p.ActionResult:
    return p.ActionResult(id=action["id"], status="rejected", reason=reason)
