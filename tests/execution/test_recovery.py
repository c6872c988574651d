"""After a crash the records tell the truth and the cluster does not stall; servers started from one
checkout do not collide; /metrics answers. Real server processes where the behaviour is theirs."""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from django.utils import timezone

from execution.models import Application, AppState, Server, ServerState
from execution.services import applications
from inventory.models import ChangeSet
from tests.conftest import AS_READER, ROOT, ServerProcess, database_url, free_port, make_reader, manage
from tests.execution.conftest import LOGIN, dead_pid

SLOW_WRITER = '''
    import time
    from dynamo.core.executable import inventory
    from dynamo.dataformat import Dataset
    print('started', flush=True)
    time.sleep(60)
    inventory.update(Dataset('/Never/Written/RAW'))
'''


def _orphan(server_row, *, write, state=AppState.RUN, started_ago=10):
    from execution import authorization
    return Application.objects.create(
        title='orphan', user=authorization.user_for_login(LOGIN), server_id=server_row.id, hostname='h',
        created=timezone.now(), started=timezone.now() - timezone.timedelta(seconds=started_ago), state=state,
        write_request=write, timeout=1, work_dir='')


@pytest.mark.django_db(transaction=True)
def test_an_application_whose_change_set_committed_is_done_with_its_sequence_number(make_server_row):
    crashed = make_server_row(pid=dead_pid())
    committed = _orphan(crashed, write=True)
    lost = _orphan(crashed, write=True)
    queued = _orphan(crashed, write=False, state=AppState.NEW)
    ChangeSet.objects.create(seq=41, origin=f'application {committed.id}', applied_at=timezone.now(), num_changes=7)
    done, killed = applications.applications_recover(server_ids=[crashed.id], reason='its server crashed')
    assert (done, killed) == (1, 2)
    rows = {a.id: a for a in Application.objects.all()}
    assert (rows[committed.id].state, rows[committed.id].seq, rows[committed.id].num_changes) == ('done', 41, 7)
    assert rows[lost.id].state == 'killed' and rows[lost.id].message == 'its server crashed'
    assert rows[queued.id].state == 'killed'


@pytest.mark.django_db(transaction=True)
def test_a_starting_server_shows_dead_servers_dead_and_settles_their_applications(make_server_row, make_server):
    crashed = make_server_row(pid=dead_pid())
    orphan = _orphan(crashed, write=False)
    server = make_server(demo=False)   # start-up looks at the server table
    assert Server.objects.get(id=crashed.id).state == ServerState.DEAD
    row = Application.objects.get(id=orphan.id)
    assert row.state == 'killed' and 'stopped or crashed' in row.message
    assert Server.objects.get(id=server.record.id).state == ServerState.ONLINE


@pytest.mark.e2e
def test_kill_9_during_a_write_application_then_restart_takes_writes_at_once(start_server, tmp_path):
    # given a server running an authorized write application (it holds the writer lease)
    make_reader()
    env = {'DYNAMO_APP_SOCKET': str(tmp_path / 'a.sock'), 'DYNAMO_WORK_DIR': str(tmp_path / 'work'),
           'DYNAMO_WEB_DN_HEADER': 'X-DN'}
    server = start_server(env=env)
    script = tmp_path / 'slow.py'
    script.write_text(textwrap.dedent(SLOW_WRITER))
    assert manage('exec_auth', '--executable', str(script), '--title', 'slow', '--user', LOGIN).returncode == 0
    r = manage('dynamo', str(script), '--write-request', '--title', 'slow', '--async', env=env)
    assert r.returncode == 0, r.stderr
    app_id = int(r.stdout.split()[1])
    deadline = time.monotonic() + 20
    while server.get(f'/data/applications?id={app_id}', headers=AS_READER)[1]['data'][0]['state'] != 'run':
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    child_pid = Application.objects.get(id=app_id).pid
    # when the server is killed with SIGKILL and started again
    server.proc.kill()
    server.proc.wait()
    again = start_server(env=env)
    online = time.monotonic()
    doc = tmp_path / 'doc.json'
    doc.write_text(json.dumps({'dataset': [{'name': '/After/Crash/RAW'}]}))
    r = manage('dynamo_inject', str(doc))
    # then writes are accepted at once (the dead server's writer lease does not stall them)
    assert r.returncode == 0, r.stdout + r.stderr
    assert time.monotonic() - online < 5, f'{time.monotonic() - online:.1f} s'
    # and every record says what really happened
    record = again.get(f'/data/applications?id={app_id}', headers=AS_READER)[1]['data'][0]
    assert record['state'] == 'killed' and 'crashed' in record['message'], record
    status = again.get('/data/server/status')[1]['data']
    dead = [p for p in status['peers'] if p['id'] != status['server_id']]
    assert [p['state'] for p in dead] == ['dead'] and not dead[0]['alive']
    # the application died with its server (it does not go on writing into nothing)
    deadline = time.monotonic() + 5
    while os.path.exists(f'/proc/{child_pid}') and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f'/proc/{child_pid}')


