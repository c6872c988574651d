"""The pure-Python object model: update/delete semantics, derived properties, journal rollback.

Semantics from the reference (original Dynamo) sections 1.4-1.6: update() embeds a linked clone or
copies values (never inserts its argument), delete() finds by identifier and cascades.
"""
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from inventory.objects import (Block, BlockReplica, Condition, Dataset, DatasetReplica, File, Group,
                               Inventory, ObjectError, Partition, Site, SitePartition, to_dict)
from inventory.objects.base import DatasetStatus

RAW, AOD = '/A/B/RAW', '/C/D/AOD'


def structure(inv):
    """The whole graph including object identities, for 'restored exactly' checks."""
    out = {'next_ids': dict(inv.next_ids), 'null_group': id(inv.null_group)}
    out['groups'] = {n: (id(g), g.id, g.olevel) for n, g in inv.groups.items()}
    out['partitions'] = {n: (id(p), p.id, p.subpartitions and tuple(id(q) for q in p.subpartitions),
                             id(p.parent) if p.parent else None) for n, p in inv.partitions.items()}
    out['datasets'] = {
        n: (id(d), d.id, d.values(),
            [(id(b), b.id, b.name, b.values(), id(b.dataset), [id(r) for r in b.replicas]) for b in d.blocks],
            [id(r) for r in d.replicas])
        for n, d in inv.datasets.items()}
    out['sites'] = {
        n: (id(s), s.id, s.values(),
            {(id(p), p.name): (id(sp), sp._quota,
                               {id(dr): None if m is None else sorted(id(b) for b in m) for dr, m in sp.replicas.items()})
             for p, sp in s.partitions.items()},
            {dn: (id(dr), id(dr.dataset), id(dr.group), dr.growing,
                  dr.size(), dr.size(physical=False), dr.last_block_created(),
                  [(id(b), id(b.block), id(b.group), b.values()) for b in dr.block_replicas])
             for dn, dr in s._dataset_replicas.items()})
        for n, s in inv.sites.items()}
    return out


def membership(inv):
    return {(s.name, p.name): {dr.dataset.name: None if m is None else sorted(b.block.name for b in m)
                               for dr, m in sp.replicas.items()}
            for s in inv.sites.values() for p, sp in s.partitions.items()}


def recomputed_membership(inv):
    """Partition membership computed from scratch from the partition conditions."""
    out = {}
    for s in inv.sites.values():
        for p in s.partitions:
            members = {}
            for dr in s.dataset_replicas():
                brs = [br for br in dr.block_replicas if p.contains(br)]
                if brs:
                    members[dr.dataset.name] = (None if len(brs) == len(dr.block_replicas)
                                                else sorted(br.block.name for br in brs))
            out[(s.name, p.name)] = members
    return out


def usage(inv, site, partition='Default', physical=True):
    return inv.sites[site].partition(partition).usage(physical)


# ------------------------------------------------------------------------------------------ update
def test_update_creates_new_object_and_returns_it_not_the_argument(make_inventory):
    inv = make_inventory()
    arg = Dataset('/X/Y/Z', status='valid', software_version=('CMSSW', 14), last_update=5)
    embedded = inv.update(arg)
    assert embedded is not arg
    assert inv.datasets['/X/Y/Z'] is embedded
    assert (embedded.status, embedded.software_version, embedded.last_update) == (DatasetStatus.VALID, ('CMSSW', 14), 5)
    assert embedded.id > 0


def test_update_existing_copies_values_into_the_embedded_object(make_inventory):
    inv = make_inventory()
    before = inv.datasets[RAW]
    blocks = list(before.blocks)
    embedded = inv.update(Dataset(RAW, status='invalid', is_open=False))
    assert embedded is before
    assert inv.datasets[RAW] is before
    assert before.status == DatasetStatus.INVALID and before.is_open is False
    assert before.blocks == blocks, 'copying values must keep the children'


