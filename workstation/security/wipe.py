"""Crypto-wipe (CJIS SC-12, MP-6, 5.13.2 remote wipe / auto-wipe after N failures).

The database is encrypted with a random data key that exists on disk only wrapped inside
keys.json. Destroying every wrapped copy makes the database (and any copy of it, a backup, a
file carver's find on an SSD) undecryptable, whatever password is tried: the password only ever
unwrapped the key, it never derived it. That is why key destruction, not overwriting the data,
is the sanitisation that works on SSDs (MP-6); the data files are deleted as well.

Steps: overwrite each key file three times with random bytes and fsync (MP-6 asks for >= 3
passes; on flash this is best effort, the unlink plus the random-key design is what counts),
unlink it; delete every other file under the data directory (database, WAL, SHM, tile caches,
temp files) and the extra directories given (the QtWebEngine storage, the app temp dir); then
leave a WIPED.json notice holding only the time and the reason, so the next start can tell the
officer what happened without holding any caseload data.

The caller closes the store first (open SQLite handles would keep deleted inodes alive).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from local_db.atomic import fsync_dir

NOTICE_NAME = "WIPED.json"
KEY_FILE_GLOBS = ("keys.json", "keys.json.*", "*.keys.json", "keys*.tmp")
OVERWRITE_PASSES = 3


@dataclass(frozen=True)
class WipeReport:
    reason: str
    wiped_at: str
    key_files_destroyed: int
    files_deleted: int

    def message(self) -> str:
        return (
            f"This workstation's local data was erased at {self.wiped_at} ({self.reason}). "
            "Nothing of the caseload remains on this computer. Contact your administrator to re-enrol."
        )


def _overwrite_and_unlink(path: Path) -> None:
    try:
        size = path.stat().st_size
        with open(path, "r+b", buffering=0) as handle:
            for _ in range(OVERWRITE_PASSES):
                handle.seek(0)
                handle.write(secrets.token_bytes(max(size, 1)))
                os.fsync(handle.fileno())
    finally:
        path.unlink(missing_ok=True)


def key_files(data_dir: Path, keyfile: Path | None = None) -> list[Path]:
    found = {p for pattern in KEY_FILE_GLOBS for p in data_dir.glob(pattern) if p.is_file()}
    if keyfile is not None and keyfile.is_file():
        found.add(keyfile)
    return sorted(found)


def crypto_wipe(
    data_dir: Path,
    reason: str,
    keyfile: Path | None = None,
    extra_dirs: Iterable[Path] = (),
) -> WipeReport:
    """Destroy the wrapped keys, then delete the data files; returns what was done."""
    data_dir = Path(data_dir)
    keys = key_files(data_dir, keyfile)
    # Keys first: if anything below fails (a file in use on Windows), the data is already
    # undecryptable.
    for path in keys:
        _overwrite_and_unlink(path)
    fsync_dir(data_dir)
    deleted = 0
    for root in [data_dir, *[Path(d) for d in extra_dirs]]:
        if not root.exists():
            continue
        for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.name == NOTICE_NAME and path.parent == data_dir:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
                deleted += 1
    report = WipeReport(
        reason=reason,
        wiped_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        key_files_destroyed=len(keys),
        files_deleted=deleted,
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / NOTICE_NAME).write_text(json.dumps({"wiped_at": report.wiped_at, "reason": reason}))
    return report


def wipe_notice(data_dir: Path) -> WipeReport | None:
    """The notice left by a wipe (shown at the next start), or None."""
    path = Path(data_dir) / NOTICE_NAME
    try:
        body = json.loads(path.read_text())
        return WipeReport(str(body["reason"]), str(body["wiped_at"]), 0, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def clear_notice(data_dir: Path) -> None:
    """At re-enrolment (a new key file is created)."""
    (Path(data_dir) / NOTICE_NAME).unlink(missing_ok=True)
