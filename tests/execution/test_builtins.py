"""Built-in cycles: computed in a confined, read-only application process; committed by the server
under the writer lease; never two of one kind at once; a failing run or a refused commit applies
nothing and says why."""
import json
import pwd

import pytest

from accounts.caller import Caller
from execution import builtins
from execution.models import Application
from execution.services import applications
from tests.execution.conftest import LOGIN, run_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cycle():
    builtins.register(name='testcycle', run='tests.execution.cycle_fixture:run',
                      commit='tests.execution.cycle_fixture:commit', target='detox', title='Test cycle')
    yield 'testcycle'
    builtins.REGISTRY.pop('testcycle', None)


def submit(server, params):
    from execution import authorization
    return applications.application_submit_builtin(
        name='testcycle', params=params, user=authorization.user_for_login(LOGIN), server_id=server.record.id,
        hostname=server.record.hostname, work_base=server.work_base)


def ended(app):
    row = Application.objects.get(id=app.id)
    return row if row.state in ('done', 'failed', 'killed') else None


def test_a_cycle_computes_read_only_and_its_commit_applies_the_result(make_server, cycle):
    server = make_server()
    app = submit(server, {'mark': 'One'})
    row = run_until(server, lambda: ended(app), what='the cycle done')
    assert row.state == 'done' and row.message == 'made /Cycle/One/RAW', (row.state, row.message)
    result = json.loads(row.result)
    assert result['seen']['datasets'] == 3 and result['seen']['uid'] == pwd.getpwnam('nobody').pw_uid
    assert row.seq == result['seq'] and row.num_changes == 1
    assert '/Cycle/One/RAW' in server.scheduler.runtime.inventory.datasets
    assert row.run_as == 'nobody' and row.builtin == 'testcycle'


def test_never_two_cycles_of_one_kind_at_once(make_server, cycle):
    server = make_server()
    first, second = submit(server, {'mark': 'A', 'sleep': 1.5}), submit(server, {'mark': 'B'})
    run_until(server, lambda: Application.objects.get(id=first.id).state == 'run', what='the first running')
    for _ in range(10):
        server.turn()
    assert Application.objects.get(id=second.id).state == 'new'
    a = run_until(server, lambda: ended(first), what='the first done')
    b = run_until(server, lambda: ended(second), what='the second done')
    assert b.started >= a.finished and b.seq == a.seq + 1


def test_a_failing_run_or_a_refused_commit_applies_nothing(make_server, cycle):
    server = make_server()
    before = server.scheduler.runtime.inventory.seq
    failing = submit(server, {'mark': 'X', 'fail': True})
    row = run_until(server, lambda: ended(failing), what='the failing cycle')
    assert row.state == 'failed' and row.message == 'exit code 1'
    refused = submit(server, {'mark': 'refuse'})
    row = run_until(server, lambda: ended(refused), what='the refused commit')
    assert row.state == 'failed' and row.message == 'not committed: the commit refused it'
    assert server.scheduler.runtime.inventory.seq == before


def test_who_may_start_a_cycle(cycle):
    builtin = builtins.get('testcycle')
    assert applications.may_start_builtin(Caller('op', authlist=[('operator', 'detox')]), builtin)
    assert applications.may_start_builtin(Caller('boss', authlist=[('admin', None)]), builtin)
    assert not applications.may_start_builtin(Caller('op', authlist=[('operator', 'application')]), builtin)
    assert not applications.may_start_builtin(Caller(), builtin)
    with pytest.raises(LookupError, match="no built-in cycle 'nope'"):
        builtins.get('nope')