@pytest.mark.parametrize('make_arg', [
    lambda: Dataset('/X/Y/Z', status='valid'),
    lambda: Dataset(RAW, status='deprecated'),
    lambda: Block('b3', RAW, size=10, num_files=1),
    lambda: Block('b1', RAW, size=999, num_files=9),
    lambda: Site('T3_NEW', host='h', filename_mapping={'root': [[('(.*)', 'root://h/{0}')]]}),
    lambda: Site('T2_A', host='other'),
    lambda: Group('newgroup', 'dataset'),
    lambda: DatasetReplica(AOD, 'T2_A', False, 'ops'),
    lambda: BlockReplica('/A/B/RAW#b1', 'T2_A', 'ops', True),
    lambda: SitePartition('T2_A', 'Default', 1000),
], ids=['new-dataset', 'dataset', 'new-block', 'block', 'new-site', 'site', 'group', 'datasetreplica',
        'blockreplica', 'sitepartition'])
def test_update_leaves_the_argument_untouched_and_never_inserts_it(make_inventory, make_arg):
    inv = make_inventory()
    arg = make_arg()
    wire = to_dict(arg)
    embedded = inv.update(arg)
    assert embedded is not arg
    assert to_dict(arg) == wire, 'the argument was modified'
    assert type(embedded) is type(arg)
    # the inventory holds its own object, with the argument's values
    compare = {k: v for k, v in to_dict(embedded).items() if k != 'id'}
    expected = {k: v for k, v in wire.items() if k != 'id'}
    assert compare == expected
    assert all(obj is not arg for obj in _all_objects(inv))


def _all_objects(inv):
    yield from inv.datasets.values()
    yield from inv.sites.values()
    yield from inv.groups.values()
    yield from inv.partitions.values()
    for d in inv.datasets.values():
        yield from d.blocks
        yield from d.replicas
        for b in d.blocks:
            yield from b.replicas
    for s in inv.sites.values():
        yield from s.partitions.values()


def test_update_with_unlinked_clone_links_it_to_the_inventory_objects(make_inventory):
    inv = make_inventory()
    inv.update(DatasetReplica(RAW, 'T1_B'))
    arg = BlockReplica('/A/B/RAW#b1', 'T1_B', 'ops')
    assert (arg.block, arg.site, arg.group) == ('/A/B/RAW#b1', 'T1_B', 'ops')  # names only
    br = inv.update(arg)
    block = inv.datasets[RAW].find_block('b1')
    assert br.block is block and br.site is inv.sites['T1_B'] and br.group is inv.groups['ops']
    assert br in block.replicas
    assert inv.sites['T1_B'].find_block_replica('/A/B/RAW#b1') is br
    assert inv.sites['T1_B'].find_dataset_replica(RAW).block_replicas == [br]
    assert br.size == 100 and br.is_complete()
    assert arg.block == '/A/B/RAW#b1', 'the clone must stay unlinked'


def test_update_with_object_of_another_inventory_embeds_a_copy(make_inventory):
    source = make_inventory()
    target = Inventory()
    site = target.update(source.sites['T2_A'])
    assert site is not source.sites['T2_A']
    assert target.sites['T2_A'] is site
    assert source.sites['T2_A'].find_dataset_replica(RAW) is not None
    assert list(site.dataset_replicas()) == [], 'children are not copied by update'


def test_update_checked_reports_whether_anything_changed(make_inventory):
    inv = make_inventory()
    obj, changed = inv.update_checked(Block('b1', RAW, size=100, num_files=2))
    assert (obj, changed) == (inv.datasets[RAW].find_block('b1'), False)
    obj, changed = inv.update_checked(Block('b1', RAW, size=120, num_files=3))
    assert changed and obj.size == 120


def test_updating_block_size_changes_size_of_complete_replicas(make_inventory):
    inv = make_inventory()
    inv.update(Block('b1', RAW, size=400, num_files=4))
    br = inv.sites['T2_A'].find_block_replica('/A/B/RAW#b1')
    assert br.size == 400 and br.is_complete()
    assert usage(inv, 'T2_A') == 450
    replica = inv.sites['T2_A'].find_dataset_replica(RAW)
    assert replica.size() == replica.size(physical=False) == 450
    aod = inv.sites['T1_B'].find_dataset_replica(AOD)
    inv.update(Block('c1', AOD, size=90, num_files=9))
    assert (aod.size(), aod.size(physical=False)) == (30, 90), 'an incomplete replica keeps its own size'


