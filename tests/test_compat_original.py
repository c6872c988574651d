"""Scripts written for the original Dynamo: its documented `dynamo.dataformat` and
`dynamo.core.executable` API (reference sections 1, 2.4 and 5.3), as one script of checks that runs
in this process (fast) and as a real application forked by a running server."""
import runpy
import time

import pytest

from tests.conftest import manage
from tests.execution.app_helpers import Dyn

# One script, run both ways. Each check prints PASS or FAIL; the script exits with 1 if any failed.
CHECKS = r'''
import io
import json
import logging
import os
import sys
import tempfile

from dynamo.core.executable import inventory, authorized, authorizer, make_standard_logger
from dynamo.dataformat import (Block, BlockReplica, Configuration, ConfigurationError, Dataset,
                               DatasetReplica, File, Group, HistoryRecord, IntegrityError, ObjectError,
                               OperationalError, Partition, Site, SitePartition)
from dynamo.dataformat.history import CopiedReplica, DeletedReplica

RESULTS = []


def check(function):
    try:
        outcome = function()
    except Exception as exc:
        outcome = f'{type(exc).__name__}: {exc}'
    ok = outcome is None or outcome is True
    RESULTS.append(ok)
    print(('PASS ' if ok else 'FAIL ') + function.__name__ + ('' if ok else f': {outcome}'))
    return function


def expect(value, wanted):
    assert value == wanted, f'{value!r} != {wanted!r}'


def raises(error, function, *args):
    try:
        function(*args)
    except error:
        return
    raise AssertionError(f'{function.__name__}{args} did not raise {error.__name__}')


P = 'T3_CompatCheck'          # a site name no inventory has; everything below is made here
D = '/CompatCheck/Run2026-v1/RAW'


# ---------------------------------------------------------------- the names scripts import
@check
def executable_gives_the_inventory():
    assert inventory is not None and isinstance(inventory.datasets, dict)

@check
def executable_says_not_authorized_in_a_read_only_run():
    expect(authorized, False)

@check
def exceptions_exist():
    assert issubclass(IntegrityError, Exception) and issubclass(ConfigurationError, Exception)
    assert issubclass(OperationalError, Exception) and issubclass(ObjectError, Exception)

@check
def make_standard_logger_logs_at_the_level_given():
    logger = make_standard_logger('warning')
    expect(logger.getEffectiveLevel(), logging.WARNING)
    logger = make_standard_logger('info')
    expect(logger.getEffectiveLevel(), logging.INFO)

@check
def authorizer_lists_users_and_checks_grants():
    assert isinstance(authorizer.list_users(), list)
    expect(authorizer.check_user_auth('nobody-at-all', 'admin', 'inventory'), False)
    expect(authorizer.identify_user(name='nobody-at-all'), None)

# ---------------------------------------------------------------- constants
@check
def site_storage_types():
    expect((Site.TYPE_DISK, Site.TYPE_MSS, Site.TYPE_BUFFER, Site.TYPE_UNKNOWN), (1, 2, 3, 4))

@check
def site_statuses():
    expect((Site.STAT_READY, Site.STAT_WAITROOM, Site.STAT_MORGUE, Site.STAT_UNKNOWN), (1, 2, 3, 4))

@check
def dataset_statuses():
    expect((Dataset.STAT_UNKNOWN, Dataset.STAT_DELETED, Dataset.STAT_DEPRECATED, Dataset.STAT_INVALID,
            Dataset.STAT_PRODUCTION, Dataset.STAT_VALID, Dataset.STAT_IGNORED), (1, 2, 3, 4, 5, 6, 7))

@check
def dataset_types():
    expect((Dataset.TYPE_UNKNOWN, Dataset.TYPE_PRODUCTION, Dataset.TYPE_TEST), (1, 2, 3))

@check
def ownership_levels():
    expect((Group.OL_DATASET, Group.OL_BLOCK), (1, 2))

@check
def null_group_is_the_inventorys():
    assert Group.null_group.name is None
    assert inventory.groups[None] is Group.null_group

@check
def checksum_algorithms():
    assert 'adler32' in File.checksum_algorithms and 'crc32' in File.checksum_algorithms

# ---------------------------------------------------------------- helpers
@check
def site_status_names_and_values():
    expect(Site.status_name(Site.STAT_READY), 'ready')
    expect(Site.status_val('morgue'), Site.STAT_MORGUE)

@check
def site_storage_type_names_and_values():
    expect(Site.storage_type_name(Site.TYPE_MSS), 'mss')
    expect(Site.storage_type_val('disk'), Site.TYPE_DISK)

@check
def dataset_status_names_and_values():
    expect(Dataset.status_name(Dataset.STAT_VALID), 'valid')
    expect(Dataset.status_val('VALID'), Dataset.STAT_VALID)

@check
def dataset_type_names_and_values():
    expect(Dataset.data_type_name(Dataset.TYPE_PRODUCTION), 'production')
    expect(Dataset.data_type_val('test'), Dataset.TYPE_TEST)

@check
def group_olevel_names_and_values():
    expect(Group.olevel_name(Group.OL_BLOCK), 'Block')
    expect(Group.olevel_val('Dataset'), Group.OL_DATASET)

@check
def format_software_version():
    expect(Dataset.format_software_version(('CMSSW', 10, 6, 4)), ('CMSSW', 10, 6, 4))

@check
def block_full_names():
    expect(Block.to_full_name(D, 'b1'), D + '#b1')
    expect(Block.from_full_name(D + '#b1'), (D, 'b1'))

@check
def block_internal_names():
    expect(Block.to_real_name(Block.to_internal_name('b1')), 'b1')
    expect(Block('b1', D, internal_name=False).real_name(), 'b1')

# ---------------------------------------------------------------- constructors
@check
def site_with_sid():
    site = Site(P, 'se.example', Site.TYPE_DISK, 'root://se.example/', Site.STAT_READY, sid=11)
    expect((site.id, site.host, site.storage_type, site.status), (11, 'se.example', 1, 1))

@check
def dataset_with_did():
    dataset = Dataset(D, Dataset.STAT_VALID, Dataset.TYPE_PRODUCTION, None, 0, True, did=12)
    expect((dataset.id, dataset.status, dataset.data_type), (12, 6, 2))

@check
def block_with_bid():
    expect(Block('b1', D, 10, 1, bid=13).id, 13)

@check
def file_with_fid():
    expect(File('/store/compat/1.root', D + '#b1', 10, fid=14).id, 14)

@check
def group_with_gid():
    expect((Group('CompatOps', Group.OL_DATASET, gid=15).id, Group('CompatOps').olevel), (15, Group.OL_BLOCK))

@check
def partition_with_positional_pid():
    expect(Partition('CompatPart', None, 16).id, 16)

@check
def partition_with_pid():
    expect(Partition('CompatPart', pid=17).id, 17)

@check
def site_partition_quota():
    expect(SitePartition(P, 'Default', 1000).quota, 1000)

@check
def dataset_replica_fields():
    replica = DatasetReplica(D, P, True, 'CompatOps')
    expect((replica.growing, replica.group), (True, 'CompatOps'))

@check
def block_replica_fields():
    replica = BlockReplica(D + '#b1', P, 'CompatOps', True, -1, 5)
    expect((replica.is_custodial, replica.last_update, replica.file_ids), (True, 5, None))

# ---------------------------------------------------------------- the inventory
@check
def update_embeds_a_new_site_with_its_partitions():
    clone = Site(P, 'se.example', status='ready')
    site = inventory.update(clone)
    assert site is not clone and inventory.sites[P] is site
    assert site.partition('Default') is site.partitions[inventory.partitions['Default']]

@check
def update_embeds_group_dataset_and_blocks():
    inventory.update(Group('CompatOps', Group.OL_BLOCK))
    inventory.update(Dataset(D, status=Dataset.STAT_VALID))
    inventory.update(Block('b1', D, 100, 2))
    inventory.update(Block('b2', D, 50, 1))
    expect(sorted(b.name for b in inventory.datasets[D].blocks), ['b1', 'b2'])

@check
def dataset_size_and_files_follow_the_blocks():
    dataset = inventory.datasets[D]
    expect((dataset.size, dataset.num_files), (150, 3))

@check
def find_block():
    expect(inventory.datasets[D].find_block('b2').size, 50)

@check
def replicas_are_embedded_and_full():
    inventory.update(DatasetReplica(D, P, False, 'CompatOps'))
    for name in ('b1', 'b2'):
        inventory.update(BlockReplica(D + '#' + name, P, 'CompatOps'))
    replica = inventory.sites[P].find_dataset_replica(D)
    assert replica.is_full() and replica.is_complete() and not replica.is_partial()

@check
def find_replicas_by_object_and_name():
    site, dataset = inventory.sites[P], inventory.datasets[D]
    assert dataset.find_replica(P) is site.find_dataset_replica(dataset)
    block = dataset.find_block('b1')
    assert site.find_block_replica(block) is block.find_replica(site)

@check
def replica_sizes():
    replica = inventory.sites[P].find_dataset_replica(D)
    expect((replica.size(), replica.size(physical=False)), (150, 150))

@check
def partition_usage_and_occupancy():
    inventory.update(SitePartition(P, 'Default', 300))
    sp = inventory.sites[P].partition('Default')
    expect((sp.quota, sp.usage(), sp.occupancy_fraction()), (300, 150, 0.5))

@check
def is_last_copy():
    replica = inventory.sites[P].find_dataset_replica(D)
    expect(replica.is_last_copy(), True)

@check
def update_of_a_clone_copies_values():
    clone = inventory.datasets[D].unlinked_clone()
    clone.status = Dataset.STAT_INVALID
    inventory.update(clone)
    expect(inventory.datasets[D].status, Dataset.STAT_INVALID)

@check
def copy_takes_the_values_of_another():
    target = Dataset(D)
    target.copy(inventory.datasets[D])
    expect(target.status, Dataset.STAT_INVALID)
    block = Block('b9', D)
    block.copy(inventory.datasets[D].find_block('b1'))
    expect((block.size, block.num_files), (100, 2))

@check
def add_file_fills_an_empty_block_replica():
    block = inventory.datasets[D].find_block('b2')
    replica = BlockReplica(block, inventory.sites[P], None, False, 0, 0, ())
    replica.add_file(File('/store/compat/b2.root', block, 50))
    expect((replica.size, replica.file_ids, replica.is_complete()), (50, None, True))

@check
def add_file_of_a_partial_replica():
    block = inventory.datasets[D].find_block('b1')
    replica = BlockReplica(block, inventory.sites[P], None, False, 0, 0, ())
    replica.add_file(File('/store/compat/b1-1.root', block, 60))
    expect((replica.size, replica.file_ids, replica.is_complete()), (60, ('/store/compat/b1-1.root',), False))

@check
def unknown_parent_is_an_object_error():
    raises(ObjectError, inventory.update, DatasetReplica(D, 'T9_NoSuchSite'))

@check
def delete_of_the_null_group_is_refused():
    raises(ObjectError, inventory.delete, Group(None))

@check
def delete_of_a_group_gives_its_replicas_to_the_null_group():
    inventory.delete(Group('CompatOps'))
    replica = inventory.sites[P].find_dataset_replica(D)
    assert all(br.group is Group.null_group for br in replica.block_replicas)
    assert 'CompatOps' not in inventory.groups

@check
def delete_of_the_last_block_replica_removes_the_dataset_replica():
    inventory.delete(BlockReplica(D + '#b1', P))
    inventory.delete(BlockReplica(D + '#b2', P))
    assert inventory.sites[P].find_dataset_replica(D) is None and inventory.datasets[D].replicas == []

@check
def delete_of_a_dataset_and_a_site():
    inventory.delete(Dataset(D))
    inventory.delete(Site(P))
    assert D not in inventory.datasets and P not in inventory.sites

# ---------------------------------------------------------------- history and configuration
@check
def history_record():
    record = HistoryRecord(HistoryRecord.OP_COPY, 7, P, 1700000000, [CopiedReplica(D, 150)])
    expect((record.operation_type, record.operation_id, record.site_name, len(record.replicas)),
           (0, 7, P, 1))
    expect((HistoryRecord.OP_DELETE, HistoryRecord.ST_ENROUTE, HistoryRecord.ST_COMPLETE,
            HistoryRecord.ST_CANCELLED), (1, 1, 2, 3))
    expect(DeletedReplica(D, 5).size, 5)

@check
def configuration_from_a_dict():
    config = Configuration({'a': {'b': 1}}, c=[1, 2])
    expect((config.a.b, config.c, config.get('missing', 'x')), (1, [1, 2], 'x'))

@check
def configuration_from_a_file_with_environment_values():
    os.environ['DYN_COMPAT_CHECK'] = 'here'
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
        json.dump({'where': '$(DYN_COMPAT_CHECK)/x', 'n': 3}, f)
    config = Configuration(f.name)
    os.unlink(f.name)
    expect((config.where, config.n), ('here/x', 3))
    expect(Configuration(io.StringIO('{"k": 1}')).k, 1)

@check
def configuration_clone_is_independent():
    config = Configuration({'a': {'b': 1}})
    clone = config.clone()
    clone.a['b'] = 2
    expect(config.a.b, 1)

passed = sum(RESULTS)
print(f'{passed} of {len(RESULTS)} checks passed')
sys.exit(0 if passed == len(RESULTS) else 1)
'''

