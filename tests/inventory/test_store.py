"""Persistence of the RAM image on the configured database (SQLite by default, MariaDB with
DYNAMO_DB_URL=mysql://...): load, the single write path (apply_changeset), sequence numbers, replay."""
import random

import pytest

from inventory import services, store
from inventory.models import ChangeSet
from inventory.objects import (Block, BlockReplica, Dataset, DatasetReplica, File, Group, ObjectError,
                               Partition, Site, SitePartition, to_dict)
from tests.support import apply, image, load_image, row_counts, table_dump

pytestmark = pytest.mark.django_db

RAW, AOD = '/A/B/RAW', '/C/D/AOD'
MIT, CERN = 'T2_US_MIT', 'T1_CH_CERN'
TB = 10 ** 12
FILES = {  # block -> [(lfn, size, checksum)]
    'b1': [('/store/a/1.root', 100, (('adler32', '0a0b0c0d'),)), ('/store/a/2.root', 120, ()),
           ('/store/a/3.root', 80, (('adler32', 'ffff0000'), ('crc32', '12')))],
    'b2': [('/store/a/4.root', 50, ())],
    'c1': [('/store/c/1.root', 30, ()), ('/store/c/2.root', 40, ())],
}


def populate(inv):
    """Sites, groups, two datasets with files, complete and incomplete replicas, quotas."""
    inv.update(Partition('AllDisk', subpartitions=['Default']))
    inv.update(Site(MIT, host='se.mit.example', storage_type='disk', backend='root://se.mit.example//store',
                    status='ready', filename_mapping={'root': [[('/store/(.*)', 'root://se.mit.example//{0}')]]}))
    inv.update(Site(CERN, host='eos.cern.example', storage_type='mss', status='waitroom'))
    inv.update(Group('AnalysisOps'))
    inv.update(Group('DataOps', 'dataset'))
    inv.update(Dataset(RAW, status='valid', data_type='production', software_version=('CMSSW_14_0', 2),
                       last_update=1_700_000_000, is_open=True))
    inv.update(Dataset(AOD, status='production', data_type='test', last_update=1_700_000_100, is_open=False))
    for dataset, block in ((RAW, 'b1'), (RAW, 'b2'), (AOD, 'c1')):
        files = FILES[block]
        inv.update(Block(block, dataset, size=sum(f[1] for f in files), num_files=len(files),
                         is_open=block == 'b2', last_update=1_700_000_200))
        for lfn, size, checksum in files:
            inv.update(File(lfn, f'{dataset}#{block}', size, checksum))
    inv.update(DatasetReplica(RAW, MIT, True, 'AnalysisOps'))
    inv.update(BlockReplica(f'{RAW}#b1', MIT, 'AnalysisOps', True, last_update=5))
    inv.update(BlockReplica(f'{RAW}#b2', MIT, 'AnalysisOps', False, last_update=6))
    inv.update(DatasetReplica(RAW, CERN, False, None))
    # incomplete replicas name their files by LFN; the write path resolves them to file ids
    inv.update(BlockReplica(f'{RAW}#b1', CERN, None, False, 100, 7, ['/store/a/1.root']))
    inv.update(DatasetReplica(AOD, CERN, False, 'DataOps'))
    inv.update(BlockReplica(f'{AOD}#c1', CERN, 'DataOps', False, 30, 8, ['/store/c/1.root']))
    inv.update(SitePartition(MIT, 'Default', 2 * TB))
    inv.update(SitePartition(CERN, 'Default', -1))


def _built():
    inv = load_image()
    apply(inv, builder=populate)
    return inv


@pytest.fixture
def built():
    return _built()


def db_state():
    return table_dump(), row_counts()['seq']


# ------------------------------------------------------------------------------------------ load
def test_empty_database_loads_default_partition_and_null_group_only():
    inv = load_image()
    assert list(inv.partitions) == ['Default']
    assert list(inv.groups) == [None]
    assert inv.datasets == {} and inv.sites == {}


def test_reloaded_image_equals_the_image_that_was_written(built):
    written = image(built)
    reloaded = load_image()
    assert image(reloaded) == written
    assert reloaded.seq == built.seq == store.current_seq()


