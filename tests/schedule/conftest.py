"""Fixtures of the schedule tests: the in-process server (tests/execution)."""
from tests.execution.conftest import make_server  # noqa: F401  (the in-process server fixture)
