"""The canonical JSON manifest of a packet: every record it shows, in one byte-exact form.

Canonical form: UTF-8 JSON with keys sorted, no insignificant whitespace, non-ASCII kept as is,
floats as Python's shortest round-trip repr, times as UTC ISO-8601 strings ending in `Z`. The same
records always give the same bytes, so anyone holding the attached manifest can recompute the
SHA-256 printed on every page.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from workstation.reports.contents import PacketContents
from workstation.reports.window import utc_iso

MANIFEST_FORMAT = "field-workstation/evidence-packet-manifest/1"
MANIFEST_FILE_NAME = "manifest.json"


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def packet_manifest(contents: PacketContents, map_record: dict[str, Any]) -> dict[str, Any]:
    """The manifest as a dict; `map_record` says how the map was drawn (tiles held, image hash)."""
    return {
        "format": MANIFEST_FORMAT,
        "packet_id": contents.packet_id,
        "generated_at": utc_iso(contents.generated_at),
        "window": contents.window.as_record(),
        "agency": contents.agency,
        "officer": contents.officer,
        "workstation_id": contents.workstation_id,
        "last_sync_at": utc_iso(contents.last_sync_at),
        "participant": contents.participant,
        "devices": contents.devices,
        "zones": contents.zones,
        "appointments": contents.appointments,
        "map": map_record,
        "positions": contents.positions,
        "alerts": contents.alerts,
        "notes": contents.notes,
        "not_held": contents.not_held,
    }
