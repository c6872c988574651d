"""Inventories for the Detox tests, built in RAM (no database).

`crafted` is the scenario of test_cycle.py: two target sites with 1000 B quotas (T2_A over the
90 % watermark, T2_B not), a non-target site T1_X, and a dozen datasets with known sizes and ages.
`random_inventory(seed)` makes small seeded inventories for the differential tests.
"""
import random

import pytest

from inventory.objects import Block, BlockReplica, Dataset, DatasetReplica, Group, Inventory, Site

NOW = 1559433600.0   # 2019-06-02T00:00:00Z
DAY = 86400


def ago(days):
    return int(NOW - days * DAY)


def add_replica(inv, dataset, site, *blocks):
    """blocks: (name, group, days ago[, present bytes if incomplete])."""
    inv.update(DatasetReplica(dataset, site))
    for name, group, days, *partial in blocks:
        if partial:
            inv.update(BlockReplica(f'{dataset}#{name}', site, group, size=partial[0], file_ids=(1,),
                                    last_update=ago(days)))
        else:
            inv.update(BlockReplica(f'{dataset}#{name}', site, group, last_update=ago(days)))


def add_dataset(inv, name, blocks, status='valid'):
    """blocks: (name, size)."""
    inv.update(Dataset(name, status=status))
    for block, size in blocks:
        inv.update(Block(block, name, size=size, num_files=2))


def build_crafted():
    inv = Inventory()
    for name in ('T2_A', 'T2_B', 'T1_X'):
        inv.update(Site(name, storage_type='disk', status='ready'))
    inv.update(Group('AnalysisOps', olevel='dataset'))
    inv.update(Group('local', olevel='block'))
    AO, L = 'AnalysisOps', 'local'
    add_dataset(inv, '/Ignored/X/AOD', [('i1', 50)])
    add_replica(inv, '/Ignored/X/AOD', 'T2_A', ('i1', AO, 500))
    add_dataset(inv, '/Bad/X/AOD', [('b1', 40)], status='invalid')
    for site in ('T2_A', 'T2_B'):
        add_replica(inv, '/Bad/X/AOD', site, ('b1', AO, 100))
    add_dataset(inv, '/Locked/X/AOD', [('l1', 50), ('l2', 50)])
    for site in ('T2_A', 'T2_B', 'T1_X'):
        add_replica(inv, '/Locked/X/AOD', site, ('l1', AO, 300), ('l2', AO, 300))
    add_dataset(inv, '/Handed/X/AOD', [('h1', 50), ('h2', 50)])
    add_replica(inv, '/Handed/X/AOD', 'T2_A', ('h1', AO, 20), ('h2', L, 500))
    add_replica(inv, '/Handed/X/AOD', 'T2_B', ('h1', AO, 20), ('h2', AO, 20))
    add_dataset(inv, '/Local/X/AOD', [('o1', 30), ('o2', 30)])
    add_replica(inv, '/Local/X/AOD', 'T2_A', ('o1', L, 500), ('o2', L, 20))
    add_replica(inv, '/Local/X/AOD', 'T1_X', ('o1', L, 500), ('o2', L, 20))
    add_dataset(inv, '/Incomplete/X/AOD', [('n1', 60)])
    add_replica(inv, '/Incomplete/X/AOD', 'T2_A', ('n1', AO, 300, 30))
    add_dataset(inv, '/LastCopy/X/AOD', [('c1', 80)])
    add_replica(inv, '/LastCopy/X/AOD', 'T2_A', ('c1', AO, 300))
    add_dataset(inv, '/Old1/X/AOD', [('p1', 40), ('p2', 40)])
    add_dataset(inv, '/Old2/X/AOD', [('q1', 60)])
    add_dataset(inv, '/Recent/X/AOD', [('r1', 100)])
    add_dataset(inv, '/Shared/X/AOD', [('s1', 70)])
    for site in ('T2_A', 'T2_B'):
        add_replica(inv, '/Old1/X/AOD', site, ('p1', AO, 300), ('p2', AO, 300))
        add_replica(inv, '/Old2/X/AOD', site, ('q1', AO, 150))
        add_replica(inv, '/Recent/X/AOD', site, ('r1', AO, 10))
        add_replica(inv, '/Shared/X/AOD', site, ('s1', AO, 250))
    add_dataset(inv, '/Mixed/X/AOD', [('m1', 50), ('m2', 50), ('m3', 50)])
    add_replica(inv, '/Mixed/X/AOD', 'T2_A', ('m1', AO, 10), ('m2', L, 300), ('m3', L, 300))
    add_replica(inv, '/Mixed/X/AOD', 'T2_B', ('m1', AO, 10), ('m2', AO, 10), ('m3', AO, 10))
    for site in ('T2_A', 'T2_B'):
        inv.sites[site].partition('Default').set_quota(1000)
    inv.sites['T1_X'].partition('Default').set_quota(-1)
    return inv


@pytest.fixture
def crafted():
    return build_crafted()


SITES = ('T2_A', 'T2_B', 'T2_C', 'T2_D', 'T1_X')
GROUPS = (('AnalysisOps', 'dataset'), ('DataOps', 'dataset'), ('local', 'block'), ('relval', 'block'))