NUM_CHECKS = CHECKS.count('\n@check\n')


def _summary(output):
    assert f'{NUM_CHECKS} of {NUM_CHECKS} checks passed' in output, output
    assert 'FAIL' not in output, output


@pytest.mark.django_db
def test_the_original_api_works_in_this_process(tmp_path, capsys, make_inventory):
    # given: an inventory in RAM as dynamo.core.executable.inventory
    import logging

    import dynamo.core.executable as executable
    script = tmp_path / 'checks.py'
    script.write_text(CHECKS)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    executable.inventory = make_inventory()
    # when
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(script), run_name='__main__')
    finally:
        executable.inventory = None
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    # then
    _summary(capsys.readouterr().out)
    assert exit_info.value.code == 0
    assert NUM_CHECKS >= 50


@pytest.mark.e2e
def test_the_original_api_works_in_an_application_run_by_a_server(start_server, tmp_path):
    # given: a server on the demo inventory
    r = manage('dynamo_inject', 'inventory/fixtures/demo.json')
    assert r.returncode == 0, r.stdout + r.stderr
    socket_path = tmp_path / 'app.sock'
    server = start_server(env={'DYNAMO_APP_SOCKET': str(socket_path), 'DYNAMO_WORK_DIR': str(tmp_path / 'work')})
    deadline = time.monotonic() + 15
    while not socket_path.exists():
        assert time.monotonic() < deadline, f'no application socket:\n{server.log()}'
        time.sleep(0.05)
    dyn = Dyn(server, tmp_path, socket_path, tmp_path / 'work')
    before = dyn.datasets()
    # when: the checks run as a (read-only) application
    script = dyn.script('checks.py', CHECKS)
    r = dyn.run(script, timeout=120)
    # then: every check passed, and the server's inventory is as it was
    assert r.returncode == 0, r.stdout + r.stderr
    _summary(r.stdout)
    assert 'read-only run: would apply' in r.stderr
    assert dyn.datasets() == before
