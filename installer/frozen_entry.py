"""Entry point of the frozen `field-workstation` executable.

A frozen build has no Python interpreter to run `python -m sync_server` with, so this one binary
has two modes: `field-workstation server [sync-server options]` runs the reference server (the
demo starts it that way through workstation.resources.server_command()); anything else goes to
the normal `workstation` console launcher (GUI, or a headless subcommand such as `selftest`).
"""

from __future__ import annotations

import multiprocessing
import sys

from workstation.resources import FROZEN_SERVER_MODE


def main() -> int:
    # A frozen child started through multiprocessing must run its target, not the app.
    multiprocessing.freeze_support()
    args = sys.argv[1:]
    if args and args[0] == FROZEN_SERVER_MODE:
        from sync_server.__main__ import main as server_main

        # sync-server parses sys.argv like any console script; make it see only its options.
        sys.argv = [f"{sys.argv[0]} {FROZEN_SERVER_MODE}", *args[1:]]
        return server_main() or 0
    from ui.launcher import main as launcher_main

    return launcher_main(args) or 0


if __name__ == "__main__":
    raise SystemExit(main())
