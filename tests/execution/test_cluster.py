"""Horizontal scaling, end to end: real `runserver_dynamo` processes, each on its own MariaDB
database, a secondary configured only by `master_conf`; answers read over HTTP."""
import json
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import AS_READER, ServerProcess, make_reader, manage

pytestmark = [pytest.mark.mariadb, pytest.mark.e2e]

DOC = {
    'site': [{'name': 'T2_US_MIT'}, {'name': 'T1_US_FNAL_Disk'}],
    'group': [{'name': 'AnalysisOps'}],
    'dataset': [{'name': '/A/B/RAW', 'status': 'valid', 'blocks': [
        {'name': 'b1', 'files': [{'name': '/store/a/b/1.root', 'size': 10}]}]}],
    'datasetreplica': [{'dataset': '/A/B/RAW', 'site': 'T2_US_MIT', 'group': 'AnalysisOps'}],
}

WRITE_APP = '''
    import sys
    from dynamo.core.executable import inventory
    from dynamo.dataformat import Dataset
    inventory.update(Dataset(sys.argv[1], status='valid'))
    print('added', sys.argv[1])
'''


class Cluster:
    """Fresh databases (schema copied from the test database) and the servers running on them."""

    def __init__(self, tmp_path):
        from django.db import connection
        self.tmp_path = tmp_path
        self.settings = connection.settings_dict
        self.template = self.settings['NAME']
        self.databases = []
        self.servers = []

    def _root(self):
        import MySQLdb
        s = self.settings
        return MySQLdb.connect(host=s['HOST'], port=int(s['PORT']), user=s['USER'], passwd=s['PASSWORD'],
                               charset='utf8mb4', autocommit=True)

    def database(self, name):
        """A new database with the test database's tables and their rows (migrations, Default partition)."""
        full = f'{self.template}_{name}'
        conn = self._root()
        try:
            c = conn.cursor()
            c.execute(f'DROP DATABASE IF EXISTS `{full}`')
            c.execute(f'CREATE DATABASE `{full}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin')
            c.execute('SELECT table_name FROM information_schema.tables WHERE table_schema = %s', (self.template,))
            for (table,) in c.fetchall():
                c.execute(f'CREATE TABLE `{full}`.`{table}` LIKE `{self.template}`.`{table}`')
                c.execute(f'INSERT INTO `{full}`.`{table}` SELECT * FROM `{self.template}`.`{table}`')
        finally:
            conn.close()
        self.databases.append(full)
        return full

    def url(self, database):
        s = self.settings
        password = f':{s["PASSWORD"]}' if s['PASSWORD'] else ''
        return f'mysql://{s["USER"]}{password}@{s["HOST"]}:{s["PORT"]}/{database}'

    def master_conf(self, database):
        s = self.settings
        conf = {'host': s['HOST'], 'port': int(s['PORT']), 'user': s['USER'], 'db': database}
        if s['PASSWORD']:
            conf['password'] = s['PASSWORD']
        return json.dumps(conf)

    def env(self, database, primary=None, **extra):
        name = database.rsplit('_', 1)[-1]
        env = {'DYNAMO_DB_URL': self.url(database), 'DYNAMO_APP_SOCKET': str(self.tmp_path / f'{name}.sock'),
               'DYNAMO_WORK_DIR': str(self.tmp_path / f'work-{name}'), 'DYNAMO_WEB_DN_HEADER': 'X-DN',
               'DYNAMO_MASTER_CONF': self.master_conf(primary) if primary else ''}
        env.update(extra)
        return env

    def start(self, database, primary=None, wait=True, **extra):
        server = ServerProcess(self.tmp_path, env=self.env(database, primary, **extra))
        server.database = database
        server.primary = primary
        server.socket = self.env(database)['DYNAMO_APP_SOCKET']
        self.servers.append(server)
        if wait:
            self.wait_online(server)
        return server

    @staticmethod
    def wait_online(server, timeout=60):
        server.wait_online(timeout=timeout)
        assert wait_for(lambda: status(server)['state'] == 'online', 10), server.log()
        return server

    def manage(self, server, *args, **kwargs):
        return manage(*args, env=self.env(server.database, server.primary), **kwargs)

    def close(self):
        for server in reversed(self.servers):   # the primary goes last
            server.stop()
        conn = self._root()
        try:
            for name in self.databases:
                conn.cursor().execute(f'DROP DATABASE IF EXISTS `{name}`')
        finally:
            conn.close()


