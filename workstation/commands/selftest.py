"""`workstation selftest [--json]`: prove the encrypted store works here (see workstation.selftest)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

NAME = "selftest"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="check that the encrypted store (and, from the full app, the map page) works",
        description="Create or open the encrypted store in the data directory, write and read back "
        "a row, check that no file there is plaintext SQLite. Exit code 0 only if all holds.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace, extra_checks: Sequence[tuple[str, Callable[[], dict[str, Any]]]] = ()) -> int:
    """Store checks, then each (name, check) of extra_checks (ui.launcher adds the map page)."""
    from workstation import config
    from workstation.cli import read_password
    from workstation.selftest import merge_checks, render, run_store_checks

    try:
        home = config.ensure_data_dir()
    except config.NeverSynced:
        home = config.data_dir()  # the data_dir check below says it is missing
    report = run_store_checks(home, read_password())
    merge_checks(report, extra_checks)
    print(render(report, args.json))
    return 0 if report["ok"] else 1