def random_inventory(seed, datasets=40):
    """A seeded inventory: 4 T2 sites (one waiting) and a T1, mixed owners, partial and incomplete
    replicas, ages from 1 to 600 days; quotas put some T2 sites over 90 %."""
    rng = random.Random(seed)
    inv = Inventory()
    for name in SITES:
        inv.update(Site(name, storage_type='disk', status='waitroom' if name == 'T2_D' and seed % 3 == 0 else 'ready'))
    for name, olevel in GROUPS:
        inv.update(Group(name, olevel=olevel))
    usage = dict.fromkeys(SITES, 0)
    for d in range(datasets):
        name = f'/P{d:03d}/E-v{rng.randint(1, 3)}/{rng.choice(("AOD", "RAW", "MINIAOD"))}'
        nblocks = rng.randint(1, 6)
        sizes = [rng.randint(5, 60) for _ in range(nblocks)]
        add_dataset(inv, name, [(f'b{i}', s) for i, s in enumerate(sizes)],
                    status=rng.choice(('valid',) * 8 + ('invalid', 'production')))
        owner = rng.choice(GROUPS)[0]
        for site in rng.sample(SITES, rng.randint(1, 4)):
            inv.update(DatasetReplica(name, site))
            blocks = range(nblocks) if rng.random() < 0.8 else sorted(rng.sample(range(nblocks), rng.randint(1, nblocks)))
            for i in blocks:
                group = owner if rng.random() < 0.75 else rng.choice(GROUPS + ((None, None),))[0]
                days = rng.randint(1, 600)
                if rng.random() < 0.07:
                    present = rng.randint(0, sizes[i] - 1)
                    inv.update(BlockReplica(f'{name}#b{i}', site, group, size=present, file_ids=(1,),
                                            last_update=ago(days)))
                    usage[site] += present if group else 0
                else:
                    inv.update(BlockReplica(f'{name}#b{i}', site, group, last_update=ago(days)))
                    usage[site] += sizes[i] if group else 0
    for site in SITES:
        factor = rng.choice((0.8, 0.95, 1.05, 1.3))
        inv.sites[site].partition('Default').set_quota(max(1, int(usage[site] * factor)))
    return inv


# ------------------------------------------------------------------------ in the database, served
def persist(source):
    """Write the RAM inventory `source` into the (empty) test store through the write path."""
    from inventory.objects import SitePartition
    from tests.support import apply, load_image

    def build(target):
        for name, group in sorted((n, g) for n, g in source.groups.items() if n is not None):
            target.update(Group(name, group.olevel))
        for site in sorted(source.sites.values(), key=lambda s: s.name):
            target.update(site.clone())
        for name in sorted(source.datasets):
            dataset = source.datasets[name]
            target.update(dataset.clone())
            for block in dataset.blocks:
                target.update(block.clone())
        for site in sorted(source.sites.values(), key=lambda s: s.name):
            for replica in sorted(site.dataset_replicas(), key=lambda r: r.dataset.name):
                target.update(replica.clone())
                for br in replica.block_replicas:
                    target.update(br.clone())
            for partition, sp in site.partitions.items():
                if sp._quota:
                    target.update(SitePartition(site.name, partition.name, sp._quota))
    return apply(load_image(), builder=build)


OPERATOR_DN = '/DC=test/CN=detox operator'      # operator on target detox
LOCKER_DN = '/DC=test/CN=detox user'            # user on target detox (may lock)
ADMIN_DN = '/DC=test/CN=inventory admin'        # admin on target inventory (may set quotas)


class DetoxServer:
    """A real runserver_dynamo on the test database, with its application socket."""

    def __init__(self, server, socket):
        from tests.webmodules.helpers import Client
        self.server = server
        self.socket = socket
        self.client = Client(server.url)

    def manage(self, *args):
        from tests.conftest import manage
        return manage(*args, env={'DYNAMO_APP_SOCKET': self.socket}, timeout=300)

    def detox(self, *args):
        return self.manage('detox', *args)

    def data(self, path, dn=None, **params):
        reply = self.client.get('/data/' + path, params=params or None, headers={'X-DN': dn} if dn else None)
        assert reply.status == 200 and reply.json['result'] == 'OK', (reply.status, reply.text)
        return reply.json['data']

    def post(self, path, body, dn):
        return self.client.post('/data/' + path, json_body=body, headers={'X-DN': dn})


@pytest.fixture
def serve(start_server, tmp_path):
    """serve() -> DetoxServer on what the test database holds now (roles for the DNs above)."""
    import time
    from accounts.services import user_grant

    def start():
        user_grant(username='detox-operator', dn=OPERATOR_DN, role='operator', target='detox')
        user_grant(username='detox-user', dn=LOCKER_DN, role='user', target='detox')
        user_grant(username='inventory-admin', dn=ADMIN_DN, role='admin', target='inventory')
        socket = str(tmp_path / 'app.sock')
        server = start_server(env={'DYNAMO_APP_SOCKET': socket, 'DYNAMO_WORK_DIR': str(tmp_path / 'work'),
                                   'DYNAMO_WEB_DN_HEADER': 'X-DN'})
        deadline = time.monotonic() + 30
        while not (tmp_path / 'app.sock').exists():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        return DetoxServer(server, socket)
    return start
