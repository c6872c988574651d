"""Fixtures of the request tests: the in-process server."""
from tests.execution.conftest import make_server  # noqa: F401  (the in-process server fixture)