@pytest.fixture
def cluster(transactional_db, tmp_path):
    make_reader()   # copied into every database the cluster makes
    c = Cluster(tmp_path)
    yield c
    c.close()


def status(server):
    code, body = server.get('/data/server/status')
    assert code == 200, body
    return body['data']


def datasets(server, pattern='*'):
    code, body = server.get(f'/data/inventory/datasets?dataset={pattern}')
    assert code == 200, body
    return sorted(d['name'] for d in body['data'])


def wait_for(predicate, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def post(server, path, body, dn):
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), method='POST',
                                     headers={'Content-Type': 'application/json', 'X-DN': dn})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b'null')


def inject(cluster, server, doc):
    path = cluster.tmp_path / 'doc.json'
    path.write_text(json.dumps(doc))
    r = cluster.manage(server, 'dynamo_inject', str(path))
    assert r.returncode == 0, r.stdout + r.stderr


def write_app(cluster, server, dataset, title='add-dataset'):
    """Authorize (cluster-wide) and run a write application on `server`; returns the client's output."""
    path = cluster.tmp_path / 'add_dataset.py'
    path.write_text(textwrap.dedent(WRITE_APP))
    r = cluster.manage(server, 'exec_auth', '--executable', str(path), '--title', title)
    assert r.returncode == 0, r.stderr
    r = cluster.manage(server, 'dynamo', f'{path} {dataset}', '--write-request', '--title', title)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_secondary_follows_the_primary_in_real_time(cluster):
    a, b = cluster.database('a'), cluster.database('b')
    primary = cluster.start(a)
    inject(cluster, primary, DOC)
    secondary = cluster.start(b, primary=a)
    assert datasets(secondary) == ['/A/B/RAW']
    me = status(secondary)
    assert me['role'] == 'secondary' and me['state'] == 'online'
    assert me['seq'] == status(primary)['seq'] == 1
    assert me['digest'] == status(primary)['digest'] and len(me['digest']) == 64
    assert {p['role'] for p in me['peers']} == {'primary', 'secondary'}

    # a write application on the primary is on the secondary's /data within 1 s
    out = write_app(cluster, primary, '/New/On/PRIMARY')
    assert 'added /New/On/PRIMARY' in out
    applied = time.monotonic()
    assert wait_for(lambda: '/New/On/PRIMARY' in datasets(secondary), 1.0), 'not propagated within 1 s'
    assert time.monotonic() - applied < 1.0
    assert wait_for(lambda: status(secondary)['digest'] == status(primary)['digest'], 2)
    assert status(secondary)['lag'] == {'changesets': 0, 'seconds': 0.0}


