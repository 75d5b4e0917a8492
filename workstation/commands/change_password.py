"""`workstation change-password`: change the officer's password on the server and on this laptop.

One operation (workstation.security.key_change): the server credential changes and the store's data
key is re-wrapped under the same new password, so the laptop unlocks (also offline) with the password
the server accepts. Online only: without the server nothing is changed. Only keys.json is rewritten
(fresh salt and nonce); the encrypted database is untouched. The old password comes from
WORKSTATION_PASSWORD or a prompt, the new one from WORKSTATION_NEW_PASSWORD or a prompt asked twice.
The server is the one the store last synced with unless --server is given. Audited (key_change).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from workstation.protocol import MIN_PASSWORD_LENGTH

NAME = "change-password"
NEW_PASSWORD_ENV = "WORKSTATION_NEW_PASSWORD"
MIN_LENGTH = MIN_PASSWORD_LENGTH


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="change the officer's password on the server and on this workstation (online only)",
        description="Change the server password and re-wrap the data key under the same new password; "
        "the database itself is not rewritten.",
    )
    parser.add_argument("--user", help="officer user name (default: the officer this workstation belongs to)")
    parser.add_argument("--server", help="server URL (default: the server this workstation last synced with)")
    parser.add_argument("--one-time-code", help="one-time code, where the account requires one")


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
    from workstation.auth import stored_identity
    from workstation.cli import read_password
    from workstation.security.key_change import change_store_password
    from workstation.session import WorkstationSession
    from workstation.sync.errors import SyncError

    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    old = read_password("Current password: ")
    new = read_new_password()
    problem = password_problem(old, new)
    if problem:
        print(f"workstation {NAME}: {problem}. Nothing was changed.", file=sys.stderr)
        return 1
    username, server_url = args.user, args.server or config.server_url
    if not (username and server_url):
        with WorkstationSession.open_offline(config, old, args.user) as offline:
            known = stored_identity(offline.store)
        username, server_url = username or known["username"], server_url or known["server_url"]
    try:
        if not (username and server_url):
            raise SyncError("this workstation does not know its server or officer yet: pass --server and --user")
        with WorkstationSession.open(
            config, username, old, server_url=server_url, one_time_code=args.one_time_code
        ) as session:
            if session.offline_reason is not None:
                raise SyncError(f"changing the password needs the agency server: {session.offline_reason}")
            change_store_password(session.store, config.data_dir, old, new, session.client)
    except SyncError as exc:
        print(f"workstation {NAME}: {exc}. Nothing was changed.", file=sys.stderr)
        return 1
    print("Password changed on the server and on this workstation: use the new password from now on.")
    return 0
