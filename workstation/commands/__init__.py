"""Headless subcommands of the `workstation` console script, one module each.

A command module has NAME (the subcommand), register(subparsers) (adds its parser) and
run(args) -> int (the exit code). To add one, create workstation/commands/<name>.py and add
its name to COMMANDS below; workstation.cli and ui.launcher pick it up from there.
`workstation --help` imports every command module, so keep heavy imports inside run().
Password: workstation.cli.read_password() (WORKSTATION_PASSWORD or a no-echo prompt).
"""

#: The registry. Names only, so listing them imports nothing (the launcher asks on every start).
COMMANDS: tuple[str, ...] = (
    "selftest",
    "sync",
    "caseload",
    "incidents",
    "participant",
    "note",
    "ack",
    "resolve",
    "live",
    "outbox",
    "change-password",
    "report",
    "verify-packet",
    "maps",
)
