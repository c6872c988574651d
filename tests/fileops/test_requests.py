"""Through the decisions as they are made: a copy request placed by Dealer becomes transfer records,
the workers copy the files onto XRootD storage, the updater completes the replica and request
tracking the request; a deletion request carried out by tracking has its files removed and its
replica leaves. The tasks are found by request (command and web)."""
import json

import pytest

from accounts.caller import Caller
from fileops import selectors
from fileops.models import FileTask
from tests.conftest import manage
from tests.fileops.conftest import adler32
from transfers import resolve, services
from transfers import selectors as transfer_selectors
from transfers.models import BlockDeletion, BlockTransfer, CopyRequest, DeletionRequest

pytestmark = pytest.mark.django_db(transaction=True)
DS = '/Request/Copy/RAW'
POLICY = json.dumps({'partition': 'Default', 'group': 'physics', 'target_sites': ['T2_RQ_B'],
                     'plugins': {'requests': {'priority': 1}}})


def test_a_copy_request_placed_by_dealer_is_copied_and_completed_then_a_deletion_request_removes_it(
        grid, local_site, xrootd_server):
    # given: the dataset's files at A (a directory), an XRootD site B with room, a copy request to B
    from inventory.objects import SitePartition
    grid.add_site('T2_RQ_A', local_site)
    grid.add_site('T2_RQ_B', xrootd_server)
    grid.apply(lambda inv: inv.update(SitePartition('T2_RQ_B', 'Default', 10 ** 12)))
    files = grid.add_dataset(DS, {'b1': 2, 'b2': 2}, at='T2_RQ_A')
    catalog = transfer_selectors.StoreCatalog()
    request, _ = services.copy_request_create(user='alice', items=resolve.resolve_items(catalog, [DS]),
                                              sites=['T2_RQ_B'], site_patterns=['T2_RQ_B'], group='physics',
                                              num_copies=1)
    # when: Dealer places it, the updater and the workers move the files, tracking follows
    dealer = grid.cycle('dealer', {'policy': POLICY, 'filename': 'dealer.json'})
    assert dealer['transfers'] == 2, dealer
    assert set(BlockTransfer.objects.values_list('origin', 'site')) == {('dealer', 'T2_RQ_B')}
    grid.settle()
    grid.cycle('track_requests')
    # then
    assert grid.inventory.sites['T2_RQ_B'].find_dataset_replica(DS).is_full()
    for lfn, data in files.items():
        assert adler32(xrootd_server.path(lfn).read_bytes()) == adler32(data)
    assert set(BlockTransfer.objects.values_list('state', flat=True)) == {'done'}
    assert CopyRequest.objects.get(id=request.id).status == 'completed'
    mine = selectors.task_query(kind='transfer', request=str(request.id))
    assert selectors.task_count(mine) == 4
    listed = manage('dynamo_fileops', '--list', '--request', str(request.id), '--json')
    assert listed.returncode == 0, listed.stderr
    assert sorted(r['lfn'] for r in json.loads(listed.stdout)) == sorted(files)

    # when: a deletion request for the copy at B, carried out by tracking
    removal, _ = services.deletion_request_create(
        caller=Caller('bob', authlist=[('operator', 'request')]), items=resolve.resolve_items(catalog, [DS]),
        sites=['T2_RQ_B'], site_patterns=['T2_RQ_B'])
    grid.cycle('track_requests')
    assert set(BlockDeletion.objects.values_list('origin', 'origin_id')) == {('request', removal.id)}
    grid.settle()
    grid.cycle('track_requests')
    # then: the files are gone from B, so is the replica, and the request is completed
    assert grid.inventory.sites['T2_RQ_B'].find_dataset_replica(DS) is None
    assert not any(xrootd_server.path(lfn).exists() for lfn in files)
    assert DeletionRequest.objects.get(id=removal.id).status == 'completed'
    deletions = selectors.task_rows(selectors.task_query(kind='deletion', request=str(removal.id)))
    assert sorted(r['lfn'] for r in deletions) == sorted(files)
    assert {r['state'] for r in deletions} == {'done'}
    assert FileTask.objects.filter(kind='deletion').count() == 4