def test_reload_keeps_object_attributes_and_ids(built):
    inv = load_image()
    raw = inv.datasets[RAW]
    assert (raw.status.label, raw.data_type.label, raw.software_version, raw.last_update, raw.is_open) == \
        ('valid', 'production', ('CMSSW_14_0', 2), 1_700_000_000, True)
    assert raw.id == built.datasets[RAW].id > 0
    assert sorted((b.name, b.size, b.num_files, b.is_open) for b in raw.blocks) == [('b1', 300, 3, False), ('b2', 50, 1, True)]
    mit = inv.sites[MIT]
    assert (mit.host, mit.storage_type.label, mit.backend, mit.status.label) == \
        ('se.mit.example', 'disk', 'root://se.mit.example//store', 'ready')
    assert mit.to_pfn('/store/a/1.root', 'root') == 'root://se.mit.example//a/1.root'
    assert inv.sites[CERN].storage_type.label == 'mss'
    assert inv.groups['DataOps'].olevel.label == 'dataset'
    assert inv.partitions['AllDisk'].subpartitions == (inv.partitions['Default'],)


def test_reload_gives_block_file_lists_from_the_database(built):
    inv = load_image()
    for dataset, block in ((RAW, 'b1'), (RAW, 'b2'), (AOD, 'c1')):
        files = inv.datasets[dataset].find_block(block).files
        assert sorted((f.lfn, f.size, f.checksum) for f in files) == sorted(FILES[block])
        assert all(f.id > 0 for f in files)
    assert inv.datasets[RAW].find_file('/store/a/3.root').size == 80


def test_reload_keeps_file_lists_of_incomplete_replicas(built):
    inv = load_image()
    partial = inv.sites[CERN].find_block_replica(f'{RAW}#b1')
    assert not partial.is_complete()
    assert (partial.size, partial.num_files, partial.last_update) == (100, 1, 7)
    assert [f.lfn for f in partial.files()] == ['/store/a/1.root']
    assert partial.file_ids == (built.datasets[RAW].find_block('b1').find_file('/store/a/1.root').id,)
    complete = inv.sites[MIT].find_block_replica(f'{RAW}#b1')
    assert complete.is_complete() and complete.file_ids is None and complete.size == 300
    assert complete.is_custodial and complete.group.name == 'AnalysisOps'
    assert len(complete.files()) == 3


def test_reload_keeps_quotas_and_partition_membership(built):
    inv = load_image()
    mit, cern = inv.sites[MIT], inv.sites[CERN]
    assert mit.partition('Default').quota == 2 * TB
    assert mit.partition('AllDisk').quota == 2 * TB
    assert mit.partition('Default').usage() == 350
    assert cern.partition('Default').quota < 0 and cern.partition('Default').occupancy_fraction() == 0.
    # the unowned replica of b1 at CERN is outside the Default partition
    assert cern.partition('Default').usage() == 30
    assert cern.partition('Default').usage(physical=False) == 70
    assert {dr.dataset.name: m for dr, m in cern.partition('Default').replicas.items()} == {AOD: None}
    assert mit.find_dataset_replica(RAW).growing and mit.find_dataset_replica(RAW).group.name == 'AnalysisOps'
    assert cern.find_dataset_replica(RAW).group is inv.null_group


# ------------------------------------------------------------------------------------------ change sets
def test_updates_and_deletes_survive_reload(built):
    apply(built, operations=[
        ('u', to_dict(Dataset(RAW, status='invalid', data_type='production', software_version=('CMSSW_14_0', 3),
                              last_update=1_700_000_000, is_open=False))),
        ('u', to_dict(File('/store/a/5.root', f'{RAW}#b2', 10))),
        ('u', to_dict(Block('b2', RAW, size=60, num_files=2, is_open=True, last_update=9))),
        ('u', to_dict(BlockReplica(f'{AOD}#c1', CERN, 'DataOps', False, 70, 8, ['/store/c/1.root', '/store/c/2.root']))),
        ('u', to_dict(SitePartition(CERN, 'Default', 5 * TB))),
        ('u', to_dict(Site(MIT, host='new.mit.example', status='morgue'))),
        ('u', to_dict(Group('NewGroup', 'dataset'))),
        ('d', to_dict(File('/store/a/3.root'))),
        ('u', to_dict(Block('b1', RAW, size=220, num_files=2, last_update=10))),
    ])
    apply(built, operations=[
        ('d', to_dict(BlockReplica(f'{RAW}#b1', CERN))),    # its last block replica: the dataset replica goes too
        ('d', to_dict(Group('AnalysisOps'))),               # its replicas go to the null group
    ])
    expected = image(built)
    inv = load_image()
    assert image(inv) == expected
    assert inv.datasets[RAW].status.label == 'invalid' and inv.datasets[RAW].software_version == ('CMSSW_14_0', 3)
    b1, b2 = sorted(inv.datasets[RAW].blocks, key=lambda b: b.name)
    assert sorted(f.lfn for f in b1.files) == ['/store/a/1.root', '/store/a/2.root']
    assert (b2.size, b2.num_files, sorted(f.lfn for f in b2.files)) == (60, 2, ['/store/a/4.root', '/store/a/5.root'])
    assert inv.sites[CERN].find_dataset_replica(RAW) is None
    assert inv.sites[CERN].find_block_replica(f'{AOD}#c1').is_complete()
    assert inv.sites[CERN].partition('Default').quota == 5 * TB
    assert inv.sites[MIT].host == 'new.mit.example' and inv.sites[MIT].status.label == 'morgue'
    assert 'AnalysisOps' not in inv.groups and inv.groups['NewGroup'].olevel.label == 'dataset'
    mit_raw = inv.sites[MIT].find_dataset_replica(RAW)
    assert mit_raw.group is inv.null_group
    assert all(br.group is inv.null_group for br in mit_raw.block_replicas)
    assert inv.sites[MIT].partition('Default').usage() == 0


