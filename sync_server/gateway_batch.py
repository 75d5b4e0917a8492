"""The body of POST /v1/ingest/fixes, read so that one bad fix never fails its neighbours.

The body as a whole must be a JSON object `{"fixes": [...]}` with 1 to 5,000 entries (else the request
is refused). Each entry is then a GatewayFix on its own: an entry that is not (a missing field, a
latitude of 91, an unknown field) becomes a refusal in its own slot of the answer, and the others go
on. A well-formed batch takes one fast path (the whole body validated at once, in pydantic's core).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from workstation.protocol import FixOutcome, GatewayBatch, GatewayFix

MAX_FIXES = 5_000
_FIX = TypeAdapter(GatewayFix)


class BatchError(ValueError):
    """The body as a whole is unusable (not JSON, not an object with a list of fixes)."""


def describe(errors: Any) -> str:
    """pydantic errors as one line: where and what, for at most five of them."""
    parts = []
    for err in list(errors)[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def parse_batch(body: bytes) -> list[GatewayFix | FixOutcome]:
    try:
        return list(GatewayBatch.model_validate_json(body).fixes)
    except ValidationError:
        pass  # find out which entries are bad, below
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise BatchError("the body is not JSON") from None
    if not isinstance(data, dict) or set(data) != {"fixes"} or not isinstance(data["fixes"], list):
        raise BatchError('the body must be {"fixes": [...]}')
    entries = data["fixes"]
    if not 1 <= len(entries) <= MAX_FIXES:
        raise BatchError(f"a batch holds 1 to {MAX_FIXES} fixes, not {len(entries)}")
    out: list[GatewayFix | FixOutcome] = []
    for entry in entries:
        try:
            out.append(_FIX.validate_python(entry))
        except ValidationError as exc:
            out.append(FixOutcome(status="rejected", error="invalid_fix", detail=describe(exc.errors())[:500]))
        except (ValueError, OverflowError, RecursionError) as exc:
            out.append(FixOutcome(status="rejected", error="invalid_fix", detail=str(exc)[:200]))
    return out