def test_writes_submitted_to_a_secondary_reach_the_primary(cluster):
    a, b = cluster.database('a'), cluster.database('b')
    primary = cluster.start(a)
    inject(cluster, primary, DOC)
    secondary = cluster.start(b, primary=a)

    # users and roles are the cluster's (kept in the primary's database): granted through the secondary
    r = cluster.manage(secondary, 'user_auth', '--user', 'op', '--dn', '/CN=op', '--role', 'admin',
                       '--target', 'inventory')
    assert r.returncode == 0, r.stderr
    code, body = post(secondary, '/data/inventory/inject', {'dataset': [{'name': '/Web/On/SECONDARY'}]}, '/CN=op')
    assert code == 200, body
    assert body['data']['datasets'] == 1
    # the answer comes once the change set is in this server's image ...
    assert '/Web/On/SECONDARY' in datasets(secondary)
    # ... and the primary applied it
    assert '/Web/On/SECONDARY' in datasets(primary)
    code, body = post(secondary, '/data/inventory/inject',
                      {'dataset': [{'name': '/Bad/Status/RAW', 'status': 'nonsense'}]}, '/CN=op')
    assert code == 400 and 'nonsense' in body['message'], body
    assert '/Bad/Status/RAW' not in datasets(primary)

    # a write application on the secondary is applied by the primary, once, and comes back
    out = write_app(cluster, secondary, '/App/On/SECONDARY')
    assert 'added /App/On/SECONDARY' in out
    assert '/App/On/SECONDARY' in datasets(primary)
    assert wait_for(lambda: '/App/On/SECONDARY' in datasets(secondary), 1.0)
    assert status(primary)['seq'] == 3

    # read-only applications run on the secondary, from its own image
    script = cluster.tmp_path / 'count.py'
    script.write_text('from dynamo.core.executable import inventory, read_only\n'
                      'print("read_only", read_only, len(inventory.datasets))\n')
    r = cluster.manage(secondary, 'dynamo', str(script))
    assert r.returncode == 0, r.stderr
    assert 'read_only True 3' in r.stdout
    assert wait_for(lambda: status(secondary)['digest'] == status(primary)['digest'], 2)


def test_secondary_waits_for_its_primary_and_says_so(cluster):
    a, b = cluster.database('a'), cluster.database('b')
    secondary = cluster.start(b, primary=a, wait=False)
    assert wait_for(lambda: 'waiting for the primary server' in secondary.log(), 10), secondary.log()
    assert secondary.proc.poll() is None
    primary = cluster.start(a)
    inject(cluster, primary, DOC)
    cluster.wait_online(secondary, timeout=30)
    assert wait_for(lambda: datasets(secondary) == ['/A/B/RAW'], 2)


def test_late_secondaries_catch_up_with_or_without_local_store(cluster):
    a, b, c = cluster.database('a'), cluster.database('b'), cluster.database('c')
    primary = cluster.start(a)
    inject(cluster, primary, DOC)
    write_app(cluster, primary, '/Before/The/SECONDARIES')
    # no local persistency: loads from the primary's store, read-only, and follows in RAM
    memory_only = cluster.start(c, primary=a, DYNAMO_LOCAL_STORE='0')
    assert datasets(memory_only) == ['/A/B/RAW', '/Before/The/SECONDARIES']
    # a local store that is not on the primary's history (here: a foreign digest) is replaced by a copy
    import MySQLdb
    s = cluster.settings
    conn = MySQLdb.connect(host=s['HOST'], port=int(s['PORT']), user=s['USER'], passwd=s['PASSWORD'], db=b,
                           autocommit=True)
    conn.cursor().execute("INSERT INTO dyn_inventory_state (id, seq, digest, writer, epoch, primary_at) "
                          "VALUES (1, 2, 'elsewhere', '', 0, '') "
                          "ON DUPLICATE KEY UPDATE seq = 2, digest = 'elsewhere'")
    conn.close()
    with_store = cluster.start(b, primary=a)
    assert "copying the primary's store" in with_store.log()
    query = ('SELECT index_name, non_unique, column_name FROM information_schema.statistics '
             'WHERE table_schema = %s AND table_name = %s ORDER BY index_name, seq_in_index')
    for table in ('dyn_blocks', 'dyn_block_replicas', 'dyn_files'):   # indexes rebuilt after the copy
        assert db_rows(cluster, b, query, (b, table)) == db_rows(cluster, a, query, (a, table))
    assert datasets(with_store) == ['/A/B/RAW', '/Before/The/SECONDARIES']
    write_app(cluster, primary, '/After/The/SECONDARIES')
    for server in (memory_only, with_store):
        assert wait_for(lambda: '/After/The/SECONDARIES' in datasets(server), 1.0)
        assert wait_for(lambda: status(server)['digest'] == status(primary)['digest'], 2)
    # the copied store is a real one: restarted, the secondary loads it and replays only what it missed
    with_store.stop()
    write_app(cluster, primary, '/While/One/WAS-DOWN')
    again = cluster.start(b, primary=a)
    assert "loading the local store" in again.log()
    assert '/While/One/WAS-DOWN' in datasets(again)
    assert wait_for(lambda: status(again)['digest'] == status(primary)['digest'], 2)