def test_deleting_dataset_and_site_survives_reload(built):
    apply(built, operations=[('d', to_dict(Dataset(AOD))), ('d', to_dict(Site(MIT)))])
    inv = load_image()
    assert image(inv) == image(built)
    assert AOD not in inv.datasets and MIT not in inv.sites
    assert inv.datasets[RAW].replicas[0].site.name == CERN
    assert store.FileCatalog().find('/store/c/1.root') is None, 'files of a deleted dataset are deleted'


def _refused(built, **change):
    """Apply a change set that must be refused; returns the error after checking nothing moved."""
    before_image, before_db, before_seq = image(built), db_state(), built.seq
    with pytest.raises(ObjectError) as info:
        apply(built, **change)
    assert image(built) == before_image, 'the RAM image was changed by a refused change set'
    assert db_state() == before_db, 'the database was changed by a refused change set'
    assert built.seq == before_seq
    assert image(load_image()) == before_image
    return info.value


def test_change_set_failing_at_fifth_operation_changes_nothing(built):
    error = _refused(built, operations=[
        ('u', to_dict(Dataset('/N/E/W', status='valid'))),
        ('u', to_dict(Block('nb', '/N/E/W', size=10, num_files=1))),
        ('u', to_dict(File('/store/new/1.root', '/N/E/W#nb', 10))),
        ('d', to_dict(Group('AnalysisOps'))),
        ('u', to_dict(DatasetReplica('/N/E/W', 'T9_NOWHERE', False, None))),
        ('u', to_dict(SitePartition(MIT, 'Default', 7))),
    ])
    assert 'change 4' in str(error) and 'Unknown site T9_NOWHERE' in str(error)


def test_builder_failing_half_way_changes_nothing(built):
    def builder(inv):
        inv.update(Dataset('/N/E/W', status='valid'))
        inv.update(Block('nb', '/N/E/W', size=10, num_files=1))
        inv.update(File('/store/new/1.root', '/N/E/W#nb', 10))
        inv.update(SitePartition(MIT, 'Default', 7))
        inv.delete(Dataset(AOD))
        inv.delete(Group('AnalysisOps'))
        inv.update(BlockReplica(f'{RAW}#b2', CERN, None))
        raise ObjectError('refused by the builder')
    assert str(_refused(built, builder=builder)) == 'refused by the builder'


def test_change_set_refused_while_writing_the_database_changes_nothing(built):
    # deletes are written first, then the block replica that lists a file the store does not have
    error = _refused(built, operations=[
        ('d', to_dict(Dataset(AOD))),
        ('u', to_dict(Site('T3_NEW'))),
        ('u', to_dict(BlockReplica(f'{RAW}#b2', CERN, None, False, 5, 0, ['/store/not/stored.root']))),
    ])
    assert '/store/not/stored.root' in str(error)


def test_failed_change_set_does_not_consume_a_sequence_number(built):
    seq = store.current_seq()
    with pytest.raises(ObjectError):
        apply(built, operations=[('u', to_dict(Group('G1'))), ('u', to_dict(Block('x', '/no/such/ds')))])
    assert store.current_seq() == seq
    applied = apply(built, operations=[('u', to_dict(Group('G1')))])
    assert applied.seq == seq + 1 == store.current_seq() == built.seq
    assert sorted(ChangeSet.objects.values_list('seq', flat=True)) == list(range(1, seq + 2))


