"""The commit of a cycle, driven one server turn at a time: the cycle computes while writes go on,
and the commit applies nothing decided on a block replica that changed (or was locked) meanwhile; the history
keeps the decisions of the newest cycles only."""
import json

import pytest

from detox.models import Cycle, Decision
from detox.services import lock_create
from execution.models import Application
from execution.services import applications
from inventory import services as inventory_services
from inventory.objects import BlockReplica
from tests.detox.conftest import ago, build_crafted, persist
from tests.detox.test_cycle import POLICY
from tests.execution.conftest import LOGIN, make_server, run_until  # noqa: F401  (make_server: a fixture)

pytestmark = pytest.mark.django_db(transaction=True)
NOW = '2019-06-02T00:00:00Z'


def submit(server, **params):
    from execution import authorization
    params = dict({'policy': POLICY, 'filename': 'detox.txt', 'now': NOW, 'max_cycle_fraction': 1.0}, **params)
    return applications.application_submit_builtin(
        name='detox', params=params, user=authorization.user_for_login(LOGIN), server_id=server.record.id,
        hostname=server.record.hostname, work_base=server.work_base)


def ended(app):
    row = Application.objects.get(id=app.id)
    return row if row.state in ('done', 'failed', 'killed') else None


def test_the_commit_skips_what_changed_while_the_cycle_computed(make_server):
    # given: the crafted inventory served (with its lock), a real cycle started
    persist(build_crafted())
    lock_create(user='someone', items=['/Locked/X/AOD#l1'], sites=['T2_A'])
    server = make_server(demo=False)
    runtime = server.scheduler.runtime
    app = submit(server)
    run_until(server, lambda: Application.objects.get(id=app.id).state == 'run', what='the cycle running')
    # when: while it computes, a write changes the owner of a block replica it will delete
    applied = inventory_services.apply_changeset(
        inventory=runtime.inventory, origin='test', ram_lock=runtime.lock.write,
        builder=lambda inv: inv.update(BlockReplica('/Old2/X/AOD#q1', 'T2_A', 'local', last_update=ago(150))))
    assert applied.num_changes == 1
    assert Application.objects.get(id=app.id).state == 'run'     # the write did not wait for the cycle
    row = run_until(server, lambda: ended(app), what='the cycle committed')
    # then
    assert row.state == 'done', row.message
    summary = json.loads(row.result)
    assert summary['skipped'] == [['T2_A', '/Old2/X/AOD', 'q1', 'changed since the decision: owner AnalysisOps -> local']]
    assert summary['deletions'] == 6 and summary['num_skipped'] == 1 and summary['handovers'] == 1
    inv = runtime.inventory
    assert inv.sites['T2_A'].find_block_replica('/Old2/X/AOD#q1').group.name == 'local'
    assert inv.sites['T2_A'].find_block_replica('/Old1/X/AOD#p1').group.name is None
    cycle = Cycle.objects.get(id=summary['cycle'])
    assert (cycle.num_deletions, cycle.num_skipped, cycle.state) == (6, 1, 'committed')
    assert cycle.sites.get(site='T2_A').skipped == 60
    from transfers.models import BlockDeletion
    assert not BlockDeletion.objects.filter(dataset='/Old2/X/AOD').exists()
    assert BlockDeletion.objects.filter(origin_id=cycle.id).count() == 6


def test_only_the_newest_cycles_keep_their_decision_rows(make_server):
    persist(build_crafted())
    server = make_server(demo=False)
    ids = []
    for _ in range(3):
        app = submit(server, test=True, keep_cycles=2)
        row = run_until(server, lambda: ended(app), what='the test cycle')
        assert row.state == 'done', row.message
        ids.append(json.loads(row.result)['cycle'])
    assert [Decision.objects.filter(cycle_id=i).count() > 0 for i in ids] == [False, True, True]
    assert Cycle.objects.filter(id__in=ids).count() == 3          # the cycles and their summaries stay
    assert Cycle.objects.get(id=ids[0]).sites.count() == 2


def test_a_lock_made_after_the_cycle_read_the_locks_keeps_its_replica(crafted):
    # given: a real cycle's result (nothing locked when it read the locks)
    from detox import app, services
    result = app.run(crafted, {'policy': POLICY, 'filename': 'detox.txt', 'now': NOW, 'max_cycle_fraction': 1.0})
    planned = {(site, dataset, b[0]) for site, dataset, _, blocks, _ in result['deletions'] for b in blocks}
    assert {('T2_A', '/Locked/X/AOD', 'l1'), ('T2_A', '/Locked/X/AOD', 'l2')} <= planned
    # when: a lock of one block comes before the commit
    lock_create(user='someone', items=['/Locked/X/AOD#l1'], sites=['T2_A'])
    outcome = services._Outcome()
    crafted.begin()
    services._apply(crafted, result, services._new_locks(result), outcome)
    crafted.end()
    # then
    assert outcome.skipped == [('T2_A', '/Locked/X/AOD', 'l1', 'locked since the cycle read the locks')]
    assert crafted.sites['T2_A'].find_block_replica('/Locked/X/AOD#l1').group.name == 'AnalysisOps'
    assert crafted.sites['T2_A'].find_block_replica('/Locked/X/AOD#l2').group.name is None
    assert len(outcome.deleted) == len(planned) - 1
