"""A fault-injecting TCP proxy on loopback, in Python (tc netem is unavailable here).

Sits between the workstation and the reference server. Each accepted connection gets a fault
from `policy(connection_number) -> Fault`; faults act on the server's answer, because that is
where a sync client can be hurt without the server noticing:

  pass       forward both ways
  delay      wait `seconds` before forwarding the answer
  truncate   forward the first `nbytes` of the answer, then close (a cut body)
  reset      forward `nbytes`, then abort with a TCP RST (SO_LINGER 0)
  drop       let the request reach the server, read its whole answer, then close without
             sending a byte of it: the lost-ACK case (the server committed, the client never knows)

Faults are per connection, so the client should not keep connections alive (see
no_keepalive_transport), making every request a new connection with its own fault.

Usage:
    with FaultProxy(server_url, policy=random_policy(seed=1, rate=0.5)) as proxy:
        client = ServerClient(proxy.url, ...)
    proxy.enabled = False   # faults off (everything passes)
    proxy.counts            # how many connections got each fault
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

KINDS = ("pass", "delay", "truncate", "reset", "drop")


@dataclass(frozen=True)
class Fault:
    kind: str = "pass"
    seconds: float = 0.0
    nbytes: int = 0


Policy = Callable[[int], Fault]


def random_policy(seed: int, rate: float = 0.5, max_delay_s: float = 0.3) -> Policy:
    """Each connection: a fault with probability `rate`, kinds equally likely."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def policy(_: int) -> Fault:
        with lock:
            if rng.random() >= rate:
                return Fault()
            kind = rng.choice(KINDS[1:])
            return Fault(kind, seconds=rng.uniform(0, max_delay_s), nbytes=rng.randint(0, 400))

    return policy


def no_keepalive_transport():
    import httpx

    return httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))


class FaultProxy:
    def __init__(self, upstream_url: str, policy: Policy | None = None) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.policy = policy or (lambda _: Fault())
        self.enabled = True
        self.counts: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._started = threading.Event()
        self._connections = 0
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        self._started.wait(10)
        self.port = self._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self._started.set()
        self._loop.run_forever()
        self._server.close()
        self._loop.run_until_complete(self._server.wait_closed())
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        fault = self.policy(self._connections) if self.enabled else Fault()
        self.counts[fault.kind] += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        upstream = asyncio.ensure_future(_pipe(client_reader, server_writer))
        try:
            await self._answer(fault, server_reader, client_writer)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the proxy is closing
        finally:
            upstream.cancel()
            server_writer.close()
            if not client_writer.is_closing():
                client_writer.close()

    async def _answer(self, fault: Fault, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sent = 0
        first = True
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            if first and fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            first = False
            if fault.kind == "drop":
                return  # the server has answered (so committed); the client gets nothing
            if fault.kind in ("truncate", "reset") and sent + len(chunk) >= fault.nbytes:
                writer.write(chunk[: max(0, fault.nbytes - sent)])
                await writer.drain()
                if fault.kind == "reset":
                    sock = writer.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.close()
                return
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # the client is done: let the server finish and close its side
    except (ConnectionError, asyncio.CancelledError):
        pass
