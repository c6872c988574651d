"""A crafted inventory for the Dealer and request tests (in RAM, or through the write path into
the test database), and the minimal policy."""
import pytest

from inventory.objects import Block, BlockReplica, Dataset, DatasetReplica, Group, Inventory, Site, SitePartition
from tests.execution.conftest import make_server  # noqa: F401  (the in-process server fixture)

TB = 10 ** 12
T2 = ('T2_DE_C', 'T2_IT_D', 'T2_US_A', 'T2_US_B')
MUON_MINI = '/Muon/Run2026A-v1/MINIAOD'
MUON_AOD = '/Muon/Run2026A-v1/AOD'
ELE_MINI = '/Electron/Run2026A-v1/MINIAODSIM'
RARE = '/Rare/Run2026A-v1/RAW'
OLD = '/Trash/Old-v1/AOD'
HOT = '/Hot/Popular-v1/AOD'
MINIMAL_POLICY = {'partition': 'Default', 'group': 'AnalysisOps', 'target_sites': ['T2_*'],
                  'plugins': {'requests': {'priority': 1}}}


def dataset(inv, name, blocks, tb=1, status='valid'):
    inv.update(Dataset(name, status=status, data_type='production'))
    for i in range(blocks):
        inv.update(Block(f'b{i:03d}', name, size=int(tb * TB), num_files=10))


def replica(inv, name, site, group, blocks=None):
    inv.update(DatasetReplica(name, site, group=group))
    for block in inv.datasets[name].blocks:
        if blocks is None or block.name in blocks:
            inv.update(BlockReplica(f'{name}#{block.name}', site, group))


def build(inv, *, fill=None):
    """The crafted inventory: a T1 disk site (500 TB) holding the data, four T2 sites (100 TB),
    T2_FR_M (100 TB, READY until a test says otherwise) with the only copy of RARE, an old
    replica of group Trash at T2_US_A; `fill` {site: TB} fills T2 sites with filler datasets."""
    for group in ('AnalysisOps', 'DataOps', 'Trash'):
        inv.update(Group(group))
    for name, quota in (('T1_CH_Disk', 500), ('T2_FR_M', 100)) + tuple((s, 100) for s in T2):
        inv.update(Site(name, host=f'se.{name.lower()}.example', status='ready'))
        inv.update(SitePartition(name, 'Default', quota * TB))
    dataset(inv, MUON_MINI, 2)
    dataset(inv, MUON_AOD, 4)
    dataset(inv, ELE_MINI, 3)
    dataset(inv, RARE, 2)
    dataset(inv, OLD, 1)
    dataset(inv, HOT, 1, tb=0.5)
    for name in (MUON_MINI, MUON_AOD, ELE_MINI, HOT):
        replica(inv, name, 'T1_CH_Disk', 'DataOps')
    replica(inv, RARE, 'T2_FR_M', 'DataOps')
    replica(inv, OLD, 'T2_US_A', 'Trash')
    replica(inv, OLD, 'T1_CH_Disk', 'DataOps')
    for site, tb in sorted((fill or {}).items()):
        for i in range(int(tb)):
            name = f'/Fill/{site}-{i:03d}/AOD'
            dataset(inv, name, 1)
            replica(inv, name, site, 'AnalysisOps')
    return {}


@pytest.fixture
def crafted():
    """crafted(fill=None) -> a RAM inventory (no database)."""
    def make(**kw):
        inv = Inventory()
        build(inv, **kw)
        return inv
    return make
