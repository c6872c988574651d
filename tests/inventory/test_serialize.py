"""The JSON wire format of inventory objects (reference section 1.7, made safe: tagged, versioned,
validated dicts instead of repr/eval)."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from inventory.objects import (Block, BlockReplica, Condition, Dataset, DatasetReplica, File, Group,
                               ObjectError, OWNED, Partition, Site, SitePartition, from_dict, to_dict)
from inventory.objects.base import DataType, DatasetStatus, OwnershipLevel, SiteStatus, StorageType

names = st.text(st.characters(blacklist_categories=('Cs',), blacklist_characters='#'), min_size=1, max_size=30)
sizes = st.integers(0, 2 ** 62)
stamps = st.integers(0, 2 ** 40)
ids = st.integers(0, 2 ** 40)
block_full_names = st.builds(lambda d, b: f'{d}#{b}', names, names)
optional_group = st.none() | names


def _enum(cls):
    return st.sampled_from(list(cls)) | st.sampled_from([m.name.lower() for m in cls])


datasets = st.builds(
    Dataset, names, _enum(DatasetStatus), _enum(DataType),
    st.none() | names | st.tuples(names, st.integers(0, 99), st.integers(0, 99)), stamps, st.booleans(), ids)
blocks = st.builds(Block, names, names, sizes, st.integers(0, 10 ** 6), st.booleans(), stamps, ids)
files = st.builds(File, names, st.none() | block_full_names, sizes,
                  st.lists(st.tuples(st.sampled_from(['adler32', 'crc32', 'md5']), st.text(max_size=10)),
                           max_size=3), ids)
mappings = st.dictionaries(st.sampled_from(['root', 'gfal2', 'srm']),
                           st.lists(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)),
                                             min_size=1, max_size=3), max_size=2), max_size=3)
sites = st.builds(Site, names, st.text(max_size=20), _enum(StorageType), st.text(max_size=20),
                  _enum(SiteStatus), mappings, st.none() | st.text(max_size=20), ids)
groups = st.builds(Group, st.none() | names, _enum(OwnershipLevel), ids)
partitions = st.builds(
    Partition, names,
    st.none() | st.just(OWNED) | st.builds(lambda t: Condition(t, lambda br: False), st.text(min_size=1, max_size=30)),
    st.none() | st.lists(names, min_size=1, max_size=3), ids)
sitepartitions = st.builds(SitePartition, names, names, st.integers(-1, 2 ** 55))
datasetreplicas = st.builds(DatasetReplica, names, names, st.booleans(), optional_group)
blockreplicas = st.one_of(
    # complete: size -1, no file list
    st.builds(BlockReplica, block_full_names, names, optional_group, st.booleans(), st.just(-1), stamps),
    # incomplete: explicit size and file ids (LFNs stand in for files not yet stored)
    st.builds(BlockReplica, block_full_names, names, optional_group, st.booleans(), sizes, stamps,
              st.lists(st.integers(1, 2 ** 40) | names, max_size=8)),
)

STRATEGIES = {
    'Dataset': datasets, 'Block': blocks, 'File': files, 'Site': sites, 'Group': groups,
    'Partition': partitions, 'SitePartition': sitepartitions, 'DatasetReplica': datasetreplicas,
    'BlockReplica': blockreplicas,
}


def through_json(obj):
    return from_dict(json.loads(json.dumps(to_dict(obj))))


@pytest.mark.parametrize('kind', sorted(STRATEGIES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_class_round_trips_through_json(kind, data):
    obj = data.draw(STRATEGIES[kind])
    wire = to_dict(obj)
    assert wire['_t'] == kind and wire['_v'] == 2
    decoded = through_json(obj)
    assert type(decoded) is type(obj)
    assert to_dict(decoded) == wire
    assert decoded.key() == obj.key()
    assert decoded.values() == obj.values()


def test_linked_objects_are_sent_with_parent_names(make_inventory):
    inv = make_inventory()
    br = inv.sites['T1_B'].find_block_replica('/C/D/AOD#c1')
    wire = to_dict(br)
    assert (wire['dataset'], wire['block'], wire['site'], wire['group']) == ('/C/D/AOD', 'c1', 'T1_B', 'ops')
    assert (wire['size'], wire['file_ids']) == (30, [1, 2, 3])
    clone = from_dict(wire)
    assert (clone.block.dataset, clone.block.name, clone.site, clone.group) == ('/C/D/AOD', 'c1', 'T1_B', 'ops')
    assert clone.block_full_name == '/C/D/AOD#c1'
    dr = to_dict(inv.sites['T2_A'].find_dataset_replica('/A/B/RAW'))
    assert dr == {'_t': 'DatasetReplica', '_v': 2, 'dataset': '/A/B/RAW', 'site': 'T2_A', 'growing': True,
                  'group': 'physics'}
    block = to_dict(inv.datasets['/A/B/RAW'].find_block('b1'))
    assert (block['dataset'], block['size'], block['num_files']) == ('/A/B/RAW', 100, 2)


def test_complete_block_replica_is_sent_with_size_minus_one_and_no_file_list(make_inventory):
    inv = make_inventory()
    wire = to_dict(inv.sites['T2_A'].find_block_replica('/A/B/RAW#b1'))
    assert (wire['size'], wire['file_ids']) == (-1, None)
    clone = from_dict(wire)
    assert clone.file_ids is None


def test_decoded_clone_embeds_into_another_inventory(make_inventory):
    source = make_inventory()
    target = make_inventory()
    target.delete(source.datasets['/A/B/RAW'])
    for obj in [source.datasets['/A/B/RAW'], *source.datasets['/A/B/RAW'].blocks,
                source.sites['T2_A'].find_dataset_replica('/A/B/RAW'),
                *source.sites['T2_A'].find_dataset_replica('/A/B/RAW').block_replicas]:
        target.update(through_json(obj))
    replica = target.sites['T2_A'].find_dataset_replica('/A/B/RAW')
    assert replica.is_full() and replica.growing and replica.group.name == 'physics'
    assert target.sites['T2_A'].partition('Default').usage() == 150


def test_names_are_data_never_code():
    name = "__import__('os').system('false')"
    assert from_dict(to_dict(Dataset(name))).name == name


BAD = [
    ({'_t': 'Nope', '_v': 1, 'name': 'x'}, "unknown object type tag 'Nope'"),
    ({'_v': 1, 'name': 'x'}, 'unknown object type tag None'),
    ({'_t': ['Dataset'], '_v': 1, 'name': 'x'}, 'unknown object type tag'),
    ({'_t': 'Dataset', '_v': 3, 'name': '/a'}, 'unsupported serialization version 3'),
    ({'_t': 'Dataset', '_v': True, 'name': '/a'}, 'unsupported serialization version True'),
    ({'_t': 'Dataset', '_v': '1', 'name': '/a'}, "unsupported serialization version '1'"),
    ({'_t': 'Dataset', '_v': 1}, "missing field 'name'"),
    ({'_t': 'Dataset', '_v': 1, 'name': 5}, "field 'name' must be a string"),
    ({'_t': 'Dataset', '_v': 1, 'name': ''}, 'dataset name must be a non-empty string'),
    ({'_t': 'Dataset', '_v': 1, 'name': '/a', 'status': 'bogus'}, "invalid DatasetStatus 'bogus'"),
    ({'_t': 'Dataset', '_v': 1, 'name': '/a', 'last_update': -1}, "'last_update' must be an integer >= 0"),
    ({'_t': 'Dataset', '_v': 1, 'name': '/a', 'last_update': '5'}, "'last_update' must be an integer"),
    ({'_t': 'Dataset', '_v': 1, 'name': '/a', 'is_open': 'yes'}, "'is_open' must be true or false"),
    ({'_t': 'Dataset', '_v': 1, 'name': '/a', 'id': -3}, "'id' must be an integer >= 0"),
    ({'_t': 'Block', '_v': 1, 'name': 'b', 'dataset': '/a', 'size': -5}, "'size' must be an integer >= 0"),
    ({'_t': 'Block', '_v': 1, 'name': 'b', 'dataset': '/a', 'size': 1.5}, "'size' must be an integer"),
    ({'_t': 'Block', '_v': 1, 'name': 'b', 'dataset': '/a', 'size': True}, "'size' must be an integer"),
    ({'_t': 'Block', '_v': 1, 'name': 'b', 'dataset': '/a', 'num_files': -1}, "'num_files' must be an integer >= 0"),
    ({'_t': 'Block', '_v': 1, 'name': 'b', 'dataset': 7}, "'dataset' must be a string"),
    ({'_t': 'File', '_v': 1, 'lfn': '/f', 'block': '/a#b', 'size': -1}, "'size' must be an integer >= 0"),
    ({'_t': 'File', '_v': 1, 'lfn': '/f', 'block': '/a#b', 'checksum': 'abc'}, "'checksum' must be a list"),
    ({'_t': 'File', '_v': 1, 'lfn': '/f', 'block': '/a#b', 'checksum': [['adler32', 5]]}, "'checksum' must be a list"),
    ({'_t': 'Site', '_v': 1, 'name': 'S', 'storage_type': 'floppy'}, "invalid StorageType 'floppy'"),
    ({'_t': 'Site', '_v': 1, 'name': 'S', 'status': 'sleepy'}, "invalid SiteStatus 'sleepy'"),
    ({'_t': 'Site', '_v': 1, 'name': 'S', 'filename_mapping': 'x'}, "'filename_mapping' must be an object"),
    ({'_t': 'Site', '_v': 1, 'name': 'S', 'filename_mapping': {'root': 5}}, "'filename_mapping' must be an object"),
    ({'_t': 'Site', '_v': 1, 'name': 'S', 'host': 5}, "'host' must be a string"),
    ({'_t': 'Group', '_v': 1, 'name': 5}, "'name' must be a string"),
    ({'_t': 'Group', '_v': 1, 'name': 'g', 'olevel': 'file'}, "invalid OwnershipLevel 'file'"),
    ({'_t': 'Partition', '_v': 1, 'name': 'P', 'subpartitions': 'A,B'}, "'subpartitions' must be a list"),
    ({'_t': 'SitePartition', '_v': 1, 'site': 'S', 'partition': 'P', 'quota': '5'}, "'quota' must be an integer"),
    ({'_t': 'SitePartition', '_v': 1, 'site': 'S'}, "missing field 'partition'"),
    ({'_t': 'DatasetReplica', '_v': 1, 'dataset': '/a', 'site': 'S', 'growing': 'no'}, "'growing' must be true or false"),
    ({'_t': 'DatasetReplica', '_v': 1, 'dataset': '/a', 'site': 5}, "'site' must be a string"),
    ({'_t': 'BlockReplica', '_v': 1, 'block': '/a#b', 'site': 'S', 'size': -2}, "'size' must be -1"),
    ({'_t': 'BlockReplica', '_v': 1, 'block': '/a#b', 'site': 'S', 'size': 5, 'file_ids': [1, True]}, "'file_ids' must be null or a list"),
    ({'_t': 'BlockReplica', '_v': 1, 'block': '/a#b', 'site': 'S', 'size': 5, 'file_ids': 'abc'}, "'file_ids' must be null or a list"),
    ({'_t': 'BlockReplica', '_v': 1, 'block': 'no-hash', 'site': 'S'}, "invalid block full name 'no-hash'"),
    ({'_t': 'BlockReplica', '_v': 1, 'block': '/a#b', 'site': 'S', 'is_custodial': 'true'}, "'is_custodial' must be true or false"),
    ({'_t': 'BlockReplica', '_v': 2, 'block': 'b', 'site': 'S'}, "missing field 'dataset'"),
    ({'_t': 'BlockReplica', '_v': 2, 'dataset': '/a', 'site': 'S'}, "missing field 'block'"),
    ({'_t': 'BlockReplica', '_v': 2, 'dataset': '/a', 'block': '', 'site': 'S'}, "'block' must be a non-empty string"),
    ({'_t': 'BlockReplica', '_v': 2, 'dataset': '/a', 'block': 5, 'site': 'S'}, "'block' must be a string"),
    ({'_t': 'File', '_v': 2, 'lfn': '/f', 'block': 'b'}, "'dataset' must be a name when the other is given"),
    ({'_t': 'File', '_v': 2, 'lfn': '/f', 'dataset': '/a'}, "'block' must be a name when the other is given"),
    ([1, 2], 'must be a JSON object, got list'),
    (None, 'must be a JSON object, got NoneType'),
]


@pytest.mark.parametrize('bad, message', BAD, ids=[m for _, m in BAD])
def test_bad_dict_is_refused_with_an_error_naming_the_problem(bad, message):
    with pytest.raises(ObjectError) as info:
        from_dict(bad)
    assert message in str(info.value)