@pytest.mark.e2e
def test_a_socket_path_too_long_for_unix_sockets_is_refused_saying_what_to_set(transactional_db, tmp_path):
    var = tmp_path / ('v' * 100)
    r = manage('runserver_dynamo', '--bind', f'127.0.0.1:{free_port()}', env={'DYNAMO_VAR_DIR': str(var)}, timeout=60)
    assert r.returncode != 0
    assert 'is longer than the 107 bytes a UNIX socket allows: set DYNAMO_APP_SOCKET' in r.stderr, r.stderr


def test_two_servers_from_one_checkout_need_no_extra_variables(transactional_db, tmp_path):
    # given two databases and no DYNAMO_APP_SOCKET / DYNAMO_WORK_DIR: paths come from the bind address
    # (a var directory short enough for UNIX socket paths, wherever pytest keeps its temporary files)
    short = tempfile.mkdtemp(prefix='dyn-', dir='/tmp')
    atexit.register(shutil.rmtree, short, ignore_errors=True)
    base = {'DYNAMO_VAR_DIR': short}
    urls = [f'sqlite:///{tmp_path}/one.sqlite3', f'sqlite:///{tmp_path}/two.sqlite3']
    for url in urls:
        assert manage('migrate', '-v0', env={'DYNAMO_DB_URL': url, **base}).returncode == 0
    servers = [ServerProcess(tmp_path, env={'DYNAMO_DB_URL': url, **base}) for url in urls]
    try:
        for server in servers:
            server.wait_online()
        script = tmp_path / 'hello.py'
        script.write_text('print("hello")\n')
        for server in servers:
            # when a client names the server it wants
            r = manage('dynamo', str(script), '--server', f'127.0.0.1:{server.port}',
                       env={'DYNAMO_DB_URL': urls[servers.index(server)], **base})
            # then each runs the script on its own socket
            assert r.returncode == 0 and r.stdout.strip() == 'hello', r.stdout + r.stderr + server.log()
        sockets = sorted(p.name for p in (Path(short) / 'servers').iterdir())
        assert sockets == sorted(f'127.0.0.1_{s.port}' for s in servers)
        # a third server on the first one's address is refused, saying why
        third = subprocess.run([sys.executable, str(ROOT / 'manage.py'), 'runserver_dynamo', '--bind',
                                f'127.0.0.1:{servers[0].port}'], env=dict(os.environ, DYNAMO_DB_URL=urls[0], **base),
                               capture_output=True, text=True, timeout=60, cwd=str(ROOT))
        assert third.returncode != 0
        assert 'another server is listening' in third.stderr and str(servers[0].port) in third.stderr
    finally:
        for server in servers:
            server.stop()


@pytest.mark.e2e
def test_metrics_answer_in_the_prometheus_text_format(start_server, tmp_path):
    import urllib.request
    server = start_server()
    doc = tmp_path / 'doc.json'
    doc.write_text(json.dumps({'dataset': [{'name': '/Metric/One/RAW'}]}))
    assert manage('dynamo_inject', str(doc)).returncode == 0
    assert server.get('/data/inventory/datasets')[0] == 200
    with urllib.request.urlopen(server.url + '/metrics', timeout=5) as r:
        assert r.headers['Content-Type'].startswith('text/plain')
        text = r.read().decode()
    metrics = {line.split(' ')[0]: float(line.split(' ')[1]) for line in text.splitlines()
               if line and not line.startswith('#')}
    assert metrics['dynamo_changeset_seq'] >= 1
    assert metrics['dynamo_changesets_applied_total{how="committed"}'] >= 1
    assert metrics['dynamo_web_requests_total{kind="data",module="inventory",status="200"}'] >= 1
    assert metrics['dynamo_image_objects{kind="datasets"}'] >= 1
    assert metrics['dynamo_server_is_primary'] == 1
    assert any(k.startswith('dynamo_web_request_seconds_bucket') for k in metrics)
    assert 'process_resident_memory_bytes' in metrics


def test_sigusr1_prints_every_threads_stack_to_the_log_and_the_server_goes_on(start_server):
    server = start_server()
    server.dump_stacks()
    log = server.log()
    assert 'Thread 0x' in log and 'execution/server.py' in log, log[-3000:]   # the loop's thread among them
    assert server.get('/data/inventory/groups')[0] == 200
