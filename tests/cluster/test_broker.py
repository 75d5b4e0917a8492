"""The broker the cluster runs on: a real nats-server with JetStream, started by the project."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sync_server.cluster import broker
from sync_server.cluster.natsd import NatsServer, nats_server_version
from workstation.protocol import GatewayFix


def test_nats_server_comes_from_the_project_and_has_jetstream(nats_server):
    assert nats_server_version().startswith("nats-server: v2.")

    async def scenario() -> None:
        nc = await broker.connect(nats_server.url, "test")
        try:
            info = await nc.jetstream().account_info()
            assert info.limits is not None
        finally:
            await nc.close()

    asyncio.run(scenario())


def test_a_stored_fix_batch_survives_a_broker_restart_and_a_retry_is_stored_once(tmp_path):
    store = tmp_path / "nats"
    fix = {"serial": "SN1", "fix_time": "2026-03-02T12:00:00+00:00", "lat": 41.9, "lon": -87.6}
    body, msg_id = broker.encode_fixes([GatewayFix.model_validate(fix)], datetime(2026, 3, 2, 12, 0, 1))

    async def publish(url: str) -> tuple[int, bool]:
        nc = await broker.connect(url, "test")
        try:
            js = nc.jetstream()
            await broker.ensure_streams(js)
            ack = await js.publish(broker.fix_subject(3), body, headers={broker.MSG_ID: msg_id})
            return ack.seq, bool(ack.duplicate)
        finally:
            await nc.close()

    async def read_back(url: str) -> bytes:
        nc = await broker.connect(url, "test")
        try:
            js = nc.jetstream()
            await broker.ensure_streams(js)  # idempotent on an existing stream
            return (await js.get_msg(broker.FIX_STREAM, 1)).data
        finally:
            await nc.close()

    with NatsServer(store) as server:
        assert asyncio.run(publish(server.url)) == (1, False)
        assert asyncio.run(publish(server.url)) == (1, True)  # same content: the broker drops the retry
        port = server.port
    with NatsServer(store, port=port) as server:
        stored = broker.decode_fixes(asyncio.run(read_back(server.url)))
    assert [f.serial for f in stored.fixes] == ["SN1"]
    assert stored.received_at == datetime(2026, 3, 2, 12, 0, 1)


def test_a_rounds_live_events_beyond_a_broker_message_go_in_several_that_it_accepts(nats_server):
    bodies = [f'{{"type":"fix","n":{i},"pad":"{"x" * 400}"}}' for i in range(3000)]  # ~1.2 MB for one officer
    messages = broker.live_messages(bodies)
    assert len(messages) == 3 and messages == broker.live_messages(bodies)  # the same ids on a re-publish
    assert all(len(data) <= broker.LIVE_MESSAGE_BYTES for _, data in messages)
    assert [body for _, data in messages for body in data.decode().split("\n")] == bodies
    assert [first for first, _ in messages] == [0, *(first + len(data.split(b"\n")) for first, data in messages[:-1])]

    async def scenario() -> None:
        nc = await broker.connect(nats_server.url, "test")
        try:
            js = nc.jetstream()
            await broker.ensure_streams(js)
            for first, data in messages:
                await js.publish(broker.live_subject("off1"), data, headers={broker.MSG_ID: f"round:off1:{first}"})
            assert (await js.stream_info(broker.LIVE_STREAM)).state.messages == len(messages)
        finally:
            await nc.close()

    asyncio.run(scenario())
