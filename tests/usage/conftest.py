from tests.webmodules.conftest import certs, make_web  # noqa: F401  (real servers of the web tests)
