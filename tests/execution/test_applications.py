"""Applications end to end: real servers, real forks, the real `manage.py dynamo` client and the
real database. Each test starts its own server with its own socket and work areas under tmp_path."""
import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import AS_READER, ROOT, database_url, make_reader, manage
from tests.execution.app_helpers import CERN, MIT, MUON, TTBAR, ZEROBIAS, Dyn, alive, db_dataset, db_datasets

pytestmark = pytest.mark.e2e

LOGIN = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def make_dyn(start_server, tmp_path):
    """Inject the demo inventory, start a server on it; returns a Dyn (server + client)."""
    def make(**env):
        r = manage('dynamo_inject', 'inventory/fixtures/demo.json')
        assert r.returncode == 0, r.stdout + r.stderr
        socket_path = tmp_path / 'app.sock'
        work_dir = tmp_path / 'work'
        make_reader()
        server = start_server(env={'DYNAMO_APP_SOCKET': str(socket_path), 'DYNAMO_WORK_DIR': str(work_dir),
                                   'DYNAMO_WEB_DN_HEADER': 'X-DN', **env})
        deadline = time.monotonic() + 15
        while not socket_path.exists():
            assert time.monotonic() < deadline, f'no application socket:\n{server.log()}'
            time.sleep(0.05)
        return Dyn(server, tmp_path, socket_path, work_dir)
    return make


@pytest.fixture
def dyn(make_dyn):
    return make_dyn()


def db_block_replicas(dataset):
    """{site: (dataset replica group, sorted block names)} of a dataset, from the database."""
    from inventory.models import BlockReplica, DatasetReplica
    out = {}
    for site, group in DatasetReplica.objects.filter(dataset__name=dataset).values_list('site__name', 'group__name'):
        blocks = BlockReplica.objects.filter(block__dataset__name=dataset, site__name=site)
        out[site] = (group, sorted(blocks.values_list('block__name', flat=True)))
    return out


def changeset_count():
    from inventory.models import ChangeSet
    return ChangeSet.objects.count()


def application(app_id):
    from execution.models import Application
    return Application.objects.get(id=app_id)


SEED = '''\
import sys
from dynamo.core.executable import inventory
from dynamo.dataformat import Dataset, DatasetReplica, DatasetStatus

name = %r
ds = inventory.datasets[name].unlinked_clone()
ds.status = DatasetStatus.INVALID
inventory.update(ds)
inventory.delete(DatasetReplica(name, %r))
d = inventory.datasets[name]
print('child status:', d.status.label)
print('child replicas:', sorted(r.site.name for r in d.replicas))
''' % (MUON, MIT)


def test_seed_example_read_only_unauthorized_authorized_edited(dyn):
    script = dyn.script('seed.py', SEED)
    before_http, before_db, before_cs = dyn.datasets(), db_datasets(), changeset_count()
    assert before_db[MUON] == ('valid', [CERN, MIT])

    # read-only: the child sees its change, nothing else does
    r = dyn.run(script)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'child status: invalid' in r.stdout
    assert f"child replicas: ['{CERN}']" in r.stdout
    assert 'would apply 1 updates and 1 deletes' in r.stderr
    assert dyn.datasets() == before_http
    assert db_datasets() == before_db
    assert changeset_count() == before_cs
    rec = dyn.record(dyn.last_id())
    assert (rec['state'], rec['exit_code'], rec['write_request']) == ('done', 0, False)

    # write request without authorization: refused, saying why
    r = dyn.run(script, '-W', '--title', 'SeedFix')
    assert r.returncode != 0
    assert 'authfailed' in r.stderr
    assert 'title "SeedFix" is not authorized' in r.stderr
    assert 'child status' not in r.stdout          # it never ran
    rec = dyn.record(dyn.last_id())
    assert rec['state'] == 'authfailed' and rec['write_request'] is True
    assert 'SeedFix' in rec['message']
    assert dyn.datasets() == before_http and db_datasets() == before_db

    # authorized: applied, in RAM (HTTP) and in the database
    dyn.authorize(script, 'SeedFix')
    rec, out = dyn.finish(script, write=True, title='SeedFix')
    assert rec['state'] == 'done' and rec['exit_code'] == 0, (rec, out)
    assert 'child status: invalid' in out and 'would apply' not in out
    assert rec['num_changes'] == 2 and rec['seq'], rec
    d = dyn.dataset(MUON)
    assert d['status'] == 'invalid' and d['sites'] == [CERN]
    assert db_dataset(MUON) == ('invalid', [CERN])
    assert changeset_count() == before_cs + 1
    dyn.assert_ram_matches_database()
    others = {k: v for k, v in before_db.items() if k != MUON}
    assert {k: v for k, v in db_datasets().items() if k != MUON} == others

    # the script edited after its authorization: refused again, saying it changed
    script.write_text(SEED + '# edited\n')
    r = dyn.run(script, '-W', '--title', 'SeedFix')
    assert r.returncode != 0
    assert 'changed since it was authorized' in r.stderr, r.stderr
    rec = dyn.record(dyn.last_id())
    assert rec['state'] == 'authfailed' and 'changed' in rec['message']
    assert changeset_count() == before_cs + 1


