"""A crafted inventory for the condition language tests (pure RAM, no database).

/A/B/RAW (blocks b1: 100 B, b2: 50 B) has replicas at
  T2_A  (disk, ready):    b1 AnalysisOps complete, b2 ops incomplete (20 B)
  T2_B  (disk, ready):    b1, b2 AnalysisOps complete
  T1_M  (tape, ready):    b1 AnalysisOps complete (a partial tape copy)
  T3_W  (disk, waitroom): b1, b2 ops complete
/C/D/AOD (block c1: 70 B) only at T2_A, owned by DataOps.
"""
import pytest

from inventory.objects import Block, BlockReplica, Dataset, DatasetReplica, Group, Inventory, Site

NOW = 1559433600.0   # 2019-06-02T00:00:00Z


@pytest.fixture
def crafted():
    inv = Inventory()
    inv.update(Site('T2_A', storage_type='disk', status='ready'))
    inv.update(Site('T2_B', storage_type='disk', status='ready'))
    inv.update(Site('T1_M', storage_type='mss', status='ready'))
    inv.update(Site('T3_W', storage_type='disk', status='waitroom'))
    inv.update(Group('AnalysisOps', olevel='dataset'))
    inv.update(Group('DataOps', olevel='dataset'))
    inv.update(Group('ops', olevel='block'))
    inv.update(Dataset('/A/B/RAW', status='valid', last_update=1000, software_version=(10, 2, 3, 'patch1'),
                       is_open=False))
    inv.update(Block('b1', '/A/B/RAW', size=100, num_files=2, last_update=10))
    inv.update(Block('b2', '/A/B/RAW', size=50, num_files=1, last_update=20))
    inv.update(Dataset('/C/D/AOD', status='production', last_update=2000))
    inv.update(Block('c1', '/C/D/AOD', size=70, num_files=7, last_update=5))

    def replica(dataset, site, *blocks):
        inv.update(DatasetReplica(dataset, site))
        for name, group, last_update, size in blocks:
            if size is None:
                inv.update(BlockReplica(f'{dataset}#{name}', site, group, last_update=last_update))
            else:
                inv.update(BlockReplica(f'{dataset}#{name}', site, group, size=size, file_ids=(7,),
                                        last_update=last_update))
    replica('/A/B/RAW', 'T2_A', ('b1', 'AnalysisOps', 30, None), ('b2', 'ops', 40, 20))
    replica('/A/B/RAW', 'T2_B', ('b1', 'AnalysisOps', 50, None), ('b2', 'AnalysisOps', 60, None))
    replica('/A/B/RAW', 'T1_M', ('b1', 'AnalysisOps', 70, None))
    replica('/A/B/RAW', 'T3_W', ('b1', 'ops', 80, None), ('b2', 'ops', 90, None))
    replica('/C/D/AOD', 'T2_A', ('c1', 'DataOps', 35, None))
    inv.sites['T2_A'].partition('Default').set_quota(200)
    return inv


def replica_of(inv, dataset, site):
    return inv.sites[site].find_dataset_replica(dataset)
