"""Shared fixtures: inventories built in RAM, and real server processes on the test database."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inventory.objects import (Block, BlockReplica, Dataset, DatasetReplica, Group, Inventory, Site)

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """The test process plays the server (sessions, signed values): on a clean clone it makes the
    development secret key the way manage.py does for the server's commands, and uses it."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from dynamo_site import bootstrap
    bootstrap.prepare('runserver_dynamo')
    try:
        key = settings.SECRET_KEY
    except ImproperlyConfigured:   # empty: the settings were read before the key existed
        key = ''
    if not key:
        settings.SECRET_KEY = (bootstrap.var_dir() / 'secret_key').read_text().strip()


@pytest.fixture
def make_inventory():
    """An inventory with two sites, two groups, two datasets (3 blocks) and a few replicas."""
    def make():
        inv = Inventory()
        for name in ('T2_A', 'T1_B'):
            inv.update(Site(name))
        for name in ('physics', 'ops'):
            inv.update(Group(name))
        inv.update(Dataset('/A/B/RAW', status='valid'))
        inv.update(Block('b1', '/A/B/RAW', size=100, num_files=2))
        inv.update(Block('b2', '/A/B/RAW', size=50, num_files=1))
        inv.update(Dataset('/C/D/AOD'))
        inv.update(Block('c1', '/C/D/AOD', size=70, num_files=7))
        inv.update(DatasetReplica('/A/B/RAW', 'T2_A', growing=True, group='physics'))
        inv.update(BlockReplica('/A/B/RAW#b1', 'T2_A', 'physics'))
        inv.update(BlockReplica('/A/B/RAW#b2', 'T2_A', 'physics'))
        inv.update(DatasetReplica('/C/D/AOD', 'T1_B'))
        inv.update(BlockReplica('/C/D/AOD#c1', 'T1_B', 'ops', size=30, file_ids=(1, 2, 3)))
        return inv
    return make


def database_url():
    """DYNAMO_DB_URL for the database the tests run on (the test database once it is set up)."""
    from django.db import connection
    s = connection.settings_dict
    if connection.vendor == 'sqlite':
        return f'sqlite:///{s["NAME"]}'
    password = f':{s["PASSWORD"]}' if s['PASSWORD'] else ''
    return f'mysql://{s["USER"]}{password}@{s["HOST"]}:{s["PORT"]}/{s["NAME"]}'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def manage(*args, input=None, env=None, timeout=120):
    """Run `python manage.py ARGS` against the test database; returns CompletedProcess."""
    full_env = dict(os.environ, DYNAMO_DB_URL=database_url())
    full_env.update(env or {})   # the caller may override DYNAMO_DB_URL itself
    return subprocess.run([sys.executable, str(ROOT / 'manage.py'), *args], input=input, env=full_env,
                          capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))


class ServerProcess:
    def __init__(self, tmp_path, extra_args=(), env=None):
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.log_path = tmp_path / f'server-{self.port}.log'
        full_env = dict(os.environ, DYNAMO_DB_URL=database_url())
        if not any(key.startswith('DYNAMO_SCHEDULE_') for key in env or {}):
            # a test server runs no periodic cycle unless the test configures the schedule
            full_env['DYNAMO_SCHEDULE_EMBEDDED'] = 'no'
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / 'manage.py'), 'runserver_dynamo', '--bind', f'127.0.0.1:{self.port}',
             *extra_args], stdout=open(self.log_path, 'w'), stderr=subprocess.STDOUT, env=full_env, cwd=str(ROOT))

    def get(self, path, timeout=5, headers=None):
        import json
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url + path, headers=headers or {}),
                                        timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b'null')

    def wait_online(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f'server exited with {self.proc.returncode}:\n{self.log()}')
            try:
                status, _ = self.get('/data/inventory/groups', timeout=1)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f'server not online after {timeout} s:\n{self.log()}')

    def stop(self, sig=None):
        import signal
        if self.proc.poll() is None:
            self.proc.send_signal(sig or signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.dump_stacks()
                self.proc.kill()
                self.proc.wait()
                print(f'server {self.port} did not stop within 15 s of the signal; its log:\n{self.log()[-20000:]}')
        return self.proc.returncode

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ''

    def dump_stacks(self):
        """Have the server print its threads' stacks to its log (SIGUSR1), for a test's message."""
        import signal
        if self.proc.poll() is None:
            before = len(self.log())
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(1)
            if 'Thread 0x' not in self.log()[before:]:   # not even that: say what state it is in
                try:
                    with open(f'/proc/{self.proc.pid}/status') as f:
                        status = [line for line in f if line.split(':')[0] in
                                  ('State', 'SigPnd', 'ShdPnd', 'SigBlk', 'SigIgn', 'SigCgt', 'TracerPid')]
                    with open(f'/proc/{self.proc.pid}/wchan') as f:
                        status.append(f'wchan: {f.read()}\n')
                except OSError as exc:
                    status = [f'no /proc entry: {exc}\n']
                with open(self.log_path, 'a') as log:
                    log.write(f'[test] server {self.proc.pid} printed no stacks on SIGUSR1:\n' + ''.join(status))


# an operator of target application, identified by a trusted proxy's header (servers started with
# DYNAMO_WEB_DN_HEADER=X-DN): the tests read application records and output as this user
READER_DN = '/DC=test/CN=dynamo test reader'
AS_READER = {'X-DN': READER_DN}


def make_reader():
    """Create the AS_READER user (operator on application) in the test database."""
    from accounts.services import user_grant
    user_grant(username='test-reader', dn=READER_DN, role='operator', target='application')


@pytest.fixture
def start_server(transactional_db, tmp_path):
    """Start real `runserver_dynamo` processes on the test database; stopped at teardown."""
    servers = []

    def start(*extra_args, env=None, wait=True):
        server = ServerProcess(tmp_path, extra_args, env)
        servers.append(server)
        return server.wait_online() if wait else server
    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def _no_file_catalog():
    """store.load() installs its file catalog process-wide (Block.file_source); remove it after each
    test so that pure RAM tests never reach a database through a catalog left by an earlier test."""
    from inventory.objects import Block
    yield
    Block.file_source = None


@pytest.fixture(autouse=True)
def _require_mariadb(request):
    """A MariaDB-marked test fails under CI when the suite is not on MariaDB (CI deselects it
    with -m 'not mariadb' on the SQLite pass); locally it is skipped."""
    if request.node.get_closest_marker('mariadb') is None:
        return
    from django.db import connection
    if connection.vendor != 'mysql':
        if os.environ.get('CI') == 'true':
            pytest.fail('this test needs MariaDB but the suite is not running on it')
        pytest.skip('needs MariaDB (run with DYNAMO_DB_URL=mysql://root@127.0.0.1:3306/dynamo)')
