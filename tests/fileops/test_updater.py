"""The updater and the task engine between local directory sites: transfer and deletion records
become file tasks, workers move the bytes, the updater puts the result into the inventory (and
nothing twice), records close, failures are retried from another source and then held."""
import json

import pytest

from fileops.models import FileTask
from tests.fileops.conftest import adler32
from tests.storage_servers import LocalSite
from transfers.models import BlockDeletion, BlockTransfer

pytestmark = pytest.mark.django_db(transaction=True)
DS = '/Test/Copy/RAW'


@pytest.fixture
def sites(grid, tmp_path):
    made = {name: LocalSite(tmp_path / name) for name in ('T2_A', 'T2_B', 'T2_C')}
    for name, storage in made.items():
        grid.add_site(name, storage)
    return made


def states(**filters):
    return sorted(FileTask.objects.filter(**filters).values_list('state', flat=True))


def test_a_transfer_record_copies_each_missing_file_and_completes_the_replica(grid, sites):
    # given: a dataset whose files really are at A, and a transfer of its block b1 to B
    files = grid.add_dataset(DS, {'b1': 3, 'b2': 1}, at='T2_A')
    grid.transfer(DS, 'b1', 'T2_B')
    assert grid.replica(DS, 'b1', 'T2_B').file_ids == ()
    # when: the updater makes the tasks and queues them, a worker copies, the updater applies
    summary = grid.cycle()
    assert summary['tasks_made'] == 3 and summary['queued'] == 3
    assert {t.source for t in FileTask.objects.all()} == {'T2_A'}
    counts = grid.work()
    assert (counts.done, counts.failed) == (3, 0)
    summary = grid.cycle()
    # then: the replica at B is complete, the record done, the bytes at B those of A
    assert summary['applied'] == 3
    br = grid.replica(DS, 'b1', 'T2_B')
    assert br.is_complete() and br.file_ids is None
    grid.cycle()
    assert BlockTransfer.objects.get().state == 'done'
    for lfn, data in files.items():
        if '/b1/' in lfn:
            assert adler32(sites['T2_B'].path(lfn).read_bytes()) == adler32(data)
    assert not sites['T2_B'].path(f'/store/test{DS}/b2/file0.root').exists()


def test_applying_finished_tasks_twice_changes_nothing(grid, sites):
    grid.add_dataset(DS, {'b1': 2}, at='T2_A')
    grid.transfer(DS, 'b1', 'T2_B')
    grid.cycle()
    grid.work()
    grid.cycle()
    seq = grid.inventory.seq
    # the same results once more, as after a crash between the change set and the marking
    FileTask.objects.update(applied=False)
    summary = grid.cycle()
    assert summary['applied'] == 2 and 'replicas_changed' not in summary
    assert grid.inventory.seq == seq


def test_a_deletion_removes_the_files_then_the_replica_and_its_dataset_replica(grid, sites):
    files = grid.add_dataset(DS, {'b1': 2, 'b2': 1}, at=['T2_A', 'T2_B'])
    grid.delete(DS, 'b1', 'T2_B')
    grid.delete(DS, 'b2', 'T2_B')
    grid.settle()
    for lfn in files:
        assert not sites['T2_B'].path(lfn).exists() and sites['T2_A'].path(lfn).exists()
    assert grid.inventory.sites['T2_B'].find_dataset_replica(DS) is None
    assert grid.inventory.sites['T2_A'].find_dataset_replica(DS).is_complete()
    assert sorted(BlockDeletion.objects.values_list('state', flat=True)) == ['done', 'done']
    assert states(kind='deletion') == ['done'] * 3


def test_a_deletion_of_a_file_already_gone_counts_as_done(grid, sites):
    files = grid.add_dataset(DS, {'b1': 2}, at=['T2_A', 'T2_B'])
    sites['T2_B'].path(sorted(files)[0]).unlink()
    grid.delete(DS, 'b1', 'T2_B')
    grid.settle()
    assert sorted(FileTask.objects.values_list('outcome', flat=True)) == ['already_absent', 'deleted']
    assert grid.replica(DS, 'b1', 'T2_B') is None


def test_a_corrupted_source_fails_is_retried_from_another_then_held_with_the_reason(grid, sites, settings):
    # given: the file at A and at C, corrupted at both
    files = grid.add_dataset(DS, {'b1': 1}, at=['T2_A', 'T2_C'])
    lfn = next(iter(files))
    for site in ('T2_A', 'T2_C'):
        sites[site].plant(lfn, b'X' * len(files[lfn]))
    grid.transfer(DS, 'b1', 'T2_B')
    # when
    grid.cycle()
    first = FileTask.objects.get().source
    grid.work()
    task = FileTask.objects.get()
    assert task.state == 'failed' and task.error_kind == 'checksum_mismatch' and 'source' in task.reason
    grid.cycle()
    task = FileTask.objects.get()
    assert task.state == 'queued' and task.source != first      # re-chosen: the other source
    grid.work()
    grid.cycle()
    # then
    task = FileTask.objects.get()
    assert task.state == 'held', task.state
    assert task.reason.startswith('no source left: T2_A, T2_C failed for good') and 'checksum' in task.reason
    assert not sites['T2_B'].path(lfn).exists()
    assert grid.replica(DS, 'b1', 'T2_B').file_ids == ()
    grid.cycle()
    assert BlockTransfer.objects.get().state == 'failed'


