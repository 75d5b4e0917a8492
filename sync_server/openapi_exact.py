"""/openapi.json with exact integer limits.

FastAPI validates the document through its own OpenAPI model, whose `minimum`/`maximum` are floats, so
a limit like 2**63 - 1 came out as 9.223372036854776e+18: not an integer, and above what a 64-bit
column holds. The limits are put back as the exact integers the models and parameters declare.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from workstation.protocol import MAX_INT64

#: the integer limits used in the API above 2**53 (below that a float holds an integer exactly)
LARGE_LIMITS = (MAX_INT64, 2**62)
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes,
            )
            app.openapi_schema = exact_integers(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def exact_integers(node: Any) -> Any:
    """The document with every integral float bound of an integer schema turned into an int."""
    exact = {float(v): v for v in LARGE_LIMITS}
    if isinstance(node, list):
        return [exact_integers(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: exact_integers(value) for key, value in node.items()}
    if out.get("type") == "integer":
        for key in _BOUNDS:
            value = out.get(key)
            if isinstance(value, float) and value.is_integer():
                out[key] = exact.get(value, int(value))
    return out