@pytest.mark.parametrize('obj, message', [
    (Block('x', '/no/such/ds'), 'Unknown dataset /no/such/ds'),
    (DatasetReplica('/no/such/ds', 'T2_A'), 'Unknown dataset /no/such/ds'),
    (DatasetReplica(RAW, 'T9_NOWHERE'), 'Unknown site T9_NOWHERE'),
    (DatasetReplica(AOD, 'T2_A', group='nogroup'), 'Unknown group nogroup'),
    (BlockReplica('/A/B/RAW#zz', 'T2_A'), 'Unknown block /A/B/RAW#zz'),
    (BlockReplica('/A/B/RAW#b1', 'T9_NOWHERE'), 'Unknown site T9_NOWHERE'),
    (BlockReplica('/A/B/RAW#b1', 'T2_A', 'nogroup'), 'Unknown group nogroup'),
    (BlockReplica('/C/D/AOD#c1', 'T2_A'), 'no replica of dataset /C/D/AOD at T2_A'),
    (File('/store/f.root', '/A/B/RAW#zz', 5), 'Unknown block /A/B/RAW#zz'),
    (SitePartition('T2_A', 'NoPartition', 5), 'Unknown partition NoPartition'),
    (SitePartition('T9_NOWHERE', 'Default', 5), 'Unknown site T9_NOWHERE'),
    (Partition('Super', subpartitions=['NoPartition']), 'Unknown partition NoPartition'),
], ids=lambda x: x if isinstance(x, str) else type(x).__name__)
def test_update_with_missing_parent_is_an_error_and_changes_nothing(make_inventory, obj, message):
    inv = make_inventory()
    before = structure(inv)
    with pytest.raises(ObjectError, match=message):
        inv.update(obj)
    assert structure(inv) == before


def test_block_replica_without_file_list_must_have_the_block_size(make_inventory):
    inv = make_inventory()
    inv.update(DatasetReplica(RAW, 'T1_B'))
    with pytest.raises(ObjectError, match='must equal the block size 100'):
        inv.update(BlockReplica('/A/B/RAW#b1', 'T1_B', 'ops', size=60))
    assert inv.sites['T1_B'].find_block_replica('/A/B/RAW#b1') is None


def test_update_of_unknown_type_is_an_error(make_inventory):
    with pytest.raises(ObjectError, match='cannot update an object of type str'):
        make_inventory().update('dataset')


# ------------------------------------------------------------------------------------------ delete
def test_delete_dataset_removes_its_blocks_and_replicas(make_inventory):
    inv = make_inventory()
    removed = inv.delete(Dataset(RAW))
    assert removed is not None and removed.name == RAW
    assert RAW not in inv.datasets
    site = inv.sites['T2_A']
    assert site.find_dataset_replica(RAW) is None
    assert list(site.block_replicas()) == []
    assert usage(inv, 'T2_A') == 0
    assert site.partition('Default').replicas == {}
    assert AOD in inv.datasets and inv.sites['T1_B'].find_dataset_replica(AOD) is not None


def test_delete_block_removes_its_block_replicas_only(make_inventory):
    inv = make_inventory()
    inv.delete(Block('b1', RAW))
    dataset = inv.datasets[RAW]
    assert [b.name for b in dataset.blocks] == ['b2']
    replica = inv.sites['T2_A'].find_dataset_replica(RAW)
    assert [br.block.name for br in replica.block_replicas] == ['b2']
    assert dataset.size == 50
    assert usage(inv, 'T2_A') == 50
    assert replica.is_full()


def test_delete_only_block_of_a_replica_removes_the_dataset_replica(make_inventory):
    inv = make_inventory()
    inv.delete(Block('c1', AOD))
    assert inv.datasets[AOD].blocks == []
    assert inv.sites['T1_B'].find_dataset_replica(AOD) is None
    assert inv.datasets[AOD].replicas == []


def test_delete_site_removes_its_replicas(make_inventory):
    inv = make_inventory()
    inv.delete(Site('T2_A'))
    assert 'T2_A' not in inv.sites
    dataset = inv.datasets[RAW]
    assert dataset.replicas == []
    assert all(b.replicas == () for b in dataset.blocks)
    assert [b.name for b in dataset.blocks] == ['b1', 'b2'], 'the data itself stays'


def test_delete_block_replica_keeps_the_dataset_replica_while_others_remain(make_inventory):
    inv = make_inventory()
    removed = inv.delete(BlockReplica('/A/B/RAW#b1', 'T2_A'))
    assert removed is not None
    replica = inv.sites['T2_A'].find_dataset_replica(RAW)
    assert replica is not None and [br.block.name for br in replica.block_replicas] == ['b2']
    assert inv.datasets[RAW].find_block('b1').replicas == ()
    assert replica.is_partial() and not replica.is_full()
    assert usage(inv, 'T2_A') == 50


