"""The scheduler's rules, driven one turn at a time in this process (real forks, real database):
first in, first out; at most one writer; readers beside it up to the limit; kills and timeouts."""
import time

import pytest

from execution.models import Application, AppState
from tests.execution.conftest import run_until

pytestmark = pytest.mark.django_db(transaction=True)

SLEEPER = '''
    import sys, time
    time.sleep(float(sys.argv[1]))
    print('slept', sys.argv[1])
'''
WRITER = '''
    import sys, time
    from dynamo.core.executable import inventory
    from dynamo.dataformat import Dataset
    time.sleep(float(sys.argv[2]))
    inventory.update(Dataset(sys.argv[1], status='valid'))
'''


def states(*apps):
    return [Application.objects.get(id=a.id).state for a in apps]


def finished(*apps):
    return all(s in ('done', 'failed', 'killed', 'notfound', 'authfailed') for s in states(*apps))


def test_applications_start_first_in_first_out(make_server, make_application):
    # given one reader slot and three queued readers
    server = make_server(max_readers=1)
    apps = [make_application(server, SLEEPER, args='0.2') for _ in range(3)]
    # when the server turns until all are done
    run_until(server, lambda: finished(*apps), what='three readers done')
    # then they ran one after the other, in the order they were queued
    rows = [Application.objects.get(id=a.id) for a in apps]
    assert [r.state for r in rows] == ['done'] * 3
    assert rows[0].finished <= rows[1].started and rows[1].finished <= rows[2].started


def test_one_writer_at_a_time_while_readers_run_beside_it(make_server, make_application):
    server = make_server()
    first = make_application(server, WRITER, args='/W/One/RAW 1.5', write=True, title='w', authorize=True)
    second = make_application(server, WRITER, args='/W/Two/RAW 0', write=True, title='w')
    reader = make_application(server, SLEEPER, args='0.1')
    run_until(server, lambda: states(first)[0] == 'run', what='the first writer running')
    # the reader queued behind the second writer starts anyway; the second writer waits
    run_until(server, lambda: states(reader)[0] == 'done', what='the reader done')
    assert states(first, second) == ['run', 'new']
    run_until(server, lambda: finished(first, second), what='both writers done')
    first_row, second_row = Application.objects.get(id=first.id), Application.objects.get(id=second.id)
    assert (first_row.state, second_row.state) == ('done', 'done')
    assert second_row.started >= first_row.finished
    assert second_row.seq == first_row.seq + 1   # each writer's changes are one change set, in order
    assert {'/W/One/RAW', '/W/Two/RAW'} <= set(server.scheduler.runtime.inventory.datasets)


def test_readers_beyond_the_limit_wait_for_a_free_slot(make_server, make_application):
    server = make_server(max_readers=2)
    apps = [make_application(server, SLEEPER, args='1') for _ in range(3)]
    run_until(server, lambda: states(*apps).count('run') == 2, what='two readers running')
    for _ in range(5):
        server.turn()
    assert sorted(states(*apps)) == ['new', 'run', 'run']
    run_until(server, lambda: finished(*apps), what='all readers done')


def test_a_queued_application_killed_never_runs(make_server, make_application):
    from accounts.caller import Caller
    from execution.services.applications import application_kill
    server = make_server()
    app = make_application(server, SLEEPER, args='0')
    outcome = application_kill(app_id=app.id, by=Caller(app.user.username))
    assert outcome.killed
    for _ in range(5):
        server.turn()
    row = Application.objects.get(id=app.id)
    assert (row.state, row.started, row.pid) == (AppState.KILLED, None, None)


def test_a_running_application_past_its_timeout_is_killed(make_server, make_application):
    server = make_server()
    app = make_application(server, SLEEPER, args='60', timeout=0.5 / 3600)
    run_until(server, lambda: finished(app), timeout=20, what='the timeout')
    row = Application.objects.get(id=app.id)
    assert (row.state, row.message) == ('killed', 'timed out')


def test_a_write_request_whose_script_changed_is_refused(make_server, make_application, tmp_path):
    from execution import authorization
    from tests.execution.conftest import LOGIN
    server = make_server()
    app = make_application(server, WRITER, args='/W/Edited/RAW 0', write=True, title='edited', authorize=True)
    other = tmp_path / 'other.py'
    other.write_text('print("another script")\n')
    authorization.authorize(path=str(other), title='edited', users=[LOGIN])   # now another script's
    run_until(server, lambda: finished(app), what='the refusal')
    row = Application.objects.get(id=app.id)
    assert row.state == 'authfailed' and 'not the one authorized' in row.message
    assert '/W/Edited/RAW' not in server.scheduler.runtime.inventory.datasets


@pytest.mark.parametrize('spare', [False, True], ids=['forked', 'spare'])
def test_a_kill_sent_the_moment_an_application_starts_ends_it_at_once(make_server, make_application, spare):
    # the server has a SIGTERM handler of its own (runserver_dynamo's); a supervisor forked from it
    # must never let that handler swallow the kill that comes before it watches its application
    import signal
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server = make_server()
        if not spare:
            server.scheduler._keep_spare = lambda: None    # forked on demand, not from a spare
        else:
            run_until(server, lambda: server.scheduler.spare is not None, timeout=10, what='a spare')
        app = make_application(server, SLEEPER, args='60')
        original = server.scheduler._start_app

        def start_and_kill(record):
            started = original(record)
            for run in server.scheduler.running.values():
                server.scheduler.kill(run, 'killed on request')   # SIGTERM right after the fork
            return started
        server.scheduler._start_app = start_and_kill
        start = time.monotonic()
        run_until(server, lambda: finished(app), timeout=25, what='the end of the killed application')
        assert time.monotonic() - start < 10    # not the 30 s grace before SIGKILL
        row = Application.objects.get(id=app.id)
        assert (row.state, row.message) == ('killed', 'killed on request')
    finally:
        signal.signal(signal.SIGTERM, previous)
