"""Checks behind `workstation selftest` (the installer's smoke test): the encrypted store works
on this machine and nothing it wrote is readable without the key.

run_store_checks() creates or opens the store in the data directory, writes a row durably and
reads it back, removes it again, asks SQLCipher for its version and an HMAC check of every
page, and looks at the first bytes of every file under the data directory: no file may be a
plaintext SQLite database. Each check is a dict {"name", "ok", "detail"}; the report's "ok"
is true only when every check holds. The map page check (maps.selftest) is merged in by
ui.launcher, which may load Qt widgets; this module may not.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from local_db.errors import StoreError
from local_db.models import Setting
from local_db.store import SQLITE_PLAINTEXT_HEADER, STORE_FILE_NAME, Store, check_data_dir, open_store

SELFTEST_SETTING_KEY = "selftest.probe"
# Bounds the header scan so a huge data directory (tile caches) cannot stall the smoke test.
MAX_FILES_SCANNED = 10_000

Check = dict[str, Any]


def run_store_checks(home: Path, password: str) -> dict[str, Any]:
    checks: list[Check] = []
    report: dict[str, Any] = {"home": str(home), "checks": checks}

    try:
        check_data_dir(home)
    except StoreError as exc:
        checks.append(_check("data_dir", False, str(exc)))
        return _finish(report)
    checks.append(_check("data_dir", True, f"{home} exists and is writable"))

    existed = (home / STORE_FILE_NAME).exists()
    try:
        store = open_store(home, password, create=True)
    except StoreError as exc:
        checks.append(_check("open_store", False, str(exc)))
        return _finish(report)
    try:
        detail = "opened the existing store" if existed else "created a new store"
        if store.backup_made:
            detail += f" (upgraded; backup {store.backup_made})"
        checks.append(_check("open_store", True, detail))
        checks.append(_write_read_back(store))
        checks.extend(_cipher_checks(store, report))
        # while the store is open, so the write-ahead log is on disk and gets checked too
        checks.append(_files_encrypted(home))
    finally:
        store.close()
    return _finish(report)


def merge_checks(report: dict[str, Any], extra: Iterable[tuple[str, Callable[[], dict[str, Any]]]]) -> None:
    """Run further named checks (each returns a dict with 'ok') into `report`; a crash is a failure."""
    for name, check in extra:
        try:
            result = dict(check())
        except Exception as exc:  # noqa: BLE001 - any failure of a check is a failed check, reported
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        ok = bool(result.pop("ok", False))
        error = result.pop("error", None)
        detail = result.pop("detail", None) or error
        if not detail:  # a bare result dict: its values say what was checked
            detail = ", ".join(f"{key}={value}" for key, value in result.items() if value is not None)
        entry = _check(name, ok, str(detail))
        if result:
            entry["data"] = result
        report["checks"].append(entry)
    _finish(report)


def render(report: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(report, indent=2, sort_keys=True, default=str)
    lines = [f"Self-test of {report['home']}"]
    for check in report["checks"]:
        mark = "ok  " if check["ok"] else "FAIL"
        lines.append(f"  [{mark}] {check['name']}: {check['detail']}")
    if report.get("cipher_version"):
        lines.append(f"  SQLCipher {report['cipher_version']}")
    lines.append("All checks passed." if report["ok"] else "Self-test FAILED.")
    return "\n".join(lines)


def _write_read_back(store: Store) -> Check:
    probe = secrets.token_hex(16)

    def put(session: Session) -> None:
        session.merge(Setting(key=SELFTEST_SETTING_KEY, value={"probe": probe}))

    def remove(session: Session) -> None:
        row = session.get(Setting, SELFTEST_SETTING_KEY)
        if row is not None:
            session.delete(row)

    try:
        store.write(put, durable=True)
        with store.read_session() as session:
            value = session.scalar(select(Setting.value).where(Setting.key == SELFTEST_SETTING_KEY))
        store.write(remove)
    except StoreError as exc:
        return _check("write_read_back", False, str(exc))
    if value != {"probe": probe}:
        return _check("write_read_back", False, f"read back {value!r}, expected the probe just written")
    return _check("write_read_back", True, "a durable write was read back intact from another connection")


def _cipher_checks(store: Store, report: dict[str, Any]) -> list[Check]:
    with store.read_session() as session:
        version = session.execute(text("PRAGMA cipher_version")).scalar()
        problems = [row[0] for row in session.execute(text("PRAGMA cipher_integrity_check"))]
    report["cipher_version"] = version
    checks = [
        _check("cipher", bool(version), f"SQLCipher {version}" if version else "SQLCipher is not active"),
        _check(
            "cipher_integrity",
            not problems,
            "every page's HMAC verifies" if not problems else "; ".join(map(str, problems[:5])),
        ),
    ]
    return checks


def _files_encrypted(home: Path) -> Check:
    """No file under the data directory may start with the plaintext SQLite header."""
    scanned: list[str] = []
    plaintext: list[str] = []
    for path in sorted(home.rglob("*")):
        if len(scanned) >= MAX_FILES_SCANNED:
            break
        if not path.is_file() or path.is_symlink():
            continue
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(SQLITE_PLAINTEXT_HEADER))
        except OSError:
            continue
        relative = str(path.relative_to(home))
        scanned.append(relative)
        if head == SQLITE_PLAINTEXT_HEADER:
            plaintext.append(relative)
    if plaintext:
        return _check("files_encrypted", False, "plaintext SQLite file(s): " + ", ".join(plaintext))
    db_files = [name for name in scanned if name.startswith(STORE_FILE_NAME) or name.startswith("backups")]
    return _check(
        "files_encrypted",
        bool(db_files),
        f"{len(scanned)} file(s) checked, none is plaintext SQLite (database files: {', '.join(db_files)})",
    )


def _check(name: str, ok: bool, detail: str) -> Check:
    return {"name": name, "ok": ok, "detail": detail}


def _finish(report: dict[str, Any]) -> dict[str, Any]:
    report["ok"] = bool(report["checks"]) and all(check["ok"] for check in report["checks"])
    return report
