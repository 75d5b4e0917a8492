"""The headless command line: `workstation <subcommand> ...`.

ui.launcher (the console script) hands every registered subcommand here and opens the GUI
otherwise. Subcommand modules are imported only when they run, so `workstation --help`
and scripts stay quick. Errors of the store (wrong password, damaged file, ...) become one
line on stderr and exit code 1; usage errors exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import os
import sys
from types import ModuleType

from sqlalchemy.exc import DBAPIError

from local_db.audit import AccessRefused, AuditWriteFailed
from local_db.errors import StoreError
from workstation.commands import COMMANDS
from workstation.config import NeverSynced
from workstation.security.lockout import AccountLocked, WorkstationWiped
from workstation.sync.errors import SyncError
from workstation.terminal import safe_output

PASSWORD_ENV = "WORKSTATION_PASSWORD"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


class PasswordUnavailable(Exception):
    """No WORKSTATION_PASSWORD and no terminal to prompt on."""


def subcommand_names() -> tuple[str, ...]:
    return COMMANDS


def command_module(name: str) -> ModuleType:
    return importlib.import_module(f"workstation.commands.{name.replace('-', '_')}")


def read_password(prompt: str = "Workstation password: ") -> str:
    """The officer's password: $WORKSTATION_PASSWORD, else a no-echo prompt on the terminal."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise PasswordUnavailable(f"No password: set {PASSWORD_ENV} or run from a terminal to be prompted.")
    password = getpass.getpass(prompt)
    if not password:
        raise PasswordUnavailable("An empty password is not accepted.")
    return password


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workstation",
        description=(
            "Field Workstation. Without a subcommand it opens the application window "
            "(`workstation --demo` runs it against a local demo server)."
        ),
        epilog="Environment: WORKSTATION_HOME (data directory), WORKSTATION_PASSWORD, "
        "WORKSTATION_SERVER_URL, WORKSTATION_TILE_URL.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = command_module(name)
        module.register(subparsers)
        subparsers.choices[module.NAME].set_defaults(command_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    module = getattr(args, "command_module", None)
    if module is None:
        parser.print_help()
        return EXIT_FAILED
    return run_command(module, args)


def run_command(module: ModuleType, args: argparse.Namespace, **extra: object) -> int:
    """Run a command module, turning expected failures into one clear line and an exit code;
    what it prints carries no control characters (workstation.terminal)."""
    with safe_output():
        return _run_command(module, args, **extra)


def _run_command(module: ModuleType, args: argparse.Namespace, **extra: object) -> int:
    try:
        return int(module.run(args, **extra))
    except (StoreError, PasswordUnavailable, AccessRefused, AuditWriteFailed, NeverSynced, SyncError, AccountLocked,
            WorkstationWiped) as exc:
        print(f"workstation {module.NAME}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, DBAPIError) as exc:
        # A full or read-only disk, a yanked USB drive, an I/O error under SQLite: one line that says
        # what failed, not a traceback. Every write is one transaction, so nothing is half-written.
        reason = getattr(exc, "orig", None) or exc
        print(f"workstation {module.NAME}: disk or database error: {reason} (nothing is half-written)", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"workstation {module.NAME}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
