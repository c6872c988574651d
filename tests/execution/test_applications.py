"""Applications end to end: real servers, real forks, the real `manage.py dynamo` client and the
real database. Each test starts its own server with its own socket and work areas under tmp_path."""
import json
import os
import pwd
import signal
import time

import pytest

from tests.conftest import ROOT, manage
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
        server = start_server(env={'DYNAMO_APP_SOCKET': str(socket_path), 'DYNAMO_WORK_DIR': str(work_dir),
                                   **env})
        deadline = time.monotonic() + 15
        while not socket_path.exists():
            assert time.monotonic() < deadline, f'no application socket:\n{server.log()}'
            time.sleep(0.05)
        return Dyn(server, tmp_path, socket_path, work_dir)
    return make


@pytest.fixture
def dyn(make_dyn):
    return make_dyn()


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
from dynamo.dataformat import Dataset
mode, name = sys.argv[1:]
if mode == 'update-delete':
    inventory.update(Dataset(name, status='deprecated'))
    inventory.delete(Dataset(name))
else:
    inventory.delete(Dataset(name))
    inventory.update(Dataset(name, status='deprecated'))
print('present in child:', name in inventory.datasets)
'''


SAME = '''\
from dynamo.core.executable import inventory
from dynamo.dataformat import Dataset
count = 0
for d in list(inventory.datasets.values()):
    inventory.update(d.unlinked_clone())
    for r in list(d.replicas):
        inventory.update(r.unlinked_clone())
        count += 1
    for b in list(d.blocks):
        inventory.update(b.unlinked_clone())
    count += 1
for s in list(inventory.sites.values()):
    inventory.update(s.unlinked_clone())
d = inventory.datasets[%r]
inventory.update(Dataset(d.name, status=d.status, data_type=d.data_type, software_version=d.software_version,
                         last_update=d.last_update, is_open=d.is_open))
print('identical updates done:', count)
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

    # only real changes are sent: identical values make no change set
    script = dyn.script('same.py', SAME)
    rec, out = dyn.finish(script)
    assert rec['state'] == 'done' and 'identical updates done: 4' in out, out
    assert 'would apply' not in out

    dyn.grant(script, 'Same')
    before_cs, before_db, before_http = changeset_count(), db_datasets(), dyn.datasets()
    rec, out = dyn.finish(script, write=True, title='Same')
    assert rec['state'] == 'done' and 'identical updates done: 4' in out, (rec, out)
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

    start = time.monotonic()
    r = dyn.run(f'{script} sleep', '-W', '-t', 'Fail', '--timeout', '0.0005')   # 1.8 s
    assert time.monotonic() - start < 20
    assert r.returncode != 0
    assert 'changed, now sleep' in r.stdout
    assert 'timed out' in r.stderr, r.stderr
    timed_out = dyn.last_id()
    rec = dyn.record(timed_out)
    assert rec['state'] == 'killed' and rec['message'] == 'timed out', rec
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


def test_readers_run_beside_a_writer_and_writers_queue(dyn):
    from datetime import datetime
    writer = dyn.script('writer.py', SLEEPER)
    reader = dyn.script('reader.py', READER)
    dyn.grant(writer, 'Sleeper')

    w1 = dyn.start(f'{writer} deprecated 2.5', write=True, title='Sleeper')
    assert dyn.wait_state(w1, ('run', 'done', 'failed', 'killed', 'authfailed'))['state'] == 'run'
    readers = [dyn.start(f'{reader} 0.8') for _ in range(3)]
    w2 = dyn.start(f'{writer} invalid 0', write=True, title='Sleeper')

    for r in readers:
        rec = dyn.wait_state(r, timeout=15)
        assert rec['state'] == 'done', rec
    # the readers are done while the first writer still runs; the second writer waits for it
    assert dyn.record(w1)['state'] == 'run'
    assert dyn.record(w2)['state'] == 'new'

    recs = {a: dyn.wait_state(a, timeout=20) for a in (w1, w2)}
    assert recs[w1]['state'] == 'done' and recs[w2]['state'] == 'done', recs
    t = {a: {k: datetime.fromisoformat(dyn.record(a)[k]) for k in ('started', 'finished')}
         for a in (w1, w2, *readers)}
    for r in readers:
        assert t[w1]['started'] < t[r]['started'] and t[r]['finished'] < t[w1]['finished']
    for r in readers[1:]:   # readers ran in parallel with each other
        assert t[r]['started'] < t[readers[0]]['finished']
    assert t[w2]['started'] >= t[w1]['finished']
    assert recs[w1]['seq'] < recs[w2]['seq']
    assert dyn.dataset(MUON)['status'] == 'invalid'
    assert db_dataset(MUON)[0] == 'invalid'


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


