"""Dealer cycles through a server driven in this process: computed in the confined read-only
application (it reads the copy requests from the database), committed by the server: replicas made
empty and owned by the group, one transfer record per block replica, the requests' states, the
history of cycles and decisions; test runs record and change nothing; request tracking completes a
copy request once its replicas are complete."""
import json

import pytest

from dealer.models import DealerCycle, DealerDecision
from execution import authorization
from execution.models import Application
from execution.services import applications
from inventory.objects import BlockReplica
from tests.dealer.conftest import HOT, MUON_MINI, T2, TB, build
from tests.execution.conftest import LOGIN, run_until
from tests.support import apply, load_image
from transfers import resolve, selectors, services
from transfers.models import BlockTransfer, CopyAction, CopyRequest

pytestmark = pytest.mark.django_db(transaction=True)

POLICY = json.dumps({'partition': 'Default', 'group': 'AnalysisOps', 'target_sites': ['T2_*'],
                     'plugins': {'requests': {'priority': 1}}})


@pytest.fixture
def server(make_server):
    apply(load_image(), builder=build)
    return make_server(demo=False)


def submit(server, name, params):
    return applications.application_submit_builtin(
        name=name, params=params, user=authorization.user_for_login(LOGIN), server_id=server.record.id,
        hostname=server.record.hostname, work_base=server.work_base)


def finish(server, app):
    def ended():
        row = Application.objects.get(id=app.id)
        return row if row.state in ('done', 'failed', 'killed') else None
    row = run_until(server, ended, timeout=60, what=f'application {app.id} ended')
    assert row.state == 'done', (row.state, row.message, row.output)
    return json.loads(row.result)


def ask_copy(items, sites, n=1, group='AnalysisOps'):
    catalog = selectors.StoreCatalog()
    request, _ = services.copy_request_create(
        user='alice', items=resolve.resolve_items(catalog, items), sites=resolve.expand_sites(catalog, sites)[0],
        site_patterns=sites, group=group, num_copies=n)
    return request


def test_a_cycle_places_a_request_as_empty_replicas_with_transfers_and_records_why(server):
    # given: a request for 2 copies of MUON_MINI among the T2 sites, and one for an unknown group's copy
    request = ask_copy([MUON_MINI], ['T2_*'], n=2)
    # when
    summary = finish(server, submit(server, 'dealer', {'policy': POLICY, 'filename': 'dealer.json'}))
    # then: two new replicas, empty, growing, owned by AnalysisOps: projected usage rose, physical did not
    inv = server.scheduler.runtime.inventory
    sites = sorted(r.site.name for r in inv.datasets[MUON_MINI].replicas if r.site.name.startswith('T2_'))
    assert len(sites) == 2 and set(sites) <= set(T2)
    for site in sites:
        replica = inv.sites[site].find_dataset_replica(MUON_MINI)
        assert replica.growing and replica.group.name == 'AnalysisOps'
        assert all(br.size == 0 and not br.is_complete() for br in replica.block_replicas)
        sp = inv.sites[site].partition('Default')
        assert (sp.usage(), sp.usage(physical=False)) == (0, 2 * TB)
    cycle = DealerCycle.objects.get(id=summary['cycle'])
    assert cycle.state == 'committed' and cycle.seq == summary['seq'] and cycle.num_replicas == 4
    assert sorted(BlockTransfer.objects.filter(origin='dealer', origin_id=cycle.id).values_list('site', 'block')) == \
        sorted((s, b) for s in sites for b in ('b000', 'b001'))
    assert set(BlockTransfer.objects.values_list('group', flat=True)) == {'AnalysisOps'}
    # the request is activated with a queued action per copy; decisions say where and why
    request.refresh_from_db()
    assert request.status == 'activated'
    assert sorted(CopyAction.objects.filter(request=request).values_list('site', 'status', 'cycle')) == \
        [(s, 'queued', cycle.id) for s in sites]
    rows = list(DealerDecision.objects.filter(cycle=cycle).order_by('order').values_list(
        'plugin', 'dataset', 'site', 'decision', 'reason', 'request_id'))
    assert rows == [('requests', MUON_MINI, s, 'accepted', 'placed', request.id) for s in
                    [r[2] for r in rows]] and sorted(r[2] for r in rows) == sites


def test_test_runs_record_identical_decisions_and_change_nothing(server):
    ask_copy([MUON_MINI], ['T2_*'], n=2)
    ask_copy([HOT], ['T2_US_*', 'T2_DE_C'], n=0)
    seq = server.scheduler.runtime.inventory.seq
    params = {'policy': POLICY, 'filename': 'dealer.json', 'test': True}
    first, second = (finish(server, submit(server, 'dealer', params)) for _ in range(2))
    assert first['test_run'] and 'nothing applied' in first['message']
    assert server.scheduler.runtime.inventory.seq == seq and not BlockTransfer.objects.exists()
    assert set(CopyRequest.objects.values_list('status', flat=True)) == {'new'}

    def decisions(cycle_id):
        return list(DealerDecision.objects.filter(cycle_id=cycle_id).order_by('order').values_list(
            'order', 'plugin', 'dataset', 'site', 'decision', 'reason', 'detail', 'site_rejections'))
    assert decisions(first['cycle']) == decisions(second['cycle']) and len(decisions(first['cycle'])) == 5
    assert DealerCycle.objects.get(id=first['cycle']).state == 'test'


def test_a_copy_request_completes_when_its_replicas_are_complete(server):
    # given: a placed request
    request = ask_copy([MUON_MINI], ['T2_US_A'])
    finish(server, submit(server, 'dealer', {'policy': POLICY}))
    finish(server, submit(server, 'track_requests', {}))
    request.refresh_from_db()
    assert request.status == 'activated'          # nothing arrived yet
    # when: the file operations fill the block replicas (what fileops does when its transfers end)
    inv = server.scheduler.runtime.inventory

    def arrived(inventory):
        for br in inventory.sites['T2_US_A'].find_dataset_replica(MUON_MINI).block_replicas:
            inventory.update(BlockReplica(br.block_full_name, 'T2_US_A', 'AnalysisOps', last_update=1))
    apply(inv, builder=arrived)
    # then: tracking completes the action and the request
    summary = finish(server, submit(server, 'track_requests', {}))
    assert summary['copy_requests_completed'] == 1, summary
    request.refresh_from_db()
    assert request.status == 'completed'
    assert list(CopyAction.objects.filter(request=request).values_list('site', 'status')) == [('T2_US_A', 'completed')]


def test_a_new_request_with_an_unknown_group_is_rejected_with_its_reason(server):
    request = ask_copy([MUON_MINI], ['T2_US_A'])
    CopyRequest.objects.filter(id=request.id).update(group='Vanished')
    finish(server, submit(server, 'dealer', {'policy': POLICY}))
    request.refresh_from_db()
    assert (request.status, request.reason) == ('rejected', 'unknown group Vanished')


def test_decision_rows_are_kept_for_the_newest_cycles_only(server):
    ask_copy([MUON_MINI], ['T2_*'])
    policy = json.dumps(dict(json.loads(POLICY), keep_decisions=1))
    first, second = (finish(server, submit(server, 'dealer', {'policy': policy, 'test': True})) for _ in range(2))
    assert not DealerDecision.objects.filter(cycle_id=first['cycle']).exists()
    assert DealerDecision.objects.filter(cycle_id=second['cycle']).count() == 1
    assert DealerCycle.objects.get(id=first['cycle']).num_proposals == 1      # the summary stays
