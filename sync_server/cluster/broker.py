"""NATS JetStream as the cluster's broker: streams, subjects and message formats.

FIXES (subjects `fixes.<partition>`): fix batches from the receivers. A device's partition is a hash of
its serial, so all of one device's fixes are on one subject, in the order the broker stored them; a
rules worker owns a set of partitions. Messages carry a `Nats-Msg-Id` derived from their content, so a
client's retry of the same request within the duplicate window is stored once, and rules workers
record the ids they applied (sync_server.cluster.rules).

LIVE (subjects `live.<officer>`): live events of one officer, several per message (one message per
officer per rules batch), in the text the all-in-one server's LiveHub serves. An SSE event id is
`stream sequence * LIVE_SLOTS + index in the message`: increasing, and enough to resume at any API worker.

Both streams are limits-based (messages stay until they age out), stored on disk.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from datetime import datetime

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from pydantic import BaseModel

from workstation.protocol import GatewayFix

FIX_STREAM, LIVE_STREAM = "FIXES", "LIVE"
DEFAULT_PARTITIONS = 16
FIX_RETENTION_S = 24 * 3600  # covers a rules worker down for a day
LIVE_RETENTION_S = 3600  # resume buffer of the live streams; older gaps are filled by the change feed
DUPLICATE_WINDOW_S = 600
LIVE_SLOTS = 1 << 16  # events per LIVE message at most; SSE id = stream seq * LIVE_SLOTS + index
LIVE_MESSAGE_BYTES = 512 * 1024  # per LIVE message: under nats-server's default max_payload (1 MiB)
MSG_ID = "Nats-Msg-Id"
_SUBJECT_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,200}")


class ContactPing(BaseModel):
    """A ping with no position (cell or wifi only): the device is alive, with its power state."""

    serial: str
    battery_pct: int | None = None
    charging: bool = False


class FixBatch(BaseModel):
    """One FIXES message: fixes of one partition from one request, with the receiver's receipt time."""

    received_at: datetime
    fixes: list[GatewayFix]
    #: provenance of the fixes: how they reached the receiver ("osmand", "gateway:NAME")
    via: str = ""
    #: position-less pings (they count as contact; no position is stored)
    contacts: list[ContactPing] = []


def partition_of(serial: str, partitions: int) -> int:
    return zlib.crc32(serial.encode()) % partitions


def fix_subject(partition: int) -> str:
    return f"fixes.{partition}"


def partition_of_subject(subject: str) -> int:
    return int(subject.rsplit(".", 1)[1])


def live_subject(officer_id: str) -> str:
    # officer ids are ours, but a subject token must not contain '.', '*', '>' or spaces
    token = officer_id if _SUBJECT_TOKEN.fullmatch(officer_id) else "x" + officer_id.encode().hex()
    return f"live.{token}"


def content_id(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:40]


def encode_fixes(fixes: list[GatewayFix], received_at: datetime, via: str = "") -> tuple[bytes, str]:
    """A FIXES message body and its id (from the fixes alone: a retried request gets the same id)."""
    body = FixBatch(received_at=received_at, fixes=fixes, via=via).model_dump_json(exclude_defaults=True).encode()
    return body, content_id(*(fix.model_dump_json().encode() for fix in fixes))


def encode_contact(contact: ContactPing, received_at: datetime) -> tuple[bytes, str]:
    """A FIXES message of one position-less ping and its id (a retry within the same second is one)."""
    body = FixBatch(received_at=received_at, fixes=[], contacts=[contact]).model_dump_json(exclude_defaults=True)
    return body.encode(), content_id(contact.model_dump_json().encode(), received_at.strftime("%Y%m%dT%H%M%S").encode())


def decode_fixes(data: bytes) -> FixBatch:
    return FixBatch.model_validate_json(data)


def live_messages(bodies: list[str]) -> list[tuple[int, bytes]]:
    """One officer's live events as LIVE message bodies (newline-separated), each of at most LIVE_SLOTS
    events and LIVE_MESSAGE_BYTES (an event larger than that alone), with the index of its first event.
    The same events always split the same way, so a re-publish from the outbox repeats the message ids."""
    encoded = [body.encode() for body in bodies]
    messages: list[tuple[int, bytes]] = []
    start, size = 0, 0
    for index, body in enumerate(encoded):
        if index > start and (size + len(body) + 1 > LIVE_MESSAGE_BYTES or index - start == LIVE_SLOTS):
            messages.append((start, b"\n".join(encoded[start:index])))
            start, size = index, 0
        size += len(body) + 1
    if start < len(encoded):
        messages.append((start, b"\n".join(encoded[start:])))
    return messages


def live_seq(stream_seq: int, index: int) -> int:
    return stream_seq * LIVE_SLOTS + index


def split_live_seq(seq: int) -> tuple[int, int]:
    return divmod(seq, LIVE_SLOTS)


async def connect(url: str, name: str, **options: object) -> NATS:
    return await nats.connect(
        url, name=name, connect_timeout=2, reconnect_time_wait=0.5, max_reconnect_attempts=-1, **options
    )


def stream_configs() -> list[StreamConfig]:
    common = {
        "retention": RetentionPolicy.LIMITS, "storage": StorageType.FILE, "discard": DiscardPolicy.OLD,
        "duplicate_window": DUPLICATE_WINDOW_S,
    }
    return [
        StreamConfig(name=FIX_STREAM, subjects=["fixes.*"], max_age=FIX_RETENTION_S, **common),
        StreamConfig(name=LIVE_STREAM, subjects=["live.*"], max_age=LIVE_RETENTION_S, **common),
    ]


async def ensure_streams(js: JetStreamContext) -> None:
    """Create both streams, or bring an existing one to this configuration (every role calls it)."""
    for config in stream_configs():
        try:
            await js.add_stream(config)
        except BadRequestError:  # exists with another configuration
            await js.update_stream(config)
