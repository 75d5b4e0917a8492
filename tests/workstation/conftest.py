"""Helpers for the sync tests: a logged-in WorkstationSession against a real server over loopback,
with a real encrypted store in a fresh data directory."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workstation.config import Config
from workstation.session import WorkstationSession

_ids = itertools.count()


def make_config(home: Path, server_url: str | None = None) -> Config:
    home.mkdir(parents=True, exist_ok=True)
    return Config(data_dir=home, server_url=server_url, workstation_id=f"ws-test-{next(_ids)}")


@pytest.fixture
def open_session(tmp_path: Path) -> Iterator[Callable[..., WorkstationSession]]:
    """open_session(server, user="officer1", password="pw", home=None) -> a logged-in session."""
    opened: list[WorkstationSession] = []

    def factory(server, user: str = "officer1", password: str = "pw", home: Path | None = None) -> WorkstationSession:
        config = make_config(home or tmp_path / f"home-{next(_ids)}", server.url)
        session = WorkstationSession.open(config, user, password)
        opened.append(session)
        return session

    yield factory
    for session in opened:
        session.close()