def test_a_secondary_that_diverges_resynchronizes_by_itself(cluster):
    a, b = cluster.database('a'), cluster.database('b')
    primary = cluster.start(a)
    inject(cluster, primary, DOC)
    secondary = cluster.start(b, primary=a)
    # damage the secondary's store behind its back: its next replay no longer yields the primary's digest
    import MySQLdb
    s = cluster.settings
    conn = MySQLdb.connect(host=s['HOST'], port=int(s['PORT']), user=s['USER'], passwd=s['PASSWORD'], db=b,
                           autocommit=True)
    conn.cursor().execute("UPDATE dyn_inventory_state SET digest = 'damaged' WHERE id = 1")
    conn.close()
    write_app(cluster, primary, '/After/The/DAMAGE')
    assert wait_for(lambda: 'out of sync with the primary' in secondary.log(), 5), secondary.log()
    assert wait_for(lambda: '/After/The/DAMAGE' in datasets(secondary), 10)
    assert wait_for(lambda: status(secondary)['digest'] == status(primary)['digest'], 5)
    assert status(secondary)['state'] == 'online'


SLOW_WRITE_APP = '''
    import sys, time
    from dynamo.core.executable import inventory
    from dynamo.dataformat import Dataset
    print('started', flush=True)
    time.sleep(float(sys.argv[2]))
    inventory.update(Dataset(sys.argv[1], status='valid'))
'''


def submit_slow(cluster, server, path, dataset, seconds):
    """`manage.py dynamo --async` of the slow write application; returns its id."""
    r = cluster.manage(server, 'dynamo', f'{path} {dataset} {seconds}', '--write-request', '--title', 'slow',
                       '--async')
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[1])


def app_record(server, app_id):
    code, body = server.get(f'/data/applications/list?id={app_id}', headers=AS_READER)
    assert code == 200, body
    return body['data'][0]


def test_one_writer_at_a_time_across_the_cluster(cluster):
    a, b = cluster.database('a'), cluster.database('b')
    primary = cluster.start(a)
    inject(cluster, primary, DOC)
    secondary = cluster.start(b, primary=a)
    path = cluster.tmp_path / 'slow.py'
    path.write_text(textwrap.dedent(SLOW_WRITE_APP))
    assert cluster.manage(primary, 'exec_auth', '--executable', str(path), '--title', 'slow').returncode == 0

    first = submit_slow(cluster, secondary, path, '/First/On/SECONDARY', 3)
    assert wait_for(lambda: app_record(secondary, first)['state'] == 'run', 10)
    second = submit_slow(cluster, primary, path, '/Second/On/PRIMARY', 0)
    doc = cluster.tmp_path / 'third.json'
    doc.write_text(json.dumps({'dataset': [{'name': '/Third/Injected/RAW'}]}))
    third = cluster.manage(primary, 'dynamo_inject', str(doc), timeout=60)
    assert third.returncode == 0, third.stdout + third.stderr
    # while the secondary's writer ran, the primary's writer and the injection waited for the lease
    assert app_record(secondary, first)['state'] == 'done'
    assert wait_for(lambda: app_record(primary, second)['state'] == 'done', 20)
    seqs = [app_record(secondary, first)['seq'], app_record(primary, second)['seq']]
    assert seqs[0] < seqs[1], seqs
    assert 'change set' in third.stdout
    assert wait_for(lambda: status(secondary)['digest'] == status(primary)['digest'], 5)
    assert datasets(secondary) == datasets(primary) == sorted(
        ['/A/B/RAW', '/First/On/SECONDARY', '/Second/On/PRIMARY', '/Third/Injected/RAW'])


