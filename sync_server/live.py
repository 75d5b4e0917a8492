"""In-process fan-out of live events (fixes and alerts) to Server-Sent Events subscribers.

Publishers are worker threads (ingestion runs in the threadpool or the simulator thread); subscribers
are coroutines on the event loop. Events are framed by FastAPI's SSE support (fastapi.sse) and sent
as its EventSourceResponse. Each event gets a sequence number; the hub keeps a bounded replay
buffer so a client reconnecting with `?after=SEQ` (or Last-Event-ID) gets what it missed. Sequence
numbers start at the startup time in microseconds, so they keep increasing across server restarts and a
client's old cursor never hides new events. (A production deployment replaces this with a broker such
as NATS JetStream; docs/scaling.md.)
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from fastapi.sse import format_sse_event  # SSE framing: FastAPI's own (its EventSourceResponse's)

#: Asked before each delivery and each heartbeat: None while the subscriber may still read, else the
#: reason the stream must end (sync_server.auth.stream_denial gives the server's answer).
Recheck = Callable[[], Awaitable[str | None]]


#: a stream's first event: how long a client waits before reconnecting (ms)
RETRY_ADVICE = format_sse_event(retry=2000)


def end_event(cursor: int, reason: str) -> bytes:
    """The last SSE event of a stream whose authorisation ended; carries the cursor like a heartbeat."""
    return format_sse_event(data_str=json.dumps({"seq": cursor, "type": "end", "reason": reason}))


class LiveHub:
    def __init__(self, buffer_size: int = 200_000) -> None:
        self._lock = threading.Lock()
        self._seq = int(time.time() * 1_000_000)
        # (seq, officer_id, body): body is JSON text, or a callable that renders it on first read, since
        # most events are never read by anyone (the officer is not connected) and rendering costs.
        self._buffer: deque[list[Any]] = deque(maxlen=buffer_size)
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._closed = False

    @property
    def last_seq(self) -> int:
        return self._seq

    def publish(self, events: Sequence[tuple[str, str | Callable[[], str]]]) -> None:
        """events: (officer_id, JSON object text without its seq, or a function returning it) in order."""
        if not events:
            return
        with self._lock:
            for officer_id, body in events:
                self._seq += 1
                self._buffer.append([self._seq, officer_id, body])
            waiters = list(self._waiters)
        for loop, ev in waiters:
            loop.call_soon_threadsafe(ev.set)

    def since(self, officer_id: str, after: int) -> list[tuple[int, str]]:
        with self._lock:
            if not self._buffer or self._buffer[-1][0] <= after:
                return []
            # The buffer is ordered by seq; walk back from the newest end, the usual case is a few items.
            out = []
            for item in reversed(self._buffer):
                seq, officer, body = item
                if seq <= after:
                    break
                if officer == officer_id:
                    if not isinstance(body, str):
                        body = item[2] = body()
                    out.append((seq, with_seq(seq, body)))
        out.reverse()
        return out

    async def start(self) -> None:
        """Nothing to connect: the hub lives in this process (the cluster's BrokerLive connects here)."""

    def close(self) -> None:
        """Wake every subscriber and make their streams end (server shutdown)."""
        with self._lock:
            self._closed = True
            waiters = list(self._waiters)
        for loop, ev in waiters:
            loop.call_soon_threadsafe(ev.set)

    async def stream(
        self, officer_id: str, after: int, heartbeat_s: float, recheck: Recheck | None = None
    ) -> AsyncIterator[bytes]:
        """SSE events for one subscriber: replay after `after`, then new events, heartbeats when idle.

        `recheck` runs before every delivery and every heartbeat, so a stream authorised at connect
        stops within one heartbeat of a revocation, a disabled account or its token's expiry, and
        nothing is delivered after the check that found it: the stream ends with an `end` event.
        """
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        entry = (loop, wake)
        with self._lock:
            self._waiters.add(entry)
        try:
            cursor = after
            yield RETRY_ADVICE
            while not self._closed:
                wake.clear()
                items = self.since(officer_id, cursor)
                if items and (reason := await denial(recheck)):
                    yield end_event(cursor, reason)
                    return
                for seq, body in items:
                    yield sse_event(seq, body)
                    cursor = seq
                if items:
                    continue
                try:
                    await asyncio.wait_for(wake.wait(), timeout=heartbeat_s)
                except TimeoutError:
                    if reason := await denial(recheck):
                        yield end_event(cursor, reason)
                        return
                    # Carries the subscriber's own cursor: a heartbeat must never move a resume point.
                    yield heartbeat_event(cursor)
        finally:
            with self._lock:
                self._waiters.discard(entry)


def row_event(entity: str, version: int, data: str) -> str:
    """The live event of one changed row ("alert" or "incident") at its server version, `data` being the
    row's wire JSON: what the next pull would bring, sent at once (seq added on delivery)."""
    return f'{{"type":"{entity}","version":{version},"{entity}":{data}}}'


def with_seq(seq: int, body: str) -> str:
    """An event's JSON text (an object without its seq) with the seq put first."""
    return f'{{"seq":{seq},{body[1:]}'


def sse_event(seq: int, text: str) -> bytes:
    """One delivered event: the SSE id is its seq (what Last-Event-ID sends back on a reconnect)."""
    return format_sse_event(data_str=text, id=str(seq))


def heartbeat_event(cursor: int) -> bytes:
    return format_sse_event(data_str=f'{{"seq":{cursor},"type":"heartbeat"}}')


async def denial(recheck: Recheck | None) -> str | None:
    return None if recheck is None else await recheck()