def test_delete_last_block_replica_removes_dataset_replica(make_inventory):
    inv = make_inventory()
    replica = inv.sites['T2_A'].find_dataset_replica(RAW)
    assert replica.growing, 'even a growing replica goes'
    inv.delete(BlockReplica('/A/B/RAW#b1', 'T2_A'))
    inv.delete(BlockReplica('/A/B/RAW#b2', 'T2_A'))
    assert inv.sites['T2_A'].find_dataset_replica(RAW) is None
    assert inv.datasets[RAW].replicas == []
    assert inv.sites['T2_A'].partition('Default').replicas == {}


def test_delete_dataset_replica_removes_its_block_replicas(make_inventory):
    inv = make_inventory()
    removed = inv.delete(DatasetReplica(RAW, 'T2_A'))
    assert removed is not None
    assert inv.sites['T2_A'].find_dataset_replica(RAW) is None
    assert all(b.replicas == () for b in inv.datasets[RAW].blocks)
    assert usage(inv, 'T2_A') == 0


def test_delete_group_hands_its_replicas_to_the_null_group(make_inventory):
    inv = make_inventory()
    assert usage(inv, 'T2_A') == 150
    removed = inv.delete(Group('physics'))
    assert removed is not None and 'physics' not in inv.groups
    replica = inv.sites['T2_A'].find_dataset_replica(RAW)
    assert replica.group is inv.null_group
    assert [br.group for br in replica.block_replicas] == [inv.null_group, inv.null_group]
    assert usage(inv, 'T2_A') == 0, 'unowned replicas leave the Default partition'
    assert usage(inv, 'T1_B') == 30, 'other groups are not touched'


def test_null_group_cannot_be_deleted(make_inventory):
    inv = make_inventory()
    with pytest.raises(ObjectError, match='null group cannot be deleted'):
        inv.delete(Group(None))
    assert inv.groups[None] is inv.null_group


def test_site_partition_cannot_be_deleted(make_inventory):
    inv = make_inventory()
    with pytest.raises(ObjectError, match='site partition cannot be deleted'):
        inv.delete(SitePartition('T2_A', 'Default'))
    assert inv.sites['T2_A'].partition('Default').usage() == 150


@pytest.mark.parametrize('obj', [
    Dataset('/no/such/ds'), Block('zz', RAW), Block('b1', '/no/such/ds'), Site('T9_NOWHERE'),
    Group('nogroup'), DatasetReplica(AOD, 'T2_A'), BlockReplica('/A/B/RAW#b1', 'T1_B'),
    BlockReplica('/A/B/RAW#b1', 'T9_NOWHERE'), Partition('NoPartition'),
], ids=repr)
def test_delete_of_unknown_object_returns_none_and_changes_nothing(make_inventory, obj):
    inv = make_inventory()
    before = structure(inv)
    assert inv.delete(obj) is None
    assert structure(inv) == before


# ------------------------------------------------------------------------------------------ derived
def test_block_replica_is_complete_only_with_all_files_and_size(make_inventory):
    inv = make_inventory()
    full = inv.sites['T2_A'].find_block_replica('/A/B/RAW#b1')
    assert full.is_complete() and full.size == 100 and full.num_files == 2
    partial = inv.sites['T1_B'].find_block_replica('/C/D/AOD#c1')
    assert not partial.is_complete() and partial.size == 30 and partial.num_files == 3
    inv.update(BlockReplica('/C/D/AOD#c1', 'T1_B', 'ops', size=70, file_ids=range(1, 8)))
    assert partial.is_complete()
    inv.update(BlockReplica('/C/D/AOD#c1', 'T1_B', 'ops', size=60, file_ids=range(1, 8)))
    assert not partial.is_complete(), 'all files but not the full size'


def test_empty_block_replica_is_incomplete(make_inventory):
    inv = make_inventory()
    inv.update(DatasetReplica(RAW, 'T1_B'))
    br = inv.update(BlockReplica('/A/B/RAW#b1', 'T1_B', 'ops', size=0))
    assert br.file_ids == () and br.size == 0 and not br.is_complete()