def db_rows(cluster, database, sql, params=()):
    import MySQLdb
    s = cluster.settings
    conn = MySQLdb.connect(host=s['HOST'], port=int(s['PORT']), user=s['USER'], passwd=s['PASSWORD'], db=database,
                           autocommit=True)
    try:
        c = conn.cursor()
        c.execute(sql, params)
        return c.fetchall()
    finally:
        conn.close()


def chained_digest(cluster, database, seq, previous):
    """sha256(previous digest, the logged chunks of change set `seq`), as the servers chain them."""
    import hashlib
    chained = hashlib.sha256(previous.encode())
    for (chunk,) in db_rows(cluster, database, 'SELECT data FROM dyn_change_set_chunks WHERE changeset_id = %s '
                                               'ORDER BY `index`', (seq,)):
        chained.update(chunk.encode())
    return chained.hexdigest()


def test_failover_when_the_primary_is_killed(cluster):
    import signal
    a, b, c = cluster.database('a'), cluster.database('b'), cluster.database('c')
    primary = cluster.start(a, DYNAMO_FAILOVER_TIMEOUT='5')
    inject(cluster, primary, DOC)
    secondary = cluster.start(b, primary=a, DYNAMO_FAILOVER_TIMEOUT='5')
    third = cluster.start(c, primary=a, DYNAMO_FAILOVER_TIMEOUT='5')   # a higher id: it follows
    path = cluster.tmp_path / 'slow.py'
    path.write_text(textwrap.dedent(SLOW_WRITE_APP))
    assert cluster.manage(primary, 'exec_auth', '--executable', str(path), '--title', 'slow').returncode == 0

    running = submit_slow(cluster, primary, path, '/Running/When/KILLED', 60)    # holds the writer lease
    assert wait_for(lambda: app_record(primary, running)['state'] == 'run', 10)
    queued = submit_slow(cluster, primary, path, '/Queued/Before/FAILOVER', 0)   # waits for the lease
    # the secondary keeps copies of the cluster's tables: the queued application is among them
    assert wait_for(lambda: db_rows(cluster, b, 'SELECT state FROM dyn_applications WHERE id = %s', (queued,)), 10)
    assert status(secondary)['digest'] == status(primary)['digest']
    last_seq, last_digest = status(primary)['seq'], status(primary)['digest']

    primary.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    assert wait_for(lambda: status(secondary)['role'] == 'primary', 20, step=0.2), secondary.log()
    took = time.monotonic() - killed_at
    assert took < 5 + 5, took   # failover_timeout + 5 s at most
    assert 'takes over' in secondary.log()
    # the new primary ran the queued write application; the one that was running is recorded killed
    assert wait_for(lambda: app_record(secondary, queued)['state'] == 'done', 20), app_record(secondary, queued)
    assert app_record(secondary, running)['state'] == 'killed'
    assert '/Queued/Before/FAILOVER' in datasets(secondary)
    # its digest is the old primary's last digest chained with that one change set
    me = status(secondary)
    assert me['seq'] == last_seq + 1
    assert me['digest'] == chained_digest(cluster, b, me['seq'], last_digest)
    # the other secondary follows the new primary
    assert wait_for(lambda: status(third)['digest'] == me['digest'], 10), third.log()
    assert status(third)['role'] == 'secondary'
    assert 'following the new primary' in third.log()
    assert {p['id']: p['role'] for p in status(third)['peers']}[status(secondary)['server_id']] == 'primary'

    # the old primary, restarted as it was, finds it was replaced: it joins as a secondary and catches up
    old = cluster.start(a, DYNAMO_FAILOVER_TIMEOUT='5')
    assert status(old)['role'] == 'secondary'
    assert 'a newer primary replaced this server' in old.log(), old.log()
    assert wait_for(lambda: status(old)['digest'] == status(secondary)['digest'], 5)
    # it never writes: a web write sent to it is applied by the new primary
    r = cluster.manage(secondary, 'user_auth', '--user', 'op', '--dn', '/CN=op', '--role', 'admin', '--target', 'inventory')
    assert r.returncode == 0, r.stderr
    code, body = post(old, '/data/inventory/inject', {'dataset': [{'name': '/After/The/FAILOVER'}]}, '/CN=op')
    assert code == 200, body
    assert '/After/The/FAILOVER' in datasets(secondary)
    origins = db_rows(cluster, b, 'SELECT origin FROM dyn_change_sets ORDER BY seq DESC LIMIT 1')
    assert origins[0][0].startswith('changes:web:op')