def test_a_good_second_source_completes_what_a_corrupted_first_could_not(grid, sites):
    files = grid.add_dataset(DS, {'b1': 1}, at=['T2_A', 'T2_C'])
    lfn = next(iter(files))
    grid.transfer(DS, 'b1', 'T2_B')
    grid.cycle()
    bad = FileTask.objects.get().source
    sites[bad].plant(lfn, b'Y' * len(files[lfn]))
    grid.settle()
    task = FileTask.objects.get()
    assert task.state == 'done' and task.attempts == 1 and task.source != bad
    assert json.loads(task.tried) == {bad: [1, False]}
    assert grid.replica(DS, 'b1', 'T2_B').is_complete()
    assert sites['T2_B'].path(lfn).read_bytes() == files[lfn]


def test_a_removed_replica_or_a_cancelled_record_cancels_the_waiting_tasks(grid, sites):
    from inventory.objects import BlockReplica
    from transfers.services import block_operations_cancel
    grid.add_dataset(DS, {'b1': 2, 'b2': 2}, at='T2_A')
    grid.transfer(DS, 'b1', 'T2_B')
    grid.transfer(DS, 'b2', 'T2_B')
    grid.cycle()
    block_operations_cancel(model=BlockTransfer, site='T2_B', dataset=DS, blocks=['b1'], reason='request cancelled')
    grid.apply(lambda inv: inv.delete(BlockReplica(f'{DS}#b2', 'T2_B')))
    grid.cycle()
    assert states(block='b1') == ['cancelled', 'cancelled']
    assert states(block='b2') == ['cancelled', 'cancelled']
    assert BlockTransfer.objects.get(block='b2').state == 'cancelled'
    assert grid.work().claimed == 0


def test_operators_list_release_and_cancel_tasks_by_filters(grid, sites):
    from tests.conftest import manage
    files = grid.add_dataset(DS, {'b1': 2, 'b2': 1}, at='T2_A')
    for lfn in files:
        sites['T2_A'].path(lfn).unlink()                  # lost at the only source
    grid.transfer(DS, 'b1', 'T2_B')
    grid.transfer(DS, 'b2', 'T2_C')
    grid.cycle()
    grid.work()
    grid.cycle()
    assert states() == ['held'] * 3
    listed = manage('dynamo_fileops', '--list', '--state', 'held', '--site', 'T2_B')
    assert listed.returncode == 0 and '2 of 2 tasks' in listed.stdout, listed.stderr
    assert 'no source left: T2_A failed for good' in listed.stdout
    assert manage('dynamo_fileops', '--release').returncode != 0          # a filter is required
    assert 'unknown state' in manage('dynamo_fileops', '--list', '--state', 'stuck').stderr
    # the files come back at A: released, the tasks are tried again and succeed
    for lfn, data in files.items():
        sites['T2_A'].plant(lfn, data)
    released = manage('dynamo_fileops', '--release', '--site', 'T2_B')
    assert released.returncode == 0 and '2 tasks released' in released.stdout
    cancelled = manage('dynamo_fileops', '--cancel', '--dataset', DS, '--site', 'T2_C', '--reason', 'not needed')
    assert cancelled.returncode == 0 and '1 tasks cancelled' in cancelled.stdout
    grid.settle()
    assert states(site='T2_B') == ['done', 'done'] and states(site='T2_C') == ['cancelled']
    assert FileTask.objects.get(site='T2_C').reason == 'not needed'
    assert grid.replica(DS, 'b1', 'T2_B').is_complete()
    assert BlockTransfer.objects.get(site='T2_B').state == 'done'
    assert BlockTransfer.objects.get(site='T2_C').state == 'cancelled'


def test_a_lost_worker_s_tasks_go_back_to_the_queue_once_its_lease_runs_out(grid, sites):
    from django.utils import timezone
    from fileops import services
    grid.add_dataset(DS, {'b1': 2}, at='T2_A')
    grid.transfer(DS, 'b1', 'T2_B')
    grid.cycle()
    jobs = services.tasks_claim(claim='otherhost:1:gone', limit=10, link_limit=10, site_limit=10, lease=60,
                                max_interruptions=5)
    assert len(jobs) == 2 and states() == ['active', 'active']
    assert grid.cycle().get('reaped') is None                 # its lease holds
    FileTask.objects.update(lease_until=timezone.now() - timezone.timedelta(seconds=1))
    assert grid.cycle()['reaped'] == 2
    assert states() == ['queued', 'queued']
    # a late report of the lost worker counts for nothing
    assert services.tasks_report(claim='otherhost:1:gone', results=[services.Result(jobs[0].id, True, 'copied')],
                                 backoff=lambda n: 0) == 0
    grid.settle()
    assert states() == ['done', 'done'] and grid.replica(DS, 'b1', 'T2_B').is_complete()
    assert sorted(FileTask.objects.values_list('interruptions', 'attempts')) == [(1, 0), (1, 0)]
