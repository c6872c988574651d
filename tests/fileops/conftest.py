"""Storage servers for the file-operation tests, a gfal2 backend that trusts their CA, and `grid`: an
in-process server whose sites are real storage, with the moves of Dealer and Detox, the updater and
workers at hand."""
import json
import os
import threading
import time
import zlib

import pytest

from tests.storage_servers import LocalSite, fast_xrootd_reconnect
from tests.storage_servers import (local_site, make_xrootd_server, test_ca, webdav_server,  # noqa: F401
                                   xrootd_server)
from tests.execution.conftest import LOGIN, make_server, run_until  # noqa: F401

# the restart tests want the XRootD client to dial a stopped server again after 2 s, not 30
fast_xrootd_reconnect()


def gfal2_backend(ca_dir):
    try:
        from fileops.backends.gfal import Gfal2Backend
    except ImportError as e:
        if os.environ.get('CI') == 'true':
            pytest.fail(f'gfal2 bindings not importable ({e}): run scripts/install-storage.sh')
        pytest.skip(f'gfal2 bindings not importable ({e})')
    return Gfal2Backend(ca_dir=str(ca_dir))


@pytest.fixture
def backend(test_ca):
    return gfal2_backend(test_ca.ca_dir)


@pytest.fixture
def other_local_site(tmp_path):
    """A second directory site, for copies between two local sites."""
    return LocalSite(tmp_path / 'other-local-site')


def adler32(data):
    return f'{zlib.adler32(data):08x}'


def payload(lfn, size=4096):
    """Bytes of a test file: different for every LFN."""
    seed = lfn.encode()
    return (seed * (size // len(seed) + 1))[:size]


class Grid:
    """An in-process Dynamo server (driven turn by turn) whose sites are storage servers."""

    def __init__(self, server, backend, ca_dir):
        self.server = server
        self.backend = backend
        self.ca_dir = ca_dir
        self.storage = {}

    @property
    def inventory(self):
        return self.server.scheduler.runtime.inventory

    def apply(self, builder):
        from inventory import services
        runtime = self.server.scheduler.runtime
        return services.apply_changeset(inventory=runtime.inventory, origin='test', builder=builder,
                                        ram_lock=runtime.lock.write)

    def inject(self, doc):
        from inventory import injection
        parsed = injection.parse_document(json.dumps(doc))
        return self.apply(lambda inv: injection.inject(inv, parsed))

    def add_site(self, name, storage, *, storage_type='disk', status='ready'):
        """A site whose backend is `storage` (LocalSite, XRootDServer, WebDavServer)."""
        from inventory.objects import Site
        self.storage[name] = storage
        self.apply(lambda inv: inv.update(Site(name, storage_type=storage_type, backend=storage.url, status=status)))

    def add_dataset(self, name, blocks, *, at, group='physics', size=4096, plant=True):
        """Dataset `name` with blocks {block: number of files}, complete at the sites `at` (a name or a
        list), every file planted there with its bytes; returns {lfn: bytes}."""
        at = [at] if isinstance(at, str) else list(at)
        files = {}
        doc_blocks = []
        for block, count in blocks.items():
            entries = []
            for i in range(count):
                lfn = f'/store/test{name}/{block}/file{i}.root'
                data = payload(lfn, size)
                files[lfn] = data
                entries.append({'name': lfn, 'size': len(data), 'adler32': adler32(data)})
            doc_blocks.append({'name': block, 'files': entries})
        self.inject({'group': [{'name': group}], 'dataset': [{'name': name, 'status': 'valid', 'blocks': doc_blocks}],
                     'datasetreplica': [{'dataset': name, 'site': site, 'group': group, 'growing': False}
                                        for site in at]})
        if plant:
            for site in at:
                for lfn, data in files.items():
                    self.storage[site].plant(lfn, data)
        return files

    # -- what Dealer and Detox do (the inventory side through the write path, then the record)
    def transfer(self, dataset, block, site, group='physics', origin='dealer', origin_id=None):
        from inventory.objects import BlockReplica, DatasetReplica
        from transfers.services import block_transfers_record

        def builder(inv):
            if inv.sites[site].find_dataset_replica(dataset) is None:
                inv.update(DatasetReplica(dataset, site, False, group))
            inv.update(BlockReplica(f'{dataset}#{block}', site, group, False, 0, int(time.time()), ()))
        self.apply(builder)
        block_transfers_record(items=[(site, dataset, block, group)], origin=origin, origin_id=origin_id)

    def delete(self, dataset, block, site, origin='detox'):
        from transfers.services import block_deletions_record

        def builder(inv):
            br = inv.sites[site].find_block_replica(f'{dataset}#{block}')
            clone = br.clone()
            clone.group = None
            inv.update(clone)
        self.apply(builder)
        block_deletions_record(items=[(site, dataset, block)], origin=origin)

    # -- the cycles and the workers
    def cycle(self, name='updater', params=None, timeout=60):
        """Run a built-in cycle through the server (forked run, commit under the lease); its result."""
        from execution import authorization
        from execution.models import Application
        from execution.services import applications
        server = self.server
        app = applications.application_submit_builtin(
            name=name, params=params or {}, user=authorization.user_for_login(LOGIN), server_id=server.record.id,
            hostname=server.record.hostname, work_base=server.work_base)

        def ended():
            row = Application.objects.get(id=app.id)
            return row if row.state in ('done', 'failed', 'killed') else None
        row = run_until(server, ended, timeout=timeout, what=f'the {name} cycle')
        assert row.state == 'done', (row.state, row.message)
        return json.loads(row.result)

    def work(self, **kwargs):
        """Run a worker in this process until the queue is empty; its counts."""
        from fileops.worker import Worker
        worker = Worker(backend=self.backend, **kwargs)
        return worker.serve(threading.Event(), poll=0.05, once=True, checks=False)

    def settle(self, passes=6):
        """Updater and worker in turn until nothing is left to do (at most `passes` times)."""
        from fileops.models import FileTask
        for _ in range(passes):
            self.cycle()
            if not FileTask.objects.filter(state__in=('new', 'queued', 'active')).exists() and \
                    not FileTask.objects.filter(state='done', applied=False).exists():
                return
            self.work()
        self.cycle()

    def replica(self, dataset, block, site):
        return self.inventory.sites[site].find_block_replica(f'{dataset}#{block}')


@pytest.fixture
def grid(make_server, settings, test_ca):
    """A Grid on a fresh in-process server (no demo data); retries without waiting."""
    settings.DYNAMO_FILEOPS_RETRY_SECONDS = 0
    settings.DYNAMO_FILEOPS_CA_DIR = str(test_ca.ca_dir)
    server = make_server(demo=False)
    return Grid(server, gfal2_backend(test_ca.ca_dir), test_ca.ca_dir)
