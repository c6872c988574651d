"""Storage servers for the file-operation tests, and a gfal2 backend that trusts their CA."""
import os

import pytest

from tests.storage_servers import LocalSite, fast_xrootd_reconnect
from tests.storage_servers import (local_site, make_xrootd_server, test_ca, webdav_server,  # noqa: F401
                                   xrootd_server)

# the restart tests want the XRootD client to dial a stopped server again after 2 s, not 30
fast_xrootd_reconnect()


@pytest.fixture
def backend(test_ca):
    try:
        from fileops.backends.gfal import Gfal2Backend
    except ImportError as e:
        if os.environ.get('CI') == 'true':
            pytest.fail(f'gfal2 bindings not importable ({e}): run scripts/install-storage.sh')
        pytest.skip(f'gfal2 bindings not importable ({e})')
    return Gfal2Backend(ca_dir=str(test_ca.ca_dir))


@pytest.fixture
def other_local_site(tmp_path):
    """A second directory site, for copies between two local sites."""
    return LocalSite(tmp_path / 'other-local-site')