ORDER = '''\
import sys
from dynamo.core.executable import inventory
from dynamo.dataformat import BlockReplica, Dataset, DatasetReplica
mode, name = sys.argv[1:]
if mode == 'update-delete':
    inventory.update(Dataset(name, status='deprecated'))
    inventory.delete(Dataset(name))
elif mode == 'delete-update':
    inventory.delete(Dataset(name))
    inventory.update(Dataset(name, status='deprecated'))
else:   # replicas: delete-then-update of a dataset replica, update-then-delete of a block replica
    b1, b2 = (name + '#b1a7c0de-0000-4000-8000-00000000000' + n for n in '12')
    inventory.delete(DatasetReplica(name, %r))
    inventory.update(DatasetReplica(name, %r, group='DataOps'))
    inventory.update(BlockReplica(b1, %r, 'DataOps'))
    inventory.update(BlockReplica(b2, %r, 'AnalysisOps'))
    inventory.delete(BlockReplica(b2, %r))
print('present in child:', name in inventory.datasets)
''' % (MIT, MIT, MIT, CERN, CERN)


SAME = '''\
from dynamo.core.executable import inventory
from dynamo.dataformat import Dataset
count = 0
for d in list(inventory.datasets.values()):
    for obj in [d] + list(d.blocks) + list(d.replicas) + [br for r in d.replicas for br in r.block_replicas]:
        inventory.update(obj.unlinked_clone())
        count += 1
for s in list(inventory.sites.values()):
    for obj in [s] + list(s.partitions.values()):
        inventory.update(obj.unlinked_clone())
        count += 1
for g in list(inventory.groups.values()):
    if g is not None:
        inventory.update(g.unlinked_clone())
        count += 1
d = inventory.datasets[%r]
inventory.update(Dataset(d.name, status=d.status, data_type=d.data_type, software_version=d.software_version,
                         last_update=d.last_update, is_open=d.is_open))
print('identical updates done:', count + 1)
''' % MUON


