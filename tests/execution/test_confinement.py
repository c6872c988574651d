"""Applications run confined, tried as an attacker on the same host would: every application runs
as its submitter (root's and web ones as DYNAMO_APP_USER), finds no credential that opens a
writable connection, cannot signal the server or touch another application, is stopped by limits
that count all its processes, and cannot grow the server's memory with its output. Real local
users (made with useradd), real forks, the real client run as those users."""
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import pytest

from tests.conftest import AS_READER, ROOT, make_reader, manage

pytestmark = pytest.mark.e2e

USERS = ('dyntest-alice', 'dyntest-bob')


def _need_root():
    if os.geteuid() != 0:
        if os.environ.get('CI') == 'true':
            pytest.fail('the confinement tests need root (to make users and switch to them)')
        pytest.skip('needs root')


@pytest.fixture(scope='session')
def local_users():
    """Two local users, made with useradd when missing: {login: passwd entry}."""
    _need_root()
    for login in USERS:
        try:
            pwd.getpwnam(login)
        except KeyError:
            subprocess.run(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin', login],
                           check=True)
    return {login: pwd.getpwnam(login) for login in USERS}


@pytest.fixture
def shared_dir():
    """A directory every local user can reach (the socket, the scripts, the work areas)."""
    path = tempfile.mkdtemp(prefix='dynamo-confine-', dir='/tmp')
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Confined:
    def __init__(self, server, directory, env, secret):
        self.server = server
        self.dir = directory
        self.env = env
        self.secret = secret          # the server's database password ('' on SQLite)

    def script(self, name, body, owner=None):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(textwrap.dedent(body))
        os.chmod(path, 0o644)
        return path

    def client(self, login, *args, timeout=120, stdout=subprocess.PIPE):
        """`manage.py dynamo ARGS` run by the local user `login` (uid and groups switched)."""
        entry = pwd.getpwnam(login)
        env = {'PATH': '/usr/bin:/bin', 'HOME': '/tmp', 'DYNAMO_APP_SOCKET': self.env['DYNAMO_APP_SOCKET'],
               'LANG': 'C.UTF-8'}
        return subprocess.run(['setpriv', f'--reuid={entry.pw_uid}', f'--regid={entry.pw_gid}', '--init-groups',
                               sys.executable, str(ROOT / 'manage.py'), 'dynamo', *args],
                              env=env, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout,
                              cwd=self.dir)

    def record(self, app_id):
        status, body = self.server.get(f'/data/applications?id={app_id}', headers=AS_READER)
        assert status == 200, body
        return body['data'][0]

    def wait(self, app_id, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            record = self.record(app_id)
            if record['state'] in ('done', 'failed', 'killed', 'notfound', 'authfailed') and record['finished']:
                return record
            assert time.monotonic() < deadline, (record, self.server.log()[-3000:])
            time.sleep(0.1)

    def output(self, app_id):
        status, body = self.server.get(f'/data/applications/output?id={app_id}', headers=AS_READER)
        assert status == 200, body
        return body['data']


def _database_accounts(tmp_name):
    """On MariaDB: a password-protected account for the server (as a site would have) and a
    SELECT-only one for applications; returns (server URL, read-only URL, password)."""
    import secrets

    import MySQLdb
    from django.db import connection
    s = connection.settings_dict
    password, ro_password = secrets.token_hex(12), secrets.token_hex(12)
    conn = MySQLdb.connect(host=s['HOST'], port=int(s['PORT']), user=s['USER'], passwd=s['PASSWORD'],
                           autocommit=True)
    c = conn.cursor()
    for user, pw, grant in ((f'{tmp_name}_srv', password, 'ALL'), (f'{tmp_name}_ro', ro_password, 'SELECT')):
        for host in ('%', 'localhost'):
            c.execute('DROP USER IF EXISTS %s@%s', (user, host))
            c.execute('CREATE USER %s@%s IDENTIFIED BY %s', (user, host, pw))
            c.execute(f"GRANT {grant} ON `{s['NAME']}`.* TO %s@%s", (user, host))
    conn.close()
    base = f"{s['HOST']}:{s['PORT']}/{s['NAME']}"
    return f'mysql://{tmp_name}_srv:{password}@{base}', f'mysql://{tmp_name}_ro:{ro_password}@{base}', password


@pytest.fixture
def confined(start_server, shared_dir, local_users):
    """A server with the demo inventory whose socket and work areas every local user can reach;
    on MariaDB it runs with a password-protected account of its own."""
    from django.db import connection
    make_reader()
    assert manage('dynamo_inject', 'inventory/fixtures/demo.json').returncode == 0
    env = {'DYNAMO_APP_SOCKET': os.path.join(shared_dir, 'app.sock'),
           'DYNAMO_WORK_DIR': os.path.join(shared_dir, 'work'), 'DYNAMO_WEB_DN_HEADER': 'X-DN'}
    secret = ''
    if connection.vendor == 'mysql':
        url, ro_url, secret = _database_accounts('dyntest')
        env.update(DYNAMO_DB_URL=url, DYNAMO_DB_READONLY_URL=ro_url)
    server = start_server(env=env)
    deadline = time.monotonic() + 15
    while not os.path.exists(env['DYNAMO_APP_SOCKET']):
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    return Confined(server, shared_dir, env, secret)


WHOAMI = '''
    import os, sys
    print('uid', os.getuid(), os.geteuid(), 'gid', os.getgid(), 'groups', sorted(os.getgroups()))
    print('cwd owner', os.stat('.').st_uid, oct(os.stat('.').st_mode & 0o777))
    sys.exit(int(sys.argv[1]))
'''


def test_an_unprivileged_user_submits_streams_and_gets_the_exit_code(confined):
    alice = pwd.getpwnam('dyntest-alice')
    script = confined.script('whoami.py', WHOAMI)
    r = confined.client('dyntest-alice', f'{script} 3')
    assert r.returncode == 3, r.stdout + r.stderr
    assert f'uid {alice.pw_uid} {alice.pw_uid} gid {alice.pw_gid}' in r.stdout
    assert f'cwd owner {alice.pw_uid} 0o700' in r.stdout   # its work area is its own, closed to others


def test_roots_applications_run_as_the_app_user_never_as_root(confined):
    nobody = pwd.getpwnam('nobody')
    script = confined.script('whoami.py', WHOAMI)
    r = manage('dynamo', f'{script} 0', env={'DYNAMO_APP_SOCKET': confined.env['DYNAMO_APP_SOCKET']})
    assert r.returncode == 0, r.stdout + r.stderr
    assert f'uid {nobody.pw_uid} {nobody.pw_uid}' in r.stdout


def test_poll_and_kill_of_someone_elses_application_are_refused(confined):
    sleeper = confined.script('sleep.py', 'import time\nprint("up", flush=True)\ntime.sleep(60)\n')
    r = confined.client('dyntest-alice', sleeper, '--async')
    assert r.returncode == 0, r.stderr
    app_id = int(r.stdout.split()[1])
    for option in ('--poll', '--kill'):
        r = confined.client('dyntest-bob', option, str(app_id))
        assert r.returncode != 0 and 'belongs to dyntest-alice' in r.stderr, (option, r.stdout, r.stderr)
    assert confined.record(app_id)['state'] in ('new', 'run')
    r = confined.client('dyntest-alice', '--kill', str(app_id))
    assert r.returncode == 0, r.stderr
    assert confined.wait(app_id)['state'] == 'killed'


PROBE = '''
    import gc, json, os, re, signal, sys, types
    server_pid = int(sys.argv[1])
    found = set()
    PASS_KEYS = re.compile('pass', re.I)

    def look(obj, depth, seen):
        if depth > 5 or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, str):
            if '@' in obj and '://' in obj:
                found.add(obj)
            return
        if isinstance(obj, dict):
            for k, v in list(obj.items()):
                if isinstance(k, str) and PASS_KEYS.search(k) and isinstance(v, str) and v:
                    found.add(v)
                look(v, depth + 1, seen)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for v in list(obj)[:1000]:
                look(v, depth + 1, seen)
        elif isinstance(obj, types.ModuleType):
            for v in list(vars(obj).values()):
                look(v, depth + 1, seen)
        elif hasattr(obj, '__dict__') and not isinstance(obj, type):
            look(vars(obj), depth + 1, seen)

    from django.conf import settings
    from django.db import connections
    seen = set()
    look(settings._wrapped.__dict__, 0, seen)
    look(connections.__dict__, 0, seen)
    for module in list(sys.modules.values()):
        if module is not None and not module.__name__.startswith(('inventory.objects', 'encodings')):
            look(module, 0, seen)
    for obj in gc.get_objects():
        if type(obj) is dict:
            look(obj, 4, seen)
    found |= {v for k, v in os.environ.items() if PASS_KEYS.search(k)}
    readable = []
    for pid in (os.getppid(), server_pid):
        try:
            readable.append(open(f'/proc/{pid}/environ', 'rb').read()[:100].decode('latin-1'))
        except OSError:
            pass
    fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))
    kills = []
    for pid in (os.getppid(), server_pid):
        try:
            os.kill(pid, 0)
            kills.append(pid)
        except PermissionError:
            pass
    # with whatever was found (and the read-only account it is given), try to write
    wrote = []
    db = dict(settings.DATABASES['default'])
    if 'sqlite' in db['ENGINE']:
        import sqlite3
        path = db['NAME'].split('file:', 1)[-1].split('?', 1)[0]
        try:
            c = sqlite3.connect(path)
            c.execute('UPDATE dyn_datasets SET status = 3')
            c.commit()
            wrote.append('sqlite ' + path)
        except sqlite3.Error as exc:
            pass
    else:
        import MySQLdb
        users = {db['USER']} | {m.group(1) for s in found for m in [re.search('://([^:@/]+)[:@]', s)] if m}
        secrets = {db['PASSWORD']} | {s for s in found if '://' not in s}
        secrets |= {m.group(1) for s in found for m in [re.search('://[^:@/]+:([^@]+)@', s)] if m}
        for user in users:
            for secret in secrets:
                try:
                    c = MySQLdb.connect(host=db['HOST'], port=int(db['PORT']), user=user, passwd=secret,
                                        db=db['NAME'], connect_timeout=3)
                    c.cursor().execute('UPDATE dyn_datasets SET status = 3')
                    c.commit()
                    wrote.append(user)
                except MySQLdb.Error:
                    pass
    from inventory.models import Dataset
    print(json.dumps({'found': sorted(found), 'environ': readable, 'fds': fds, 'signalled': kills,
                      'wrote': wrote, 'reads': Dataset.objects.count(),
                      'secret_key': settings._wrapped.SECRET_KEY}))
'''


def test_a_read_only_application_finds_no_credential_and_cannot_write_or_signal(confined):
    from tests.support import row_counts
    before = row_counts()
    probe = confined.script('probe.py', PROBE)
    r = confined.client('dyntest-alice', f'{probe} {confined.server.proc.pid}')
    assert r.returncode == 0, r.stdout + r.stderr
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen['reads'] >= 3                      # it reads the database (read-only)
    assert seen['wrote'] == []                     # and nothing it found writes it
    if confined.secret:
        assert not any(confined.secret in s for s in seen['found']), seen['found']
    assert seen['environ'] == []                   # /proc/<server>/environ: another user's
    assert seen['signalled'] == []                 # it may not signal its supervisor or the server
    assert seen['fds'] == [0, 1, 2, seen['fds'][-1]] and len(seen['fds']) == 4   # (+ the one listdir opened)
    assert seen['secret_key'] == ''
    assert row_counts() == before
    assert confined.server.proc.poll() is None


KILLER = '''
    import os
    os.kill(os.getppid(), 9)
'''


def test_an_application_cannot_kill_the_server(confined):
    script = confined.script('kill.py', KILLER)
    r = confined.client('dyntest-alice', script)
    assert r.returncode == 1 and 'PermissionError' in r.stderr, r.stdout + r.stderr
    assert confined.server.proc.poll() is None
    assert confined.server.get('/data/inventory/datasets')[0] == 200


WRITER = '''
    import sys, time
    from dynamo.core.executable import inventory
    from dynamo.dataformat import Dataset
    print('writer started', flush=True)
    time.sleep(4)
    inventory.update(Dataset(sys.argv[1], status='valid'))
'''
TAMPER = '''
    import glob, os, sys
    work = sys.argv[1]
    tried = {}
    for path in [work, os.path.join(work, '.private')] + glob.glob(os.path.join(work, '*')):
        try:
            tried[path] = sorted(os.listdir(path))
        except OSError as exc:
            tried[path] = type(exc).__name__
    for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
        try:
            if os.stat(f'/proc/{pid}').st_uid == int(sys.argv[2]):
                os.kill(int(pid), 9)
                print('killed', pid)
        except (OSError, PermissionError):
            pass
    print(tried)
'''


def test_another_user_cannot_touch_a_write_applications_changes(confined):
    alice, bob = pwd.getpwnam('dyntest-alice'), pwd.getpwnam('dyntest-bob')
    writer = confined.script('writer.py', WRITER)
    assert manage('exec_auth', '--executable', writer, '--title', 'Tamper', '--user', 'dyntest-alice').returncode == 0
    r = confined.client('dyntest-alice', f'{writer} /Written/By/ALICE', '--write-request', '--title', 'Tamper',
                        '--async')
    assert r.returncode == 0, r.stderr
    app_id = int(r.stdout.split()[1])
    deadline = time.monotonic() + 20
    while confined.record(app_id)['state'] != 'run':
        assert time.monotonic() < deadline
        time.sleep(0.1)
    tamper = confined.script('tamper.py', TAMPER)
    r = confined.client('dyntest-bob', f'{tamper} {confined.env["DYNAMO_WORK_DIR"]} {alice.pw_uid}')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'killed' not in r.stdout
    assert 'PermissionError' in r.stdout                 # the work areas are not bob's to list
    record = confined.wait(app_id)
    assert record['state'] == 'done' and record['num_changes'] == 1, record
    status, body = confined.server.get('/data/inventory/datasets?dataset=/Written/By/ALICE')
    assert [d['name'] for d in body['data']] == ['/Written/By/ALICE']
    assert bob.pw_uid != alice.pw_uid


FORK_BOMB = '''
    import os, time
    children = 0
    for _ in range(400):
        try:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            children += 1
        except OSError:
            break
    print('forked', children, flush=True)
    time.sleep(60)
'''
MEMORY_HOG = '''
    import os, time
    os.fork()
    block = bytearray(3 << 30)   # 3 GB in each of two processes
    for i in range(0, len(block), 4096):
        block[i] = 1
    print('allocated', flush=True)
    time.sleep(60)
'''


def _processes_of(uid):
    return [p for p in os.listdir('/proc') if p.isdigit() and _owner(p) == uid]


def _owner(pid):
    try:
        return os.stat(f'/proc/{pid}').st_uid
    except OSError:
        return None


def test_a_fork_bomb_is_stopped_by_the_limit_of_the_whole_application(confined):
    alice = pwd.getpwnam('dyntest-alice')
    script = confined.script('bomb.py', FORK_BOMB)
    r = confined.client('dyntest-alice', script, '--async')
    app_id = int(r.stdout.split()[1])
    record = confined.wait(app_id, timeout=60)
    assert record['state'] == 'failed' and 'processes' in record['message'], record
    deadline = time.monotonic() + 10
    while _processes_of(alice.pw_uid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_of(alice.pw_uid) == []   # none of its processes outlives it
    assert confined.server.proc.poll() is None


def test_memory_is_limited_across_all_processes_of_an_application(confined):
    script = confined.script('hog.py', MEMORY_HOG)
    r = confined.client('dyntest-alice', script, '--async')
    app_id = int(r.stdout.split()[1])
    record = confined.wait(app_id, timeout=90)
    assert record['state'] == 'failed' and 'memory limit of 4096 MB exceeded' in record['message'], record
    assert confined.server.proc.poll() is None


FLOOD = '''
    import sys
    line = 'x' * 1023 + '\\n'
    chunk = line * 1024
    for _ in range(1024):            # 1 GiB
        sys.stdout.write(chunk)
    print('the end')
'''


def _rss(pid):
    with open(f'/proc/{pid}/status') as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith('VmRSS:'))


def test_a_gigabyte_of_output_keeps_the_server_small_even_for_a_client_that_stops_reading(confined):
    script = confined.script('flood.py', FLOOD)
    pid = confined.server.proc.pid
    start = _rss(pid)
    peak = [start]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss(pid))
            time.sleep(0.05)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # a synchronous client that never reads what it is sent
    entry = pwd.getpwnam('dyntest-alice')
    stuck = subprocess.Popen(['setpriv', f'--reuid={entry.pw_uid}', f'--regid={entry.pw_gid}', '--init-groups',
                              sys.executable, str(ROOT / 'manage.py'), 'dynamo', script],
                             env={'PATH': '/usr/bin:/bin', 'HOME': '/tmp',
                                  'DYNAMO_APP_SOCKET': confined.env['DYNAMO_APP_SOCKET']},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=confined.dir)
    try:
        deadline = time.monotonic() + 20
        app_id = None
        while app_id is None:
            status, body = confined.server.get('/data/applications?limit=1', headers=AS_READER)
            if body['data'] and body['data'][0]['title'] == 'DynamoExecutable' and 'flood' in body['data'][0]['script']:
                app_id = body['data'][0]['id']
            assert time.monotonic() < deadline
            time.sleep(0.1)
        record = confined.wait(app_id, timeout=180)
    finally:
        stuck.kill()
        stuck.wait()
        done.set()
        sampler.join()
    assert record['state'] == 'done', record
    assert peak[0] - start < 100 << 20, f'server RSS grew by {(peak[0] - start) >> 20} MB'
    out = confined.output(app_id)
    assert out['total'] <= (64 << 20) + 200            # head and tail of the 64 MB allowance, and the marker
    assert out['output'].endswith('the end\n')
    head = confined.server.get(f'/data/applications/output?id={app_id}&offset=0&length=100', headers=AS_READER)[1]
    assert head['data']['output'] == 'x' * 100
    marker_window = confined.server.get(f'/data/applications/output?id={app_id}&offset={(32 << 20) - 10}&length=200',
                                        headers=AS_READER)[1]['data']['output']
    assert 'bytes of output dropped here' in marker_window


