"""The agency's settings of the server's rules, given to every process that applies them: the
all-in-one server, the cluster's rules and API workers, and the cluster launcher (which checks them
before it starts any worker). One definition of the flags, their parsing and their effect."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import timedelta

from sync_server.db import Database
from workstation.rules.incidents import parse_response_times
from workstation.rules.schedule import parse_curfew_grace

RESPONSE_TIMES_HELP = ("incident response deadline per severity, e.g. critical=15m,high=1h (defaults: critical 15m, "
                       "high 1h, medium 4h, low 24h, info 72h); give every process that raises or escalates incidents "
                       "the same")
CURFEW_GRACE_HELP = ("minutes after a curfew begins before someone still out is in violation (default 0); give every "
                     "process that applies fixes the same")


def add_agency_arguments(parser: argparse.ArgumentParser, response_times: bool = True, curfew_grace: bool = True) -> None:
    if response_times:
        parser.add_argument("--response-times", default=None, metavar="SEV=N(m|h|d),...", help=RESPONSE_TIMES_HELP)
    if curfew_grace:
        parser.add_argument("--curfew-grace", default=None, metavar="MINUTES", help=CURFEW_GRACE_HELP)


@dataclass(frozen=True)
class AgencySettings:
    response_times: dict[str, timedelta] | None = None
    curfew_grace: timedelta | None = None

    def apply(self, db: Database) -> None:
        if self.response_times:
            db.response_times = self.response_times
        if self.curfew_grace:
            db.curfew_grace = self.curfew_grace


def agency_settings(args: argparse.Namespace) -> AgencySettings:
    """The settings of parsed arguments (add_agency_arguments); ValueError naming the flag on a bad value."""
    response_times, curfew_grace = getattr(args, "response_times", None), getattr(args, "curfew_grace", None)
    try:
        times = parse_response_times(response_times) if response_times else None
    except ValueError as exc:
        raise ValueError(f"--response-times {exc}") from None
    try:
        grace = parse_curfew_grace(curfew_grace) if curfew_grace is not None else None
    except ValueError as exc:
        raise ValueError(f"--curfew-grace {exc}") from None
    return AgencySettings(times, grace)
