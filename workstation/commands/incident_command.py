"""What `workstation ack` and `workstation resolve` share: open the store offline, queue, print."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any


def queue_incident_action(name: str, args: argparse.Namespace, queue: Callable[[Any], list[str]]) -> int:
    from workstation import actions
    from workstation import config as config_mod
    from workstation.cli import read_password
    from workstation.session import WorkstationSession

    config = config_mod.load_config(home=config_mod.ensure_data_dir())
    with WorkstationSession.open_offline(config, read_password(), args.user) as session:
        try:
            action_ids = queue(session.store)
        except actions.ActionInvalid as exc:
            print(f"workstation {name}: {exc}", file=sys.stderr)
            return 1
    print("\n".join(action_ids))
    return 0
