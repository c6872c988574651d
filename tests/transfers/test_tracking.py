"""Request tracking (the built-in cycle track_requests) on a server driven in this process, and the
dynamo_request command: deletion requests remove ownership at the named sites only (null group and
a deletion record per block replica), never a last complete copy unless an admin allowed it, and
complete when the replicas are gone."""
import json

import pytest

from accounts.caller import Caller
from execution import authorization
from execution.models import Application
from execution.services import applications
from inventory.objects import BlockReplica
from tests.conftest import manage
from tests.dealer.conftest import HOT, MUON_AOD, MUON_MINI, OLD, RARE, build
from tests.execution.conftest import LOGIN, run_until
from tests.support import apply, load_image
from transfers import resolve, selectors, services
from transfers.models import BlockDeletion, DeletionAction, DeletionRequest

pytestmark = pytest.mark.django_db(transaction=True)
BOB = Caller('bob', authlist=[('user', 'request')])
ADMIN = Caller('root-admin', authlist=[('admin', 'request')])


@pytest.fixture
def server(make_server):
    apply(load_image(), builder=build)
    return make_server(demo=False)


def track(server):
    app = applications.application_submit_builtin(
        name='track_requests', params={}, user=authorization.user_for_login(LOGIN), server_id=server.record.id,
        hostname=server.record.hostname, work_base=server.work_base)
    row = run_until(server, lambda: (lambda r: r if r.state in ('done', 'failed') else None)(
        Application.objects.get(id=app.id)), timeout=60, what='tracking done')
    assert row.state == 'done', (row.message, row.output)
    return json.loads(row.result)


def ask_deletion(caller, items, sites, allow_last_copy=False):
    catalog = selectors.StoreCatalog()
    request, _ = services.deletion_request_create(
        caller=caller, items=resolve.resolve_items(catalog, items), sites=resolve.expand_sites(catalog, sites)[0],
        site_patterns=sites, allow_last_copy=allow_last_copy)
    return request


def owners(inv, site, dataset):
    replica = inv.sites[site].find_dataset_replica(dataset)
    return None if replica is None else sorted({br.group.name or 'null' for br in replica.block_replicas})


def test_a_deletion_request_removes_ownership_at_the_named_sites_only(server):
    # given: OLD has copies at T2_US_A (Trash) and T1_CH_Disk (DataOps)
    request = ask_deletion(BOB, [OLD], ['T2_US_A'])
    # when
    summary = track(server)
    # then: T2_US_A's replica is the null group's (out of the Default partition), with a deletion record;
    # the T1 copy is untouched
    inv = server.scheduler.runtime.inventory
    assert owners(inv, 'T2_US_A', OLD) == ['null'] and owners(inv, 'T1_CH_Disk', OLD) == ['DataOps']
    assert not inv.sites['T2_US_A'].find_dataset_replica(OLD).growing
    assert inv.sites['T2_US_A'].partition('Default').usage() == 0
    assert list(BlockDeletion.objects.values_list('site', 'dataset', 'block', 'origin', 'origin_id')) == \
        [('T2_US_A', OLD, 'b000', 'request', request.id)]
    request.refresh_from_db()
    assert request.status == 'activated' and summary['deletion_records'] == 1
    assert list(DeletionAction.objects.values_list('item', 'site', 'status')) == [(OLD, 'T2_US_A', 'queued')]
    # when the files are gone (the file operations delete them, the updater removes the replica)
    apply(inv, builder=lambda i: i.delete(BlockReplica(f'{OLD}#b000', 'T2_US_A')))
    track(server)
    request.refresh_from_db()
    assert request.status == 'completed'
    assert list(DeletionAction.objects.values_list('status', flat=True)) == ['completed']


def test_the_last_complete_copy_stays_unless_an_admin_allowed_it(server):
    refused = ask_deletion(BOB, [RARE], ['T2_FR_M'])
    track(server)
    refused.refresh_from_db()
    assert refused.status == 'rejected'
    assert refused.reason.startswith(f'it would delete the last complete copy of {RARE}#b000 (at T2_FR_M)')
    inv = server.scheduler.runtime.inventory
    assert owners(inv, 'T2_FR_M', RARE) == ['DataOps']
    allowed = ask_deletion(ADMIN, [RARE], ['T2_FR_M'], allow_last_copy=True)
    track(server)
    allowed.refresh_from_db()
    assert allowed.status == 'activated' and owners(inv, 'T2_FR_M', RARE) == ['null']
    assert BlockDeletion.objects.filter(origin_id=allowed.id).count() == 2


def test_nothing_to_delete_completes_at_once(server):
    request = ask_deletion(BOB, [MUON_AOD], ['T2_US_B'])
    track(server)
    request.refresh_from_db()
    assert (request.status, request.reason) == ('completed', 'nothing to delete')


def test_only_authorized_users_may_ask_for_deletions(server):
    with pytest.raises(resolve.NotAllowed, match='needs a role'):
        ask_deletion(Caller('alice'), [HOT], ['T1_CH_Disk'])
    with pytest.raises(resolve.NotAllowed, match='admin role'):
        ask_deletion(BOB, [HOT], ['T1_CH_Disk'], allow_last_copy=True)
    assert not DeletionRequest.objects.exists()


def test_the_command_asks_polls_and_cancels_printing_tables(server):
    r = manage('dynamo_request', 'copy', MUON_MINI, f'{MUON_AOD}#b001', '--site', 'T2_US_*', '--n', '2',
               '--group', 'DataOps')
    assert r.returncode == 0 and r.stderr.startswith('copy request ') and r.stderr.endswith(' created\n'), r.stderr
    copy_id = r.stderr.split()[2]
    header, rule, row = r.stdout.splitlines()[:3]
    assert header.split()[:5] == ['id', 'status', 'user', 'group', 'n']
    assert row.split()[:5] == [copy_id, 'new', LOGIN, 'DataOps', '2'] and 'T2_US_A T2_US_B' in row
    r = manage('dynamo_request', 'copy', '/No/Such-v1/AOD', '--site', 'T2_US_A')
    assert r.returncode != 0 and 'unknown dataset /No/Such-v1/AOD' in r.stderr
    r = manage('dynamo_request', 'poll', '--site', 'T2_US_B', '--json')
    assert [x['request_id'] for x in json.loads(r.stdout)] == [int(copy_id)]
    r = manage('dynamo_request', 'delete', HOT, '--site', 'T1_CH_Disk')       # root: an admin
    assert r.returncode == 0 and r.stderr.startswith('deletion request '), r.stderr
    deletion_id = r.stderr.split()[2]
    r = manage('dynamo_request', 'cancel', copy_id)
    assert r.returncode == 0 and r.stdout.splitlines()[2].split()[:2] == [copy_id, 'cancelled'], r.stdout
    r = manage('dynamo_request', 'poll', '--delete', '--status', 'new')
    assert r.returncode == 0 and r.stdout.splitlines()[2].split()[:2] == [deletion_id, 'new']