def test_changes_apply_in_call_order_and_only_real_changes_count(dyn):
    script = dyn.script('order.py', ORDER)
    rec, out = dyn.finish(f'{script} update-delete {ZEROBIAS}')
    assert rec['state'] == 'done', out
    assert 'would apply 1 updates and 1 deletes' in out

    dyn.grant(script, 'Order')
    rec, out = dyn.finish(f'{script} update-delete {ZEROBIAS}', write=True, title='Order')
    assert rec['state'] == 'done' and rec['num_changes'] == 2, (rec, out)
    assert 'present in child: False' in out
    assert dyn.dataset(ZEROBIAS) is None
    assert db_dataset(ZEROBIAS) is None

    rec, out = dyn.finish(f'{script} delete-update {TTBAR}', write=True, title='Order')
    assert rec['state'] == 'done' and rec['num_changes'] == 2, (rec, out)
    assert 'present in child: True' in out
    d = dyn.dataset(TTBAR)
    assert d is not None and d['status'] == 'deprecated' and d['sites'] == [] and d['num_blocks'] == 0
    assert db_dataset(TTBAR) == ('deprecated', [])
    assert db_dataset(MUON) == ('valid', [CERN, MIT])
    dyn.assert_ram_matches_database()

    rec, out = dyn.finish(f'{script} replicas {MUON}', write=True, title='Order')
    assert rec['state'] == 'done' and rec['num_changes'] == 5, (rec, out)
    assert dyn.dataset(MUON)['sites'] == [CERN, MIT]
    assert db_block_replicas(MUON) == {MIT: ('DataOps', ['b1a7c0de-0000-4000-8000-000000000001']),
                                       CERN: ('DataOps', ['b1a7c0de-0000-4000-8000-000000000001'])}
    dyn.assert_ram_matches_database()

    # only real changes are sent: identical values make no change set
    script = dyn.script('same.py', SAME)
    rec, out = dyn.finish(script)
    assert rec['state'] == 'done' and 'identical updates done:' in out, out
    assert int(out.split('identical updates done:')[1].split()[0]) > 10
    assert 'would apply' not in out

    dyn.grant(script, 'Same')
    before_cs, before_db, before_http = changeset_count(), db_datasets(), dyn.datasets()
    rec, out = dyn.finish(script, write=True, title='Same')
    assert rec['state'] == 'done' and 'identical updates done:' in out, (rec, out)
    assert rec['num_changes'] == 0 and rec['seq'] is None, rec
    assert application(rec['id']).num_changes == 0
    assert changeset_count() == before_cs
    assert db_datasets() == before_db and dyn.datasets() == before_http


FAIL = '''\
import sys, time
from dynamo.core.executable import inventory
from dynamo.dataformat import DatasetReplica, DatasetStatus
mode = sys.argv[1]
ds = inventory.datasets[%r].unlinked_clone()
ds.status = DatasetStatus.INVALID
inventory.update(ds)
inventory.delete(DatasetReplica(%r, %r))
print('changed, now', mode, flush=True)
if mode == 'raise':
    raise RuntimeError('boom in the script')
if mode == 'exit3':
    sys.exit(3)
time.sleep(60)
''' % (MUON, ZEROBIAS, CERN)


def iso(text):
    from datetime import datetime
    return datetime.fromisoformat(text)


def poll_lines(r):
    """`manage.py dynamo --poll` output as {field: value}."""
    return {k: v.strip() for k, _, v in (line.partition(' ') for line in r.stdout.splitlines())}


