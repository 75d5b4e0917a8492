"""/v1/live on a cluster API worker: the officer's LIVE subject read from JetStream.

The rules workers publish each officer's live events to `live.<officer>`; an API worker keeps no
state: a stream is an ordered JetStream consumer on that subject, started where the client's cursor
points (`after=` or Last-Event-ID, an id any API worker gave out), so a client that reconnects to
another worker after one died loses nothing and sees nothing twice. Framing, heartbeats and the
authorisation re-check before every delivery and heartbeat are the all-in-one LiveHub's
(sync_server.live).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import nats.errors
from nats.js.api import ConsumerConfig, DeliverPolicy

from sync_server.cluster import broker
from sync_server.live import RETRY_ADVICE, Recheck, denial, end_event, heartbeat_event, sse_event, with_seq


class BrokerLive:
    #: create_app asks the hub where a stream without a cursor starts; None: at the next event
    last_seq = None

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url
        self._nc: Any = None
        self._js: Any = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._nc = await broker.connect(self.nats_url, "api")
        self._js = self._nc.jetstream()
        await broker.ensure_streams(self._js)

    def close(self) -> None:
        """Streams end at their next wake-up (an event or a heartbeat); the connection closes with the loop."""
        self._closed = True

    def publish(self, events: Sequence[tuple[str, str | Callable[[], str]]]) -> None:
        """Live events raised here rather than by a rules worker (the silence watchdog's alerts), from
        a worker thread: to the officers' LIVE subjects, waiting until the broker stored them."""
        if not events or self._loop is None:
            return
        grouped: dict[str, list[str]] = defaultdict(list)
        for officer_id, body in events:
            grouped[officer_id].append(body if isinstance(body, str) else body())
        asyncio.run_coroutine_threadsafe(self._publish(grouped), self._loop).result(timeout=60)

    async def _publish(self, grouped: dict[str, list[str]]) -> None:
        await asyncio.gather(*(
            self._js.publish(broker.live_subject(officer_id), "\n".join(bodies).encode(), timeout=30)
            for officer_id, bodies in grouped.items()
        ))

    async def stream(
        self, officer_id: str, after: int | None, heartbeat_s: float, recheck: Recheck | None = None
    ) -> AsyncIterator[bytes]:
        # subscribed before the first line, so everything published after a client saw it reaches it
        subscription, cursor = await self._subscribe(officer_id, after)
        skip_through = cursor
        try:
            yield RETRY_ADVICE
            while not self._closed:
                try:
                    message = await subscription.next_msg(timeout=heartbeat_s)
                except (nats.errors.TimeoutError, TimeoutError):
                    if reason := await denial(recheck):
                        yield end_event(cursor, reason)
                        return
                    yield heartbeat_event(cursor)
                    continue
                if reason := await denial(recheck):
                    yield end_event(cursor, reason)
                    return
                first = message.metadata.sequence.stream
                for index, body in enumerate(message.data.decode().split("\n")):
                    seq = broker.live_seq(first, index)
                    if seq <= skip_through:
                        continue
                    yield sse_event(seq, with_seq(seq, body))
                    cursor = seq
        finally:
            await asyncio.shield(self._unsubscribe(subscription))

    async def _subscribe(self, officer_id: str, after: int | None) -> tuple[Any, int]:
        """An ordered consumer from the message holding the event after `after` (0: everything held);
        returns it and the cursor. Without a cursor, or with one this broker never gave out, the stream
        starts after the newest message, and that position is the cursor heartbeats carry, so a client
        that reconnects before its first event still resumes where it was."""
        last = (await self._js.stream_info(broker.LIVE_STREAM)).state.last_seq
        if after is None or broker.split_live_seq(after)[0] > last:
            after = broker.live_seq(last, broker.LIVE_SLOTS - 1)
        stream_seq = broker.split_live_seq(after)[0]
        config = ConsumerConfig(inactive_threshold=30)
        policy = DeliverPolicy.ALL
        if stream_seq > 0:
            policy, config.opt_start_seq = DeliverPolicy.BY_START_SEQUENCE, stream_seq
        subscription = await self._js.subscribe(
            broker.live_subject(officer_id), stream=broker.LIVE_STREAM, ordered_consumer=True,
            deliver_policy=policy, config=config,
        )
        return subscription, after

    @staticmethod
    async def _unsubscribe(subscription: Any) -> None:
        try:
            await subscription.unsubscribe()
        except nats.errors.Error:
            pass  # the connection is gone: the broker drops the consumer after inactive_threshold
