"""The OsmAnd / Traccar Client HTTP tracking protocol, read the way Traccar's own OsmAnd decoder reads it.

Fields (URL query or form body; the URL wins where both carry a field):
- `id` or `deviceid`: the device serial.
- `timestamp`: Unix seconds, Unix milliseconds (a number past 2^31 - 1, as Traccar decides), ISO-8601,
  or `yyyy-MM-dd HH:mm:ss` (UTC). Missing: the time of receipt.
- `lat` and `lon`, or `location=lat,lon`. Neither, but `cell` or `wifi`: a contact without a position.
- `speed` in knots; `bearing` or `heading`; `altitude` (metres); `accuracy` (metres; 0 is a value);
  `hdop` (kept as hdop, never taken for metres); `batt` (percent); `charge=true` only while plugged in,
  so no `charge` means not charging. A negative speed, bearing or battery means "unknown".
- `valid=false` (the fix is not valid), `mock=true` (a mock location), `alarm=sos`.

The JSON body of the current Traccar Client (`{"location": {"timestamp", "coords": {latitude, longitude,
accuracy, speed (m/s), heading, altitude}, "battery": {"level" (0..1), "is_charging"}, "mock"},
"device_id"}`) is read into the same fields.

Anything malformed raises ValueError or pydantic.ValidationError.

Credentials (`device_credentials`): HTTP Basic (user = serial, password = key), `Authorization: Bearer
KEY`, or a `key` field in the URL or the form, whichever the tracker app can be configured with.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from workstation.protocol import GatewayFix

KNOT_KMH = 1.852
MPS_KMH = 3.6
#: Traccar's rule: a numeric timestamp below 2^31 - 1 is seconds, from there on milliseconds
SECONDS_LIMIT = 2_147_483_647
_TRUE = ("true", "1")


@dataclass(frozen=True)
class Contact:
    """A ping with no position (cell or wifi only): the device is alive, nothing more is known."""

    serial: str
    battery_pct: int | None
    charging: bool


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


def _known(value: float | None) -> float | None:
    """Trackers send -1 (or any negative) for a speed, bearing or battery they do not know."""
    return None if value is None or value < 0 else value


def _timestamp(raw: str | None, now: datetime) -> datetime:
    if raw is None or raw.strip() == "":
        return now.replace(tzinfo=UTC)
    raw = raw.strip()
    if raw.lstrip("-").replace(".", "", 1).isdigit():
        value = float(raw)
        if value >= SECONDS_LIMIT:
            value /= 1000.0
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"timestamp out of range: {raw[:40]}") from None
    text = raw.replace("Z", "+00:00")
    if "T" in text and " " in text:  # an unencoded "+" of an offset arrives as a space
        date_part, _, rest = text.partition("T")
        text = date_part + "T" + rest.replace(" ", "+")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"timestamp must be Unix seconds or milliseconds, ISO-8601 or yyyy-MM-dd HH:mm:ss, got {raw[:40]!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _location(fields: dict[str, str]) -> tuple[float | None, float | None]:
    lat, lon = _number(fields, "lat"), _number(fields, "lon")
    if (lat is None or lon is None) and fields.get("location", "").strip():
        parts = fields["location"].split(",")
        if len(parts) != 2:
            raise ValueError("location must be lat,lon")
        lat, lon = _number({"lat": parts[0]}, "lat"), _number({"lon": parts[1]}, "lon")
    return lat, lon


def parse_osmand(fields: dict[str, str], now: datetime) -> GatewayFix | Contact:
    serial = (fields.get("id") or fields.get("deviceid") or "").strip()
    if not serial:
        raise ValueError("id (device serial) is required")
    batt = _known(_number(fields, "batt"))
    battery = None if batt is None else round(batt)
    charging = fields.get("charge", "").strip().lower() in _TRUE
    lat, lon = _location(fields)
    if lat is None or lon is None:
        if fields.get("cell", "").strip() or fields.get("wifi", "").strip():
            if battery is not None and not 0 <= battery <= 100:
                raise ValueError("batt must be 0..100")
            return Contact(serial, battery, charging)
        raise ValueError("lat and lon (or location=lat,lon) are required")
    speed = _known(_number(fields, "speed"))
    accuracy = _number(fields, "accuracy")
    return GatewayFix(
        serial=serial,
        fix_time=_timestamp(fields.get("timestamp"), now),
        lat=lat,
        lon=lon,
        accuracy_m=10.0 if accuracy is None else accuracy,
        speed_kmh=None if speed is None else speed * KNOT_KMH,
        bearing=_known(_number(fields, "bearing", "heading")),
        altitude_m=_number(fields, "altitude"),
        hdop=_number(fields, "hdop"),
        battery_pct=battery,
        charging=charging,
        valid=fields.get("valid", "true").strip().lower() in _TRUE,
        mock=fields.get("mock", "").strip().lower() in _TRUE,
        event="sos" if fields.get("alarm", "").strip().lower() == "sos" else None,
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def json_fields(body: bytes) -> dict[str, str]:
    """The Traccar Client's JSON body as the fields of an OsmAnd ping (speed converted to knots,
    battery to percent), so one parser judges both."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON") from None
    location = data.get("location") if isinstance(data, dict) else None
    if not isinstance(location, dict):
        raise ValueError('the JSON body must be {"location": {...}, "device_id": ...}')
    coords = location.get("coords") if isinstance(location.get("coords"), dict) else {}
    battery = location.get("battery") if isinstance(location.get("battery"), dict) else {}
    fields = {
        "id": _text(data.get("device_id")),
        "timestamp": _text(location.get("timestamp")),
        "lat": _text(coords.get("latitude")),
        "lon": _text(coords.get("longitude")),
        "accuracy": _text(coords.get("accuracy")),
        "bearing": _text(coords.get("heading")),
        "altitude": _text(coords.get("altitude")),
        "mock": _text(location.get("mock")),
        "charge": _text(battery.get("is_charging")),
    }
    speed = coords.get("speed")
    if isinstance(speed, (int, float)) and not isinstance(speed, bool):
        fields["speed"] = str(speed * MPS_KMH / KNOT_KMH if speed >= 0 else -1)
    level = battery.get("level")
    if isinstance(level, (int, float)) and not isinstance(level, bool):
        fields["batt"] = str(level * 100 if level >= 0 else -1)
    return {k: v for k, v in fields.items() if v is not None}


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
