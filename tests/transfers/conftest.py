"""Fixtures of the request tests: the in-process server and the crafted inventory of tests/dealer."""
from tests.dealer.conftest import crafted, readable_dir  # noqa: F401  (fixtures)
from tests.execution.conftest import make_server  # noqa: F401  (the in-process server fixture)