def test_dataset_replica_full_partial_and_complete(make_inventory):
    inv = make_inventory()
    full = inv.sites['T2_A'].find_dataset_replica(RAW)
    assert (full.is_complete(), full.is_full(), full.is_partial()) == (True, True, False)
    incomplete = inv.sites['T1_B'].find_dataset_replica(AOD)
    assert (incomplete.is_complete(), incomplete.is_full(), incomplete.is_partial()) == (False, False, False)
    inv.delete(BlockReplica('/A/B/RAW#b2', 'T2_A'))
    assert (full.is_complete(), full.is_full(), full.is_partial()) == (True, False, True)


def test_dataset_replica_without_block_replicas_is_complete_and_partial(make_inventory):
    inv = make_inventory()
    empty = inv.update(DatasetReplica(RAW, 'T1_B'))
    assert empty.is_complete() and empty.is_partial() and not empty.is_full()
    assert empty.size() == 0


def test_dataset_replica_size_is_physical_or_projected(make_inventory):
    inv = make_inventory()
    aod = inv.sites['T1_B'].find_dataset_replica(AOD)
    assert aod.size() == 30 and aod.size(physical=True) == 30
    assert aod.size(physical=False) == 70
    raw = inv.sites['T2_A'].find_dataset_replica(RAW)
    assert raw.size() == raw.size(physical=False) == 150


def test_dataset_size_and_num_files_sum_over_blocks(make_inventory):
    inv = make_inventory()
    assert (inv.datasets[RAW].size, inv.datasets[RAW].num_files) == (150, 3)


def test_quota_zero_gives_maximal_occupancy(make_inventory):
    inv = make_inventory()
    sp = inv.sites['T2_A'].partition('Default')
    assert sp.quota == 0
    assert sp.occupancy_fraction() == sys.float_info.max


def test_negative_quota_means_unlimited_and_zero_occupancy(make_inventory):
    inv = make_inventory()
    inv.update(SitePartition('T2_A', 'Default', -1))
    assert inv.sites['T2_A'].partition('Default').occupancy_fraction() == 0.


def test_occupancy_is_usage_over_quota_physical_or_projected(make_inventory):
    inv = make_inventory()
    inv.update(SitePartition('T2_A', 'Default', 300))
    inv.update(SitePartition('T1_B', 'Default', 140))
    assert inv.sites['T2_A'].partition('Default').quota == 300
    assert inv.sites['T2_A'].partition('Default').occupancy_fraction() == 0.5
    t1 = inv.sites['T1_B'].partition('Default')
    assert t1.occupancy_fraction() == pytest.approx(30 / 140)
    assert t1.occupancy_fraction(physical=False) == 0.5


def test_usage_counts_only_block_replicas_owned_by_a_group(make_inventory):
    inv = make_inventory()
    inv.update(DatasetReplica(RAW, 'T1_B'))
    inv.update(BlockReplica('/A/B/RAW#b1', 'T1_B', None))
    inv.update(BlockReplica('/A/B/RAW#b2', 'T1_B', None))
    assert usage(inv, 'T1_B') == 30, 'replicas of the null group are not in the Default partition'
    inv.update(BlockReplica('/A/B/RAW#b1', 'T1_B', 'ops'))
    assert usage(inv, 'T1_B') == 130
    assert usage(inv, 'T1_B', physical=False) == 170
    inv.update(BlockReplica('/A/B/RAW#b2', 'T1_B', 'physics'))
    assert usage(inv, 'T1_B') == 180
    inv.update(BlockReplica('/A/B/RAW#b1', 'T1_B', None))
    assert usage(inv, 'T1_B') == 80
    assert membership(inv) == recomputed_membership(inv)


def test_partition_membership_is_all_or_listed_block_replicas(make_inventory):
    inv = make_inventory()
    sp = inv.sites['T2_A'].partition('Default')
    replica = inv.sites['T2_A'].find_dataset_replica(RAW)
    assert sp.replicas == {replica: None}
    inv.update(BlockReplica('/A/B/RAW#b2', 'T2_A', None))
    assert sp.replicas == {replica: {replica.find_block_replica('b1')}}
    inv.update(BlockReplica('/A/B/RAW#b2', 'T2_A', 'ops'))
    assert sp.replicas == {replica: None}


