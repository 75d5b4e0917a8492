"""The `workstation` console script.

It lives in ui/ because without a subcommand it opens the GUI, and nothing may import ui.
Headless subcommands (selftest, sync, caseload, note, outbox, ...) are handed to
workstation.cli without importing any widget, so scripts and the installer's smoke test stay
light.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from workstation import cli

    if args and not args[0].startswith("-") and args[0] in cli.subcommand_names():
        return cli.main(args)
    if args and args[0] in ("-h", "--help") and len(args) == 1:
        return cli.main(args)
    from ui import app  # the GUI; imported only when it is wanted

    return app.main(args)


if __name__ == "__main__":
    raise SystemExit(main())
