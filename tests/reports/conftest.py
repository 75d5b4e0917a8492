"""The report tests reuse the workstation tests' fixtures: the CLI's data directory and password (env),
a logged-in session against the real server (open_session) and a hostile server on loopback (stub)."""

from tests.workstation.conftest import open_session  # noqa: F401 - re-exported as fixtures
from tests.workstation.test_bad_server_input import stub  # noqa: F401
from tests.workstation.test_cli import env  # noqa: F401
