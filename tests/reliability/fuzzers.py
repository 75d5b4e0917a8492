"""Fuzz targets for the fuzz campaign: change pages, OsmAnd pings, MBTiles files.

Each function returns {"target", "cases", "crashes", "partial_writes", "rejected", "accepted",
"samples"}. Inputs are mutations of real ones (pages fetched from the reference server, a valid
ping, a valid MBTiles file) plus some generated from scratch; every case goes through the real
code path:

- pages: `workstation.sync.pull.pull` against a real encrypted store, its HTTP client fed through
  an httpx transport that answers with the fuzzed bytes (so the client's own fetch, validation
  and apply run). A crash is any exception other than the sync engine's own officer-readable
  errors (SyncError). A partial write is a rejected pull that applied no page (cursor unchanged)
  after which the store's fingerprint (row counts, versions, cursor) differs.
- pings: `sync_server.osmand.parse_osmand`; a crash is anything but ValueError (pydantic's
  ValidationError is one), the error the endpoint turns into 400.
- MBTiles: `maps.tiles.TileStore.import_mbtiles`; a crash is anything but TileStoreError; a partial
  write is a failed import that left a file in the packages directory or a package registered.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
import sqlite3
import string
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

WEIRD_STRINGS = [
    "",
    " ",
    "\x00",
    "NaN",
    "Infinity",
    "-1",
    "1e309",
    "9" * 400,
    "é" * 70,
    "\u202e\u0644\u0627",
    "🚨" * 50,
    "<script>alert(1)</script>",
    "'; DROP TABLE participant; --",
    "x" * 10_001,
    "2026-13-45T99:99:99Z",
    "0001-01-01T00:00:00Z",
    "\ud800" if False else "\ufffd",
]
WEIRD_NUMBERS: list[Any] = [0, -1, 1, 2**31, 2**63, -(2**63), 10**30, 1e308, -1e308, 0.5, 90.0000001, -180.5]


def _weird_value(rng: random.Random) -> Any:
    pick = rng.random()
    if pick < 0.35:
        return rng.choice(WEIRD_STRINGS)
    if pick < 0.65:
        return rng.choice(WEIRD_NUMBERS)
    if pick < 0.75:
        return rng.choice([None, True, False])
    if pick < 0.85:
        return [rng.choice(WEIRD_STRINGS) for _ in range(rng.randint(0, 3))]
    if pick < 0.95:
        return {rng.choice(["id", "x", "entity", "data"]): rng.choice(WEIRD_STRINGS)}
    return "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 40)))


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _get(node: Any, path: tuple) -> Any:
    for part in path:
        node = node[part]
    return node


def mutate_json(doc: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 4)):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return _weird_value(rng)
        path = rng.choice(paths)
        parent = _get(doc, path[:-1])
        key = path[-1]
        op = rng.random()
        if op < 0.45:
            parent[key] = _weird_value(rng)
        elif op < 0.6 and isinstance(parent, dict):
            del parent[key]
        elif op < 0.7 and isinstance(parent, list):
            parent.insert(rng.randint(0, len(parent)), copy.deepcopy(parent[key]))  # duplicate an element
        elif op < 0.8 and isinstance(parent, dict):
            parent[rng.choice(["unknown", "extra_field", "__proto__"])] = _weird_value(rng)
        elif op < 0.9 and key in ("entity", "op"):
            parent[key] = rng.choice(["participant", "device", "zone", "appointment", "alert", "note", "delete",
                                      "upsert", "officer"])  # fmt: skip
        else:
            value = parent[key]
            if isinstance(value, int | float) and not isinstance(value, bool):
                parent[key] = value * rng.choice([-1, 10**6, 0])
            elif isinstance(value, str):
                parent[key] = value * rng.randint(2, 300)
    return doc


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    op = rng.random()
    if op < 0.35 and buf:
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif op < 0.6:
        del buf[rng.randrange(len(buf) + 1) :]
    elif op < 0.8:
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif op < 0.9:
        depth = rng.choice([100, 1_000, 100_000])
        return b"[" * depth + b"]" * (depth if rng.random() < 0.5 else 0)
    else:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    return bytes(buf)


def _result(target: str) -> dict[str, Any]:
    return {"target": target, "cases": 0, "crashes": 0, "partial_writes": 0, "rejected": 0, "accepted": 0,
            "samples": []}  # fmt: skip


def _crash(result: dict[str, Any], case: Any, exc: BaseException) -> None:
    result["crashes"] += 1
    if len(result["samples"]) < 5:
        result["samples"].append(
            {"input": repr(case)[:300], "error": "".join(traceback.format_exception_only(exc)).strip()[:500]}
        )


# --------------------------------------------------------------------------- change pages


def _seed_pages(tmp: Path) -> list[dict[str, Any]]:
    """Real pages from a seeded reference server (fetched over loopback HTTP)."""
    import httpx

    from sync_server.embedded import start_server

    server = start_server(None, tmp_dir=tmp, officers=2, caseload=6, password="pw")
    try:
        token = httpx.post(
            f"{server.url}/v1/auth/token", json={"username": "officer1", "password": "pw", "workstation_id": "fuzz"}
        ).json()["access_token"]
        server.reassign(server.seeded["officers"]["officer1"]["case_numbers"][0], "officer2")  # a tombstone
        pages, cursor = [], 0
        while True:
            page = httpx.get(
                f"{server.url}/v1/sync/changes", params={"cursor": cursor, "limit": 15},
                headers={"Authorization": f"Bearer {token}"},
            ).json()  # fmt: skip
            pages.append(page)
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return pages
    finally:
        server.stop()


class _StaticTokens:
    def access_token(self) -> str:
        return "fuzz"

    def refresh(self, client: Any) -> None:  # a 401 never comes from the fuzz transport
        raise AssertionError("unexpected refresh")


_FINGERPRINT_SQL = "SELECT " + ", ".join(
    ["(SELECT coalesce(max(cursor), -1) FROM sync_state)", "(SELECT count(*) FROM position)"]
    + [
        f"(SELECT count(*) FROM {t}), (SELECT coalesce(sum(version), 0) FROM {t})"
        for t in ("participant", "device", "zone", "appointment", "alert", "note")
    ]
)


def _fingerprint(raw: Any) -> tuple:
    """Row counts, version sums and the cursor, read on a driver connection in autocommit mode
    (each statement sees the latest commit)."""
    return tuple(raw.execute(_FINGERPRINT_SQL).fetchone())


def fuzz_change_pages(cases: int, seed: int = 1) -> dict[str, Any]:
    import logging

    import httpx

    from local_db.store import open_store
    from workstation.sync.apply import sync_state
    from workstation.sync.errors import SyncError
    from workstation.sync.http import ServerClient
    from workstation.sync.pull import current_cursor, pull

    rng = random.Random(seed)
    result = _result("change_pages")
    # every rejected page is logged at ERROR by the client; 100,000 of them would drown the output
    logging.getLogger("workstation").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="fuzz-pages-") as tmp:
        seeds = _seed_pages(Path(tmp))
        home = Path(tmp) / "home"
        home.mkdir()
        store = open_store(home, "fuzz password", create=True)
        body = {"bytes": b""}
        transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body["bytes"]))
        client = ServerClient("http://127.0.0.1:9", tokens=_StaticTokens(), transport=transport)
        store.write(sync_state)  # pull() creates this bookkeeping row on first use; not a page's write
        reader = store.engine.raw_connection()
        try:
            for _ in range(cases):
                cursor = current_cursor(store)
                template = copy.deepcopy(rng.choice(seeds))
                # addressed at the store's cursor, so a page that validates really applies
                template["next_cursor"] = cursor + rng.randint(1, 50)
                template["has_more"] = False
                roll = rng.random()
                if roll < 0.65:
                    case = json.dumps(mutate_json(template, rng)).encode()
                elif roll < 0.9:
                    case = mutate_bytes(json.dumps(template).encode(), rng)
                else:
                    case = json.dumps(_weird_value(rng)).encode()
                result["cases"] += 1
                body["bytes"] = case
                before = _fingerprint(reader)
                try:
                    pull(store, client, page_size=100)  # the client's own path: fetch, validate, apply
                except SyncError:
                    result["rejected"] += 1
                except Exception as exc:  # noqa: BLE001 - that is what is being counted
                    _crash(result, case, exc)
                else:
                    result["accepted"] += 1
                    continue
                # rejected: if no page was applied (cursor unchanged), nothing at all may have changed
                if current_cursor(store) == cursor and _fingerprint(reader) != before:
                    result["partial_writes"] += 1
                    if len(result["samples"]) < 5:
                        result["samples"].append({"input": repr(case)[:300], "error": "partial write"})
        finally:
            reader.close()
            client.close()
            store.close()
    return result


# --------------------------------------------------------------------------- OsmAnd pings

_PING_FIELDS = ("id", "deviceid", "lat", "lon", "timestamp", "speed", "bearing", "heading", "altitude", "accuracy",
                "hdop", "batt", "charge")  # fmt: skip


def fuzz_osmand(cases: int, seed: int = 1) -> dict[str, Any]:
    from sync_server.osmand import parse_osmand

    rng = random.Random(seed)
    result = _result("osmand_pings")
    now = datetime.now(UTC)
    base = {"id": "SN-100001", "lat": "41.8781", "lon": "-87.6298", "timestamp": str(int(now.timestamp())),
            "speed": "1.5", "bearing": "90", "altitude": "180", "accuracy": "8", "batt": "76", "charge": "false"}  # fmt: skip
    for _ in range(cases):
        fields = dict(base)
        for _ in range(rng.randint(1, 5)):
            key = rng.choice(_PING_FIELDS + ("zzz",))
            roll = rng.random()
            if roll < 0.2:
                fields.pop(key, None)
            else:
                value = _weird_value(rng)
                fields[key] = value if isinstance(value, str) else json.dumps(value)
        result["cases"] += 1
        try:
            parse_osmand(fields, now)
        except ValueError:
            result["rejected"] += 1
        except Exception as exc:  # noqa: BLE001
            _crash(result, fields, exc)
        else:
            result["accepted"] += 1
    del result["partial_writes"]  # the parser writes nothing; the metric does not apply
    return result


# --------------------------------------------------------------------------- MBTiles files


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 220, 240)).save(out, "PNG")
    return out.getvalue()


def _valid_mbtiles(path: Path) -> None:
    from maps.tiles import create_mbtiles, write_tiles

    conn = create_mbtiles(path, {"name": "fuzz", "format": "png", "bounds": "-87.7,41.8,-87.6,41.9",
                                 "minzoom": "12", "maxzoom": "13"})  # fmt: skip
    png = _png()
    write_tiles(conn, [(12, 1050, 1522, png), (13, 2101, 3044, png), (13, 2101, 3045, png)])
    conn.commit()
    conn.close()


_SQL_MUTATIONS = [
    "DROP TABLE tiles",
    "DROP TABLE metadata",
    "DELETE FROM tiles",
    "DELETE FROM metadata",
    "UPDATE tiles SET tile_data = X'00'",
    "UPDATE tiles SET tile_data = NULL",
    "UPDATE tiles SET tile_data = '<html>error</html>'",
    "UPDATE tiles SET zoom_level = -1",
    "UPDATE tiles SET zoom_level = 99",
    "UPDATE tiles SET tile_column = -5, tile_row = 9999999",
    "UPDATE metadata SET value = 'nan,nan,nan,nan' WHERE name = 'bounds'",
    "UPDATE metadata SET value = NULL",
    "INSERT OR REPLACE INTO metadata VALUES ('name', '" + "n" * 5000 + "')",
    "INSERT OR REPLACE INTO metadata VALUES ('minzoom', 'abc')",
    "ALTER TABLE tiles RENAME TO t2",
    "CREATE TABLE extra (x); INSERT INTO extra VALUES (1)",
    "UPDATE tiles SET tile_data = zeroblob(3000000)",
]


def fuzz_mbtiles(cases: int, seed: int = 1) -> dict[str, Any]:
    import shutil

    from maps.tiles import TileStore, TileStoreError, inspect_mbtiles

    rng = random.Random(seed)
    result = _result("mbtiles")
    with tempfile.TemporaryDirectory(prefix="fuzz-mbtiles-") as tmp:
        root = Path(tmp)
        valid = root / "valid.mbtiles"
        _valid_mbtiles(valid)
        inspect_mbtiles(valid)  # the unmutated file must import, or every case would be a trivial reject
        original = valid.read_bytes()
        packages = root / "packages"
        store = TileStore(root / "cache.mbtiles")
        candidate = root / "candidate.mbtiles"
        try:
            for i in range(cases):
                if i and i % 200 == 0:  # imported packages hold open files: start a fresh store now and then
                    store.close()
                    shutil.rmtree(packages, ignore_errors=True)
                    store = TileStore(root / "cache.mbtiles")
                candidate.write_bytes(original)
                roll = rng.random()
                if roll < 0.45:
                    with contextlib.closing(sqlite3.connect(candidate)) as conn:
                        with contextlib.suppress(sqlite3.Error):
                            conn.executescript(";".join(rng.sample(_SQL_MUTATIONS, rng.randint(1, 2))))
                            conn.commit()
                else:
                    candidate.write_bytes(mutate_bytes(original, rng))
                result["cases"] += 1
                before_files = sorted(p.name for p in packages.glob("*")) if packages.exists() else []
                before_packages = len(store.packages())
                try:
                    store.import_mbtiles(candidate, packages)
                except TileStoreError:
                    result["rejected"] += 1
                except Exception as exc:  # noqa: BLE001
                    _crash(result, f"case {i}", exc)
                else:
                    result["accepted"] += 1
                    continue
                after_files = sorted(p.name for p in packages.glob("*")) if packages.exists() else []
                if after_files != before_files or len(store.packages()) != before_packages:
                    result["partial_writes"] += 1
        finally:
            store.close()
    return result