def test_sequence_numbers_increase_by_one_per_applied_change_set(built):
    first = store.current_seq()
    assert first >= 1
    seqs = [apply(built, operations=[('u', to_dict(Group(f'G{i}')))]).seq for i in range(3)]
    assert seqs == [first + 1, first + 2, first + 3]
    assert store.current_seq() == built.seq == first + 3
    assert list(ChangeSet.objects.filter(seq__gt=first).order_by('seq').values_list('seq', 'num_changes')) == \
        [(first + 1, 1), (first + 2, 1), (first + 3, 1)]


def test_change_set_without_changes_does_not_consume_a_sequence_number(built):
    seq = store.current_seq()
    applied = apply(built, operations=[('u', to_dict(Group('AnalysisOps'))),
                                       ('d', to_dict(Dataset('/no/such/ds')))])
    assert applied.seq == 0 and applied.num_changes == 0
    assert store.current_seq() == seq == built.seq
    assert ChangeSet.objects.filter(seq__gt=seq).count() == 0


def test_change_sets_replayed_into_an_earlier_image_give_the_same_image(built):
    earlier = load_image()
    apply(built, operations=[
        ('u', to_dict(Dataset('/N/E/W', status='valid'))),
        ('u', to_dict(Block('nb', '/N/E/W', size=10, num_files=1))),
        ('u', to_dict(File('/store/new/1.root', '/N/E/W#nb', 10))),
        ('u', to_dict(DatasetReplica('/N/E/W', CERN, True, 'DataOps'))),
        ('u', to_dict(BlockReplica('/N/E/W#nb', CERN, 'DataOps'))),
        ('u', to_dict(SitePartition(MIT, 'Default', 3 * TB))),
    ])
    apply(built, builder=lambda inv: (inv.delete(Group('AnalysisOps')), inv.delete(Block('b2', RAW)),
                                      inv.update(BlockReplica(f'{AOD}#c1', CERN, None, False, 70, 9,
                                                              ['/store/c/1.root', '/store/c/2.root']))))
    assert earlier.seq == built.seq - 2
    assert services.catch_up(earlier) == 2
    assert earlier.seq == built.seq
    assert image(earlier) == image(built)
    assert image(load_image()) == image(built)


def test_writer_with_an_old_image_catches_up_before_writing(built):
    other = load_image()
    apply(built, operations=[('u', to_dict(Dataset('/N/E/W')))])
    applied = apply(other, operations=[('u', to_dict(Block('nb', '/N/E/W', size=1, num_files=0)))])
    assert applied.seq == built.seq + 1
    assert other.datasets['/N/E/W'].find_block('nb') is not None
    assert image(load_image()) == image(other)


OPS_DATASETS = [RAW, AOD, '/E/F/NEW']
OPS_BLOCKS = ['b1', 'b2', 'c1', 'n1']
OPS_SITES = [MIT, CERN, 'T3_NEW']
OPS_GROUPS = [None, 'AnalysisOps', 'DataOps', 'NewGroup']


def _random_changes(rng, inv):
    """A builder making random (possibly refused) changes; refused single changes are skipped."""
    for _ in range(rng.randrange(1, 12)):
        ds, block, site, group = (rng.choice(OPS_DATASETS), rng.choice(OPS_BLOCKS), rng.choice(OPS_SITES),
                                  rng.choice(OPS_GROUPS))
        obj = rng.choice([
            lambda: Dataset(ds, status=rng.choice(['valid', 'invalid'])),
            lambda: Block(block, ds, size=rng.randrange(500), num_files=rng.randrange(4)),
            lambda: Site(site, host=rng.choice(['h1', 'h2'])),
            lambda: Group(group or 'NewGroup', rng.choice(['block', 'dataset'])),
            lambda: DatasetReplica(ds, site, rng.random() < 0.5, group),
            lambda: BlockReplica(f'{ds}#{block}', site, group, rng.random() < 0.5),
            lambda: SitePartition(site, 'Default', rng.randrange(-1, 1000)),
        ])()
        try:
            if rng.random() < 0.3:
                inv.delete(obj)
            else:
                inv.update(obj)
        except ObjectError:
            pass


def test_random_change_sets_reload_to_the_same_image(built):
    rng = random.Random(20260101)
    for _ in range(15):
        apply(built, builder=lambda inv: _random_changes(rng, inv))
        assert image(load_image()) == image(built)


def test_a_superpartition_of_the_implicit_default_reloads_when_the_store_has_no_default_row():
    # a store emptied by a flush (or made before Default had a row): Default exists only in RAM,
    # and a stored partition names it as a subpartition
    from inventory.models import Partition as PartitionRow
    PartitionRow.objects.all().delete()
    written = image(_built())
    reloaded = load_image()
    assert image(reloaded) == written
    assert [p.name for p in reloaded.partitions['AllDisk'].subpartitions] == ['Default']