def test_superpartition_quota_is_sum_of_subpartition_quotas(make_inventory):
    inv = make_inventory()
    inv.update(Partition('Tape', Condition('custodial', lambda br: br.is_custodial)))
    inv.update(Partition('All', subpartitions=['Default', 'Tape']))
    inv.update(SitePartition('T2_A', 'Default', 100))
    inv.update(SitePartition('T2_A', 'Tape', 50))
    site = inv.sites['T2_A']
    assert site.partition('All').quota == 150
    assert inv.partitions['Default'].parent is inv.partitions['All']
    inv.update(SitePartition('T2_A', 'Tape', -1))
    assert site.partition('All').quota < 0, 'an unlimited subpartition makes the sum unlimited'
    with pytest.raises(ObjectError, match='superpartition'):
        inv.update(SitePartition('T2_A', 'All', 10))


def test_new_partition_contains_only_matching_block_replicas(make_inventory):
    inv = make_inventory()
    inv.update(BlockReplica('/A/B/RAW#b1', 'T2_A', 'physics', is_custodial=True))
    inv.update(Partition('Tape', Condition('custodial', lambda br: br.is_custodial)))
    tape = inv.sites['T2_A'].partition('Tape')
    assert tape.usage() == 100, 'only the custodial block replica b1 matches the condition'
    assert inv.sites['T1_B'].partition('Tape').usage() == 0
    assert membership(inv) == recomputed_membership(inv)


def test_new_site_gets_a_site_partition_for_every_partition(make_inventory):
    inv = make_inventory()
    inv.update(Partition('Tape', Condition('custodial', lambda br: br.is_custodial)))
    site = inv.update(Site('T3_NEW'))
    assert sorted(p.name for p in site.partitions) == ['Default', 'Tape']
    assert site.partition('Tape').quota == 0


# ------------------------------------------------------------------------------------------ journal
def _many_changes(inv):
    inv.update(Dataset('/N/E/W', status='production'))
    inv.update(Block('n1', '/N/E/W', size=5, num_files=1))
    inv.update(Dataset(RAW, status='invalid', is_open=False))
    inv.update(Block('b1', RAW, size=1000, num_files=20))
    inv.update(Site('T3_NEW', host='h'))
    inv.update(Site('T2_A', host='changed'))
    inv.update(Group('newgroup', 'dataset'))
    inv.update(DatasetReplica('/N/E/W', 'T3_NEW', True, 'newgroup'))
    inv.update(BlockReplica('/N/E/W#n1', 'T3_NEW', 'newgroup'))
    inv.update(DatasetReplica(RAW, 'T1_B', False, 'ops'))
    inv.update(BlockReplica('/A/B/RAW#b2', 'T1_B', 'ops', size=10, file_ids=('/store/x.root',)))
    inv.update(BlockReplica('/A/B/RAW#b1', 'T2_A', None))
    inv.update(SitePartition('T2_A', 'Default', 12345))
    inv.update(Partition('Tape', Condition('custodial', lambda br: br.is_custodial)))
    inv.delete(Group('physics'))
    inv.delete(BlockReplica('/C/D/AOD#c1', 'T1_B'))
    inv.delete(Block('b2', RAW))
    inv.delete(Dataset(AOD))
    inv.delete(Site('T2_A'))


def test_abort_restores_the_inventory_exactly(make_inventory):
    inv = make_inventory()
    before = structure(inv)
    inv.begin()
    _many_changes(inv)
    assert structure(inv) != before
    assert inv.abort() is True
    assert structure(inv) == before
    assert inv.journal is None
    assert usage(inv, 'T2_A') == 150 and usage(inv, 'T1_B') == 30


def test_objects_created_after_abort_reuse_the_same_ids(make_inventory):
    inv = make_inventory()
    inv.begin()
    lost = inv.update(Dataset('/N/E/W'))
    inv.abort()
    again = inv.update(Dataset('/N/E/W'))
    assert again is not lost and again.id == lost.id


def test_changes_stay_after_end(make_inventory):
    inv = make_inventory()
    inv.begin()
    inv.delete(Dataset(AOD))
    inv.end()
    assert AOD not in inv.datasets and inv.journal is None


def test_a_second_change_set_cannot_begin_while_one_is_open(make_inventory):
    inv = make_inventory()
    inv.begin()
    with pytest.raises(ObjectError, match='already being applied'):
        inv.begin()


# ------------------------------------------------------------------------------------------ properties
DATASETS = [RAW, AOD, '/E/F/NEW']
BLOCK_NAMES = ['b1', 'b2', 'c1', 'n1']
SITES = ['T2_A', 'T1_B', 'T3_NEW']
GROUPS = [None, 'physics', 'ops', 'newgroup']

