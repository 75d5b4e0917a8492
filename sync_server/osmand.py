"""The OsmAnd / Traccar Client HTTP tracking protocol, parsed into a GatewayFix.

Fields (query string or form): `id` (or `deviceid`) = device serial, `lat`, `lon`, `timestamp` (Unix
seconds, Unix milliseconds, or ISO-8601), `speed` (knots, as the Traccar OsmAnd protocol defines it),
`bearing` (or `heading`), `altitude`, `accuracy` (metres), `batt` (percent), `charge` (true/false).
Missing timestamp means "now". Anything malformed raises ValueError or pydantic.ValidationError.

Credentials (`device_credentials`): HTTP Basic (user = serial, password = key), `Authorization: Bearer
KEY`, or a `key` field in the URL or the form, whichever the tracker app can be configured with.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime

from workstation.protocol import GatewayFix

KNOT_KMH = 1.852


def _number(fields: dict[str, str], *names: str) -> float | None:
    for name in names:
        raw = fields.get(name)
        if raw is not None and raw.strip() != "":
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw[:40]!r}") from None
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number")
            return value
    return None


def _timestamp(raw: str | None, now: datetime) -> datetime:
    if raw is None or raw.strip() == "":
        return now.replace(tzinfo=UTC)
    raw = raw.strip()
    if raw.lstrip("-").replace(".", "", 1).isdigit():
        value = float(raw)
        if value > 1e11:  # milliseconds
            value /= 1000.0
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"timestamp out of range: {raw[:40]}") from None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+") if "T" in raw else raw)
    except ValueError:
        raise ValueError(f"timestamp must be Unix seconds or ISO-8601, got {raw[:40]!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_osmand(fields: dict[str, str], now: datetime) -> GatewayFix:
    serial = (fields.get("id") or fields.get("deviceid") or "").strip()
    if not serial:
        raise ValueError("id (device serial) is required")
    lat, lon = _number(fields, "lat"), _number(fields, "lon")
    if lat is None or lon is None:
        raise ValueError("lat and lon are required")
    speed = _number(fields, "speed")
    batt = _number(fields, "batt")
    charge = fields.get("charge")
    return GatewayFix(
        serial=serial,
        fix_time=_timestamp(fields.get("timestamp"), now),
        lat=lat,
        lon=lon,
        accuracy_m=_number(fields, "accuracy", "hdop") or 10.0,
        speed_kmh=None if speed is None else speed * KNOT_KMH,
        bearing=_number(fields, "bearing", "heading"),
        altitude_m=_number(fields, "altitude"),
        battery_pct=None if batt is None else round(batt),
        charging=None if charge is None else charge.strip().lower() in ("1", "true", "yes"),
    )


def device_credentials(fields: dict[str, str], authorization: str | None) -> tuple[str, str | None]:
    """(serial, key) as the request presents them; ("", None) when they contradict each other."""
    serial = (fields.get("id") or fields.get("deviceid") or "").strip()
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return "", None
        if not sep or (serial and user != serial):
            return "", None
        return user, password
    if scheme.lower() == "bearer":
        return serial, value.strip() or None
    return serial, fields.get("key") or None