class SecondMariaDB:
    """A MariaDB server of the test's own (data directory and port), to stop and start at will."""

    def __init__(self, tmp_path):
        import shutil
        import subprocess
        from tests.conftest import free_port
        self.dir = tmp_path / 'mariadb2'
        self.port = free_port()
        self.subprocess = subprocess
        install = shutil.which('mariadb-install-db') or shutil.which('mysql_install_db')
        r = subprocess.run([install, '--no-defaults', f'--datadir={self.dir}/data', '--user=root',
                            '--auth-root-authentication-method=normal', '--skip-test-db'],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        self.proc = None
        self.start()

    def start(self):
        self.proc = self.subprocess.Popen(
            ['/usr/sbin/mariadbd', '--no-defaults', f'--datadir={self.dir}/data', f'--port={self.port}',
             '--bind-address=127.0.0.1', f'--socket={self.dir}/sock', f'--pid-file={self.dir}/pid', '--user=root',
             '--innodb-buffer-pool-size=32M', f'--log-error={self.dir}/error.log'],
            stdout=self.subprocess.DEVNULL, stderr=self.subprocess.DEVNULL)
        import MySQLdb

        def up():
            try:
                MySQLdb.connect(host='127.0.0.1', port=self.port, user='root', connect_timeout=1).close()
                return True
            except MySQLdb.OperationalError:
                return False
        assert wait_for(up, 30, step=0.2), (self.dir / 'error.log').read_text()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


@pytest.fixture
def second_mariadb(tmp_path):
    server = SecondMariaDB(tmp_path)
    yield server
    server.stop()


def test_failover_with_the_default_timeout_takes_at_most_35_seconds(cluster):
    import signal
    a, b = cluster.database('a'), cluster.database('b')
    primary = cluster.start(a)
    inject(cluster, primary, DOC)
    secondary = cluster.start(b, primary=a)
    assert wait_for(lambda: status(secondary)['digest'] == status(primary)['digest'], 5)
    time.sleep(3)   # a heartbeat or two of the primary
    primary.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    assert wait_for(lambda: status(secondary)['role'] == 'primary', 45, step=0.2), secondary.log()
    took = time.monotonic() - killed_at
    assert 25 < took < 35, took   # never before the primary's heartbeat is 30 s old, and not much after


def test_failover_when_the_primary_database_stops(cluster, second_mariadb):
    import MySQLdb
    conn = MySQLdb.connect(host='127.0.0.1', port=second_mariadb.port, user='root', autocommit=True)
    conn.cursor().execute('CREATE DATABASE dynamo CHARACTER SET utf8mb4 COLLATE utf8mb4_bin')
    conn.close()
    primary_url = f'mysql://root@127.0.0.1:{second_mariadb.port}/dynamo'
    r = manage('migrate', '-v0', env={'DYNAMO_DB_URL': primary_url}, timeout=300)
    assert r.returncode == 0, r.stderr
    b = cluster.database('b')
    env = cluster.env('a', DYNAMO_DB_URL=primary_url, DYNAMO_FAILOVER_TIMEOUT='5')
    primary = ServerProcess(cluster.tmp_path, env=env)
    primary.database, primary.primary = 'a', None
    cluster.servers.append(primary)
    cluster.wait_online(primary)
    r = manage('dynamo_inject', '-', input=json.dumps(DOC), env=env)
    assert r.returncode == 0, r.stderr
    conf = json.dumps({'host': '127.0.0.1', 'port': second_mariadb.port, 'user': 'root', 'db': 'dynamo'})
    secondary = cluster.start(b, DYNAMO_MASTER_CONF=conf, DYNAMO_FAILOVER_TIMEOUT='5')
    assert wait_for(lambda: status(secondary)['digest'] == status(primary)['digest'], 5)
    last_seq, last_digest = status(primary)['seq'], status(primary)['digest']

    second_mariadb.stop()          # the primary's database is gone; the primary process is not
    stopped_at = time.monotonic()
    assert wait_for(lambda: status(secondary)['role'] == 'primary', 25, step=0.2), secondary.log()
    assert time.monotonic() - stopped_at < 5 + 5
    assert primary.proc.poll() is None
    # the new primary takes writes: its digest chains from the old primary's last one
    doc = cluster.tmp_path / 'after.json'
    doc.write_text(json.dumps({'dataset': [{'name': '/After/Database/LOSS'}]}))
    r = manage('dynamo_inject', str(doc), env=cluster.env(b))
    assert r.returncode == 0, r.stdout + r.stderr
    assert '/After/Database/LOSS' in datasets(secondary)
    assert status(secondary)['seq'] == last_seq + 1
    assert status(secondary)['digest'] == chained_digest(cluster, b, last_seq + 1, last_digest)

    # the old primary's database comes back: the old primary, still running, is fenced and follows
    second_mariadb.start()
    assert wait_for(lambda: status(primary)['role'] == 'secondary', 30, step=0.2), primary.log()
    assert wait_for(lambda: status(primary)['digest'] == status(secondary)['digest'], 10), primary.log()
    assert '/After/Database/LOSS' in datasets(primary)
    state = MySQLdb.connect(host='127.0.0.1', port=second_mariadb.port, user='root', db='dynamo')
    c = state.cursor()
    c.execute('SELECT epoch, primary_at FROM dyn_inventory_state WHERE id = 1')
    epoch, primary_at = c.fetchone()
    state.close()
    assert epoch >= 1 and json.loads(primary_at)['db'] == b


def test_three_servers_through_a_burst_of_write_applications_and_a_restart(cluster):
    from execution import client
    a, b, c = cluster.database('a'), cluster.database('b'), cluster.database('c')
    primary = cluster.start(a)
    inject(cluster, primary, DOC)
    first = cluster.start(b, primary=a)
    second = cluster.start(c, primary=a)
    path = cluster.tmp_path / 'add_dataset.py'
    path.write_text(textwrap.dedent(WRITE_APP))
    assert cluster.manage(primary, 'exec_auth', '--executable', str(path), '--title', 'burst').returncode == 0
    submitted = []
    for i in range(200):
        target = primary if i % 2 == 0 else first
        app_id, _ = client.submit(socket_path=target.socket, command=f'{path} /Burst/N{i:03d}/RAW', title='burst',
                                  write=True, asynchronous=True, timeout=None)
        submitted.append((target, app_id))
        if i == 60:
            second.stop()
        elif i == 130:
            second = cluster.start(c, primary=a)
    for target, app_id in submitted:
        assert wait_for(lambda: app_record(target, app_id)['state'] in ('done', 'failed'), 120, step=0.1)
        record = app_record(target, app_id)
        assert record['state'] == 'done', record
    final = status(primary)
    assert final['seq'] == 1 + 200
    for server in (first, second):
        assert wait_for(lambda: status(server)['digest'] == final['digest'], 10), status(server)
    assert len(datasets(second)) == len(datasets(first)) == len(datasets(primary)) == 201


def test_the_primary_stops_last_and_says_what_it_waits_for(cluster):
    import signal
    a, b = cluster.database('a'), cluster.database('b')
    primary = cluster.start(a)
    secondary = cluster.start(b, primary=a)
    primary.proc.send_signal(signal.SIGTERM)
    assert wait_for(lambda: 'waiting for the secondary servers to stop first' in primary.log(), 10), primary.log()
    assert primary.proc.poll() is None and status(primary)['role'] == 'primary'
    assert secondary.stop() == 0
    assert primary.proc.wait(15) == 0