def test_failed_write_applications_apply_nothing_and_are_recorded(dyn):
    script = dyn.script('fail.py', FAIL)
    dyn.grant(script, 'Fail')
    before_http, before_db, before_cs = dyn.datasets(), db_datasets(), changeset_count()

    rec, _ = dyn.finish(f'{script} raise', write=True, title='Fail')
    raised = rec['id']
    assert (rec['state'], rec['exit_code'], rec['message']) == ('failed', 1, 'exit code 1'), rec
    out = dyn.output(raised)
    assert out['state'] == 'failed'
    assert 'changed, now raise' in out['output'] and 'RuntimeError: boom in the script' in out['output']
    assert 'RuntimeError: boom in the script' in application(raised).output

    r = dyn.run(f'{script} exit3', '-W', '-t', 'Fail')
    assert r.returncode == 3, r.stdout + r.stderr   # the client exits with the script's code
    assert 'changed, now exit3' in r.stdout and 'application' in r.stderr and 'failed' in r.stderr
    exited = dyn.last_id()
    rec = dyn.record(exited)
    assert (rec['state'], rec['exit_code'], rec['message']) == ('failed', 3, 'exit code 3'), rec
    assert 'changed, now exit3' in dyn.output(exited)['output']
    assert application(exited).exit_code == 3

    # a timeout (--timeout 0.0005 hours = 1.8 s) kills it; meanwhile the next write request waits
    start = time.monotonic()
    timing_out = subprocess.Popen(
        [sys.executable, str(ROOT / 'manage.py'), 'dynamo', f'{script} sleep', '-W', '-t', 'Fail',
         '--timeout', '0.0005'], cwd=str(ROOT), env=dict(os.environ, DYNAMO_DB_URL=database_url(), **dyn.env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while dyn.last_id() == exited:   # submitted first
        assert timing_out.poll() is None and time.monotonic() - start < 20, timing_out.communicate()
        time.sleep(0.05)
    timed_out = dyn.last_id()

    # --async prints the id, --poll shows the state, --kill stops it
    killed = dyn.submit_async(f'{script} sleep', '-W', '-t', 'Fail')
    deadline = time.monotonic() + 20
    while 'changed, now sleep' not in dyn.output(killed)['output']:
        assert time.monotonic() < deadline, dyn.record(killed)
        time.sleep(0.05)
    polled = poll_lines(dyn.manage('dynamo', '--poll', str(killed)))
    assert (polled['id'], polled['state'], polled['write_request']) == (str(killed), 'run', 'True'), polled
    r = dyn.manage('dynamo', '--kill', str(killed))
    assert r.returncode == 0 and f'application {killed}: killed' in r.stdout, r.stdout + r.stderr
    rec = dyn.wait_state(killed, timeout=15)
    assert rec['state'] == 'killed' and LOGIN in rec['message'], rec
    assert 'changed, now sleep' in application(killed).output

    stdout, stderr = timing_out.communicate(timeout=30)
    assert time.monotonic() - start < 30
    assert timing_out.returncode != 0
    assert 'changed, now sleep' in stdout
    assert f'application {timed_out} killed: timed out' in stderr, stderr
    rec = dyn.record(timed_out)
    assert rec['state'] == 'killed' and rec['message'] == 'timed out', rec
    assert iso(rec['finished']) <= iso(dyn.record(killed)['started'])   # one write request at a time
    assert 'changed, now sleep' in dyn.output(timed_out)['output']

    assert dyn.datasets() == before_http
    assert db_datasets() == before_db
    assert changeset_count() == before_cs
    for app_id in (raised, exited, killed, timed_out):
        assert dyn.record(app_id)['num_changes'] in (None, 0)


SLEEPER = '''\
import sys, time
from dynamo.core.executable import inventory
from dynamo.dataformat import DatasetStatus
status, seconds = sys.argv[1], float(sys.argv[2])
ds = inventory.datasets[%r].unlinked_clone()
ds.status = DatasetStatus.parse(status)
inventory.update(ds)
time.sleep(seconds)
''' % MUON

READER = '''\
import sys, time
time.sleep(float(sys.argv[1]))
print('reader done')
'''


def test_readers_run_beside_a_writer_and_writers_queue(make_dyn):
    dyn = make_dyn(DYNAMO_MAX_READONLY_APPS='2')
    writer = dyn.script('writer.py', SLEEPER)
    reader = dyn.script('reader.py', READER)
    dyn.grant(writer, 'Sleeper')

    w1 = dyn.start(f'{writer} deprecated 4', write=True, title='Sleeper')
    assert dyn.wait_state(w1, ('run', 'done', 'failed', 'killed', 'authfailed'))['state'] == 'run'
    readers = [dyn.start(f'{reader} 0.6') for _ in range(3)]
    w2 = dyn.start(f'{writer} invalid 0', write=True, title='Sleeper')

    for r in readers:
        rec = dyn.wait_state(r, timeout=15)
        assert rec['state'] == 'done', rec
    # the readers are done while the first writer still runs; the second writer waits for it
    assert dyn.record(w1)['state'] == 'run'
    assert dyn.record(w2)['state'] == 'new'

    recs = {a: dyn.wait_state(a, timeout=20) for a in (w1, w2)}
    assert recs[w1]['state'] == 'done' and recs[w2]['state'] == 'done', recs
    t = {a: {k: iso(dyn.record(a)[k]) for k in ('started', 'finished')}
         for a in (w1, w2, *readers)}
    for r in readers:
        assert t[w1]['started'] < t[r]['started'] and t[r]['finished'] < t[w1]['finished']
    r1, r2, r3 = readers
    assert t[r2]['started'] < t[r1]['finished'] and t[r1]['started'] < t[r2]['finished']   # in parallel
    assert t[r3]['started'] >= min(t[r1]['finished'], t[r2]['finished'])   # DYNAMO_MAX_READONLY_APPS=2
    assert t[w2]['started'] >= t[w1]['finished']
    assert recs[w1]['seq'] < recs[w2]['seq']
    assert dyn.dataset(MUON)['status'] == 'invalid'
    assert db_dataset(MUON)[0] == 'invalid'
    dyn.assert_ram_matches_database()


DIRECT_DB = '''\
import sys
from inventory.models import Dataset
print('datasets in db:', Dataset.objects.count(), flush=True)
if sys.argv[1] == 'orm':
    Dataset.objects.update(status=3)
else:
    from django.db import connection
    with connection.cursor() as c:
        c.execute('DELETE FROM dyn_dataset_replicas')
print('wrote the database')
'''


def test_applications_read_but_cannot_write_the_database(dyn):
    script = dyn.script('direct.py', DIRECT_DB)
    before_db, before_http = db_datasets(), dyn.datasets()
    for mode in ('orm', 'sql'):
        rec, out = dyn.finish(f'{script} {mode}', wait=6)
        assert 'datasets in db: 3' in out, out   # reading works
        assert rec['state'] == 'failed' and rec['exit_code'] == 1, (rec, out)
        assert 'wrote the database' not in out
    dyn.grant(script, 'Direct')
    rec, out = dyn.finish(f'{script} orm', write=True, title='Direct', wait=6)
    assert rec['state'] == 'failed' and 'wrote the database' not in out, (rec, out)
    assert db_datasets() == before_db
    assert dyn.datasets() == before_http

    # reading the database works whatever else the server is doing (here: answering web requests)
    reader = dyn.script('count.py', "from inventory.models import Dataset\nprint('count', Dataset.objects.count())\n")
    stop = threading.Event()

    def browse():
        while not stop.is_set():
            try:
                dyn.server.get('/data/applications?limit=5')
                dyn.server.get('/data/inventory/datasets')
            except OSError:
                pass
    browsers = [threading.Thread(target=browse, daemon=True) for _ in range(3)]
    for t in browsers:
        t.start()
    try:
        for i in range(30):
            app_id = dyn.start(reader)
            deadline = time.monotonic() + 5
            while not dyn.record(app_id)['finished']:
                if time.monotonic() > deadline:
                    out = dyn.output(app_id)['output']
                    raise AssertionError(f'run {i + 1}: application {app_id} reading the database still runs after '
                                         f'5 s (output {out!r})')
                time.sleep(0.05)
            rec = dyn.record(app_id)
            assert rec['state'] == 'done' and dyn.output(app_id)['output'] == 'count 3\n', rec
    finally:
        stop.set()
        for t in browsers:
            t.join()


ENVIRONMENT = '''\
import json, os, sys
from dynamo.core.executable import read_only, authorized, inventory
print(json.dumps({'argv': sys.argv, 'name': __name__, 'read_only': read_only, 'authorized': authorized,
                  'cwd': os.getcwd(), 'datasets': len(inventory.datasets)}))
'''


def test_script_environment_submitting_user_and_records(dyn):
    script = dyn.script('env.py', ENVIRONMENT)
    command = f"{script} one 'two words'"
    r_first = dyn.run(command)
    assert r_first.returncode == 0, r_first.stdout + r_first.stderr
    first = json.loads(r_first.stdout.strip().splitlines()[-1])
    first_id = dyn.last_id()
    rec = dyn.record(first_id)
    assert rec['user'] == LOGIN and rec['args'] == "one 'two words'" and rec['script'] == str(script)
    rec, out = dyn.finish(command)
    second = json.loads(out.strip().splitlines()[-1])
    for seen in (first, second):
        assert seen['argv'][1:] == ['one', 'two words']
        assert seen['name'] == '__main__'
        assert (seen['read_only'], seen['authorized']) == (True, False)
        assert seen['datasets'] == 3
        assert os.path.realpath(seen['cwd']) != os.path.realpath(ROOT)
        assert not os.path.realpath(seen['cwd']).startswith(os.path.realpath(ROOT) + os.sep)
    assert first['cwd'] != second['cwd']

    # authorized for somebody else only: the submitting user (the client's login) is refused
    dyn.authorize(script, 'Env', 'someone-else')
    rec, out = dyn.finish(command, write=True, title='Env')
    assert rec['state'] == 'authfailed' and rec['user'] == LOGIN, rec
    assert f'user "{LOGIN}" is not authorized to run title "Env"' in rec['message'], rec
    assert out == ''

    dyn.grant(script, 'Env', LOGIN)
    rec, out_written = dyn.finish(command, write=True, title='Env')
    written = rec['id']
    assert rec['state'] == 'done' and rec['user'] == LOGIN, (rec, out_written)
    seen = json.loads(out_written.strip().splitlines()[-1])
    assert (seen['read_only'], seen['authorized']) == (False, True)
    assert seen['name'] == '__main__' and seen['argv'][1:] == ['one', 'two words']
    assert seen['cwd'] not in (first['cwd'], second['cwd'])

    # exec_auth --revoke for the login refuses its write requests again
    r = dyn.manage('exec_auth', '--revoke', '--title', 'Env', '--user', LOGIN)
    assert r.returncode == 0 and 'Revoked 1' in r.stdout, r.stdout + r.stderr
    rec, out = dyn.finish(command, write=True, title='Env')
    assert rec['state'] == 'authfailed' and f'user "{LOGIN}" is not authorized' in rec['message'], rec

    # /data/applications?id=N is that application alone; /data/applications/output?id=N its output
    for app_id, text in ((first_id, r_first.stdout), (written, out_written)):
        status, body = dyn.server.get(f'/data/applications?id={app_id}', headers=AS_READER)
        assert status == 200 and [a['id'] for a in body['data']] == [app_id], body
        assert body['data'][0]['state'] == 'done' and body['data'][0]['exit_code'] == 0, body
        status, body = dyn.server.get(f'/data/applications/output?id={app_id}', headers=AS_READER)
        assert status == 200 and body['data']['output'] == text, body
    status, body = dyn.server.get('/data/applications?id=999999')
    assert status == 404 and 'no application 999999' in body['message'], body


def test_many_attached_clients_do_not_block_the_socket(make_dyn):
    """Clients attached to their (queued or running) applications must not stop other clients:
    polls and kills are still answered with 70 synchronous runs waiting."""
    import base64

    from execution.appserver import send_msg
    from execution.client import Client
    dyn = make_dyn(DYNAMO_MAX_READONLY_APPS='2')
    script = dyn.script('wait.py', READER)
    body = base64.b64encode(script.read_bytes()).decode()
    attached, hung = [], False
    try:
        for _ in range(70):   # what 70 `manage.py dynamo 'wait.py 60'` do: submit, then wait for output
            c = Client(dyn.socket)
            attached.append(c)
            send_msg(c.sock, {'cmd': 'submit', 'script': body, 'script_path': str(script), 'args': '60',
                              'title': 'Wait', 'write': False, 'async': False, 'timeout': None})
        first = attached[0].reader.recv()['id']
        for request, check in (({'cmd': 'poll', 'id': first}, lambda reply: reply['app']['state'] in ('new', 'run')),
                               ({'cmd': 'kill', 'id': first}, lambda reply: reply['result'] == 'killed')):
            other = Client(dyn.socket)   # what `dynamo --poll ID` and `dynamo --kill ID` send
            other.sock.settimeout(8)
            try:
                reply = other.request(request)
            except TimeoutError:
                hung = True
                raise AssertionError(f'no answer to {request} while 70 clients were attached') from None
            finally:
                other.sock.close()
            assert check(reply), reply
        assert dyn.wait_state(first)['state'] == 'killed'
    finally:
        for c in attached:
            c.sock.close()
        if hung:   # a server that cannot answer cannot stop cleanly either: end it and its children
            from execution.models import Application
            for pid in Application.objects.filter(state='run').values_list('pid', flat=True):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            dyn.server.proc.kill()


def attach(dyn, command, *options):
    """`manage.py dynamo COMMAND OPTIONS` left running (its client attached); returns (Popen, app id)."""
    before = dyn.last_id()
    client = subprocess.Popen(
        [sys.executable, str(ROOT / 'manage.py'), 'dynamo', str(command), *options], cwd=str(ROOT),
        env=dict(os.environ, DYNAMO_DB_URL=database_url(), **dyn.env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while dyn.last_id() == before:
        assert client.poll() is None and time.monotonic() < deadline, client.communicate()
        time.sleep(0.05)
    return client, dyn.last_id()


def test_server_shutdown_kills_running_application(dyn):
    script = dyn.script('long.py', SLEEPER)
    reader = dyn.script('reader.py', READER)
    dyn.grant(script, 'Long')
    before_db = db_datasets()
    running = dyn.start(f'{script} invalid 120', write=True, title='Long')
    dyn.wait_state(running, ('run',))
    reader_client, reader_id = attach(dyn, f'{reader} 120')             # read-only, client attached
    queued_client, queued = attach(dyn, f'{script} deprecated 1', '-W', '-t', 'Long')   # waits for the writer
    dyn.wait_state(reader_id, ('run',))
    assert dyn.record(queued)['state'] == 'new'
    pids = [application(a).pid for a in (running, reader_id)]
    assert all(pids) and all(alive(pid) for pid in pids)

    dyn.server.proc.send_signal(signal.SIGTERM)
    try:
        code = dyn.server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        dyn.server.dump_stacks()
        dyn.server.proc.kill()
        dyn.server.proc.wait()
        raise AssertionError(f'the server did not stop within 10 s of SIGTERM:\n{dyn.server.log()[-12000:]}')
    assert code == 0, f'server exit code {code}:\n{dyn.server.log()[-3000:]}'
    for a in (running, reader_id):
        app = application(a)
        assert app.state == 'killed', (app.state, app.message)
        assert app.finished is not None and 'server' in app.message, app.message
    assert application(queued).started is None   # never ran
    deadline = time.monotonic() + 5
    for pid in pids:
        while alive(pid):
            assert time.monotonic() < deadline, f'application process {pid} survived the server'
            time.sleep(0.05)
    # attached clients do not hang: they end with an error
    for app_id, client in ((reader_id, reader_client), (queued, queued_client)):
        try:
            _, stderr = client.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            client.kill()
            raise AssertionError(f'the client of application {app_id} still waits after the server stopped')
        assert client.returncode != 0, stderr
    assert db_datasets() == before_db


CRASH = '''\
import os, resource, sys
mode = sys.argv[1]
print('crashing:', mode, flush=True)
if mode == 'abort':
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.abort()
if mode == 'exit9':
    os._exit(9)
if mode == 'hog':
    hog = []
    for _ in range(400):
        hog.append(bytearray(10 * 1024 * 1024))
    print('allocated 4 GB')
print('fine')
'''


def test_crashing_applications_do_not_take_the_server_down(make_dyn):
    dyn = make_dyn(DYNAMO_APP_MEMORY_LIMIT_MB='200')
    script = dyn.script('crash.py', CRASH)
    expected = {'abort': ('failed', -signal.SIGABRT), 'exit9': ('failed', 9), 'hog': ('failed', 1)}
    for mode, (state, exit_code) in expected.items():
        rec, out = dyn.finish(f'{script} {mode}')
        assert f'crashing: {mode}' in out
        assert (rec['state'], rec['exit_code']) == (state, exit_code), (rec, out)
        if mode == 'hog':
            assert 'MemoryError' in out and 'allocated 4 GB' not in out, out
        assert dyn.server.proc.poll() is None, dyn.server.log()
        # the next request works
        rec, out = dyn.finish(f'{script} none')
        assert rec['state'] == 'done' and 'fine' in out, (mode, rec, out)
        assert dyn.dataset(MUON)['status'] == 'valid'
    # and so does the command-line client, with the shell's exit code of a crash
    r = dyn.run(f'{script} abort')
    assert r.returncode == 128 + signal.SIGABRT, (r.stdout, r.stderr)
    assert 'killed by signal 6' in r.stderr