operation = st.one_of(
    st.tuples(st.just('dataset'), st.sampled_from(DATASETS), st.sampled_from(['valid', 'invalid'])),
    st.tuples(st.just('block'), st.sampled_from(DATASETS), st.sampled_from(BLOCK_NAMES),
              st.integers(0, 300), st.integers(0, 5)),
    st.tuples(st.just('site'), st.sampled_from(SITES), st.sampled_from(['', 'h1'])),
    st.tuples(st.just('group'), st.sampled_from(GROUPS[1:]), st.sampled_from(['block', 'dataset'])),
    st.tuples(st.just('datasetreplica'), st.sampled_from(DATASETS), st.sampled_from(SITES), st.booleans(),
              st.sampled_from(GROUPS)),
    st.tuples(st.just('blockreplica'), st.sampled_from(DATASETS), st.sampled_from(BLOCK_NAMES),
              st.sampled_from(SITES), st.sampled_from(GROUPS), st.booleans(),
              st.sampled_from([(-1, None), (0, None), (10, (1,)), (20, (1, 2))]), st.integers(0, 3)),
    st.tuples(st.just('quota'), st.sampled_from(SITES), st.integers(-1, 500)),
    st.tuples(st.just('delete'), st.sampled_from(['dataset', 'block', 'site', 'group', 'datasetreplica',
                                                  'blockreplica']),
              st.sampled_from(DATASETS), st.sampled_from(BLOCK_NAMES), st.sampled_from(SITES),
              st.sampled_from(GROUPS[1:])),
)


def _apply(inv, op):
    kind = op[0]
    try:
        if kind == 'dataset':
            inv.update(Dataset(op[1], status=op[2]))
        elif kind == 'block':
            inv.update(Block(op[2], op[1], size=op[3], num_files=op[4]))
        elif kind == 'site':
            inv.update(Site(op[1], host=op[2]))
        elif kind == 'group':
            inv.update(Group(op[1], op[2]))
        elif kind == 'datasetreplica':
            inv.update(DatasetReplica(op[1], op[2], op[3], op[4]))
        elif kind == 'blockreplica':
            size, file_ids = op[6]
            inv.update(BlockReplica(f'{op[1]}#{op[2]}', op[3], op[4], op[5], size, op[7], file_ids))
        elif kind == 'quota':
            inv.update(SitePartition(op[1], 'Default', op[2]))
        else:
            _, what, ds, block, site, group = op
            inv.delete({'dataset': Dataset(ds), 'block': Block(block, ds), 'site': Site(site),
                        'group': Group(group), 'datasetreplica': DatasetReplica(ds, site),
                        'blockreplica': BlockReplica(f'{ds}#{block}', site)}[what])
    except ObjectError:
        pass   # refused operations are part of the game: they must not leave traces either


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# (make_inventory is a factory: every example builds its own inventory)
@given(setup=st.lists(operation, max_size=10), changes=st.lists(operation, min_size=1, max_size=30))
def test_abort_after_any_changes_restores_the_inventory_exactly(make_inventory, setup, changes):
    inv = make_inventory()
    for op in setup:
        _apply(inv, op)
    before = structure(inv)
    inv.begin()
    for op in changes:
        _apply(inv, op)
    assert inv.abort()
    assert structure(inv) == before


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# (make_inventory is a factory: every example builds its own inventory)
@given(changes=st.lists(operation, max_size=40))
def test_partition_membership_stays_consistent_with_conditions(make_inventory, changes):
    inv = make_inventory()
    for op in changes:
        _apply(inv, op)
    assert membership(inv) == recomputed_membership(inv)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# (make_inventory is a factory: every example builds its own inventory)
@given(changes=st.lists(operation, max_size=40))
def test_dataset_replica_sizes_always_equal_the_sum_over_block_replicas(make_inventory, changes):
    inv = make_inventory()
    for op in changes:
        _apply(inv, op)
    for site in inv.sites.values():
        for replica in site.dataset_replicas():
            brs = replica.block_replicas
            assert replica.size() == sum(br.size for br in brs)
            assert replica.size(physical=False) == sum(br.block.size for br in brs)
            assert replica.last_block_created() == max((br.last_update for br in brs), default=0)