def test_web_submissions_run_as_the_app_user_and_anonymous_callers_see_little(confined):
    import urllib.request
    nobody = pwd.getpwnam('nobody')
    body = json.dumps({'script': 'import os\nprint("uid", os.getuid())\n', 'title': 'FromTheWeb'}).encode()
    request = urllib.request.Request(confined.server.url + '/data/applications/submit', data=body, method='POST',
                                     headers={'Content-Type': 'application/json', **AS_READER})
    with urllib.request.urlopen(request, timeout=10) as r:
        app_id = json.loads(r.read())['data']['id']
    assert confined.wait(app_id)['state'] == 'done'
    assert confined.output(app_id)['output'] == f'uid {nobody.pw_uid}\n'
    # an anonymous caller: id, title, state and times; no output
    status, anonymous = confined.server.get(f'/data/applications?id={app_id}')
    assert status == 200 and set(anonymous['data'][0]) == {'id', 'title', 'state', 'created', 'started', 'finished'}
    status, refused = confined.server.get(f'/data/applications/output?id={app_id}')
    assert status == 403 and 'owner' in refused['message']


def test_a_server_that_cannot_switch_users_runs_no_application_and_says_why(start_server, shared_dir, local_users):
    env = {'DYNAMO_APP_SOCKET': os.path.join(shared_dir, 'app.sock'), 'DYNAMO_WORK_DIR': os.path.join(shared_dir, 'w'),
           'DYNAMO_APP_USER': 'no-such-user-here'}
    server = start_server(env=env)
    deadline = time.monotonic() + 15
    while not os.path.exists(env['DYNAMO_APP_SOCKET']):
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    script = os.path.join(shared_dir, 'hello.py')
    with open(script, 'w') as f:
        f.write('print("should not run")\n')
    os.chmod(script, 0o644)
    r = manage('dynamo', script, env={'DYNAMO_APP_SOCKET': env['DYNAMO_APP_SOCKET']})
    assert r.returncode != 0 and 'should not run' not in r.stdout
    assert "this server does not run applications: DYNAMO_APP_USER: no local user 'no-such-user-here'" in r.stderr
    assert 'applications are disabled' in server.log()


def test_without_root_or_capabilities_the_reason_names_what_is_missing(local_users):
    code = 'from execution.confine import switching_problem; print(switching_problem("nobody"))'
    entry = local_users['dyntest-alice']
    r = subprocess.run(['setpriv', f'--reuid={entry.pw_uid}', f'--regid={entry.pw_gid}', '--init-groups',
                        sys.executable, '-c', code], capture_output=True, text=True, cwd=str(ROOT),
                       env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert f'runs as uid {entry.pw_uid} without CAP_CHOWN, CAP_KILL, CAP_SETGID, CAP_SETUID' in r.stdout
