"""The CLI tests here use the same data directory and password fixture as the other CLI tests."""

from tests.workstation.test_cli import env  # noqa: F401 - re-exported as a fixture