def test_applications_cannot_write_the_database_directly(dyn):
    script = dyn.script('direct.py', DIRECT_DB)
    before_db, before_http = db_datasets(), dyn.datasets()
    for mode in ('orm', 'sql'):
        rec, out = dyn.finish(f'{script} {mode}')
        assert 'datasets in db: 3' in out, out   # reading works
        assert rec['state'] == 'failed' and rec['exit_code'] == 1, (rec, out)
        assert 'wrote the database' not in out
    dyn.grant(script, 'Direct')
    rec, out = dyn.finish(f'{script} orm', write=True, title='Direct')
    assert rec['state'] == 'failed' and 'wrote the database' not in out, (rec, out)
    assert db_datasets() == before_db
    assert dyn.datasets() == before_http


ENVIRONMENT = '''\
import json, os, sys
from dynamo.core.executable import read_only, authorized, inventory
print(json.dumps({'argv': sys.argv, 'name': __name__, 'read_only': read_only, 'authorized': authorized,
                  'cwd': os.getcwd(), 'datasets': len(inventory.datasets)}))
'''


def test_script_environment_and_submitting_user(dyn):
    script = dyn.script('env.py', ENVIRONMENT)
    command = f"{script} one 'two words'"
    r = dyn.run(command)
    assert r.returncode == 0, r.stdout + r.stderr
    first = json.loads(r.stdout.strip().splitlines()[-1])
    rec = dyn.record(dyn.last_id())
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
    r = dyn.run(script, '-W', '-t', 'Env')
    assert r.returncode != 0
    assert f'user "{LOGIN}" is not authorized to run title "Env"' in r.stderr, r.stderr
    rec = dyn.record(dyn.last_id())
    assert rec['state'] == 'authfailed' and rec['user'] == LOGIN

    dyn.grant(script, 'Env', LOGIN)
    rec, out = dyn.finish(command, write=True, title='Env')
    assert rec['state'] == 'done' and rec['user'] == LOGIN, (rec, out)
    seen = json.loads(out.strip().splitlines()[-1])
    assert (seen['read_only'], seen['authorized']) == (False, True)
    assert seen['name'] == '__main__' and seen['argv'][1:] == ['one', 'two words']
    assert seen['cwd'] not in (first['cwd'], second['cwd'])


def test_server_shutdown_kills_running_application(dyn):
    script = dyn.script('long.py', SLEEPER)
    dyn.grant(script, 'Long')
    before_db = db_datasets()
    app_id = dyn.start(f'{script} invalid 120', write=True, title='Long')
    dyn.wait_state(app_id, ('run',))
    pid = application(app_id).pid
    assert pid and alive(pid)

    start = time.monotonic()
    code = dyn.server.stop()   # SIGTERM
    assert time.monotonic() - start < 14, dyn.server.log()
    assert code == 0, dyn.server.log()
    app = application(app_id)
    assert app.state == 'killed', (app.state, app.message)
    assert app.finished is not None
    deadline = time.monotonic() + 5
    while alive(pid):
        assert time.monotonic() < deadline, f'application process {pid} survived the server'
        time.sleep(0.05)
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
