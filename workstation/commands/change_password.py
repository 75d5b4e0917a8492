"""`workstation change-password`: re-wrap the store's data key under a new password.

Use it when the agency changes the officer's password, so the laptop unlocks (also offline) with the
same password the server accepts. Only keys.json is rewritten (fresh salt and nonce); the encrypted
database is untouched. The old password comes from WORKSTATION_PASSWORD or a prompt, the new one from
WORKSTATION_NEW_PASSWORD or a prompt asked twice. The change is audited (key_change).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

NAME = "change-password"
NEW_PASSWORD_ENV = "WORKSTATION_NEW_PASSWORD"
#: CJIS IA-5(1): passwords of at least eight characters
MIN_LENGTH = 8


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="change the password that unlocks this workstation's data (re-wraps the key)",
        description="Re-wrap the data key under a new password; the database itself is not rewritten.",
    )
    parser.add_argument("--user", help="officer user name (for the audit trail)")


def password_problem(old: str, new: str) -> str | None:
    """Why `new` is not acceptable, or None."""
    if len(new) < MIN_LENGTH:
        return f"the new password must have at least {MIN_LENGTH} characters"
    if new == old:
        return "the new password is the same as the old one"
    return None


def read_new_password() -> str:
    from workstation.cli import PasswordUnavailable

    from_env = os.environ.get(NEW_PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise PasswordUnavailable(f"No new password: set {NEW_PASSWORD_ENV} or run from a terminal to be prompted.")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("New password again: "):
        raise PasswordUnavailable("The two new passwords differ. Nothing was changed.")
    return first


def run(args: argparse.Namespace) -> int:
    from workstation import config as config_mod
    from workstation.cli import read_password
    from workstation.security.key_change import change_store_password
    from workstation.session import WorkstationSession

    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    old = read_password("Current password: ")
    new = read_new_password()
    problem = password_problem(old, new)
    if problem:
        print(f"workstation {NAME}: {problem}. Nothing was changed.", file=sys.stderr)
        return 1
    with WorkstationSession.open_offline(config, old, args.user) as session:
        change_store_password(session.store, config.data_dir, old, new)
    print("Password changed: the workstation now unlocks with the new password.")
    return 0
