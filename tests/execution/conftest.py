"""Factory fixtures of the execution tests: a server driven one turn() at a time in this process
(no subprocess, no HTTP, no socket), applications queued on it, server rows of other servers."""
import gc
import os
import pwd
import socket
import textwrap
import time

import pytest
from django.utils import timezone

from tests.support import demo_doc, inject, load_image

LOGIN = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def make_server(transactional_db, tmp_path, settings):
    """make_server(demo=True, max_readers=8) -> a started DynamoServer (serve=False) on the test
    database; drive it with .turn() or run_until(server, predicate)."""
    from execution.runtime import RUNTIME
    from execution.server import DynamoServer
    from execution.topology import TOPOLOGY
    made = []

    def make(demo=True, max_readers=8):
        if demo:
            inject(load_image(), demo_doc())
        settings.DYNAMO_WORK_DIR = str(tmp_path / 'work')
        settings.DYNAMO_APP_SOCKET = str(tmp_path / 'app.sock')
        settings.DYNAMO_MAX_READONLY_APPS = max_readers
        server = DynamoServer(bind='127.0.0.1:1', heartbeat_interval=0.5)
        assert server.start(serve=False)
        made.append(server)
        return server
    yield make
    for server in made:
        server.scheduler.shutdown()
        server.shutdown()
    RUNTIME.inventory = None
    RUNTIME.executor_active = False
    TOPOLOGY.server_id = None
    gc.unfreeze()


def run_until(server, predicate, timeout=30, what='the condition'):
    """Turn the server until predicate() is true; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        server.turn()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'{what} not reached after {timeout} s')
        time.sleep(0.01)


@pytest.fixture
def make_application(tmp_path):
    """make_application(server, body, args='', write=False, title='T', authorize=False) -> Application
    queued on `server` by this test's user, the script written from `body`."""
    from execution import authorization
    from execution.services import applications
    counter = [0]

    def make(server, body, args='', write=False, title='DynamoExecutable', authorize=False, timeout=None,
             run_as='nobody'):
        counter[0] += 1
        script = textwrap.dedent(body).encode()
        path = tmp_path / f'script{counter[0]}.py'
        path.write_bytes(script)
        if authorize:
            authorization.authorize(path=str(path), title=title, users=[LOGIN])
        user = authorization.user_for_login(LOGIN)
        return applications.application_submit(
            user=user, server_id=server.record.id, hostname=server.record.hostname, work_base=server.work_base,
            run_as=run_as, script=script, title=title, script_path=str(path), args=args, write=write,
            timeout=timeout)
    return make


@pytest.fixture
def make_server_row(transactional_db):
    """make_server_row(pid=..., heartbeat_age=0, hostname=this host, role='primary') -> a Server row
    standing for another server process."""
    from execution.models import Server, ServerState

    def make(*, pid=None, heartbeat_age=0., hostname=None, role='primary', state=ServerState.ONLINE):
        now = timezone.now()
        return Server.objects.create(hostname=hostname or socket.getfqdn(), pid=pid or os.getpid(), bind='',
                                     role=role, state=state, started=now,
                                     heartbeat=now - timezone.timedelta(seconds=heartbeat_age))
    return make


def dead_pid():
    """A pid that no process has (a child that already exited and was reaped)."""
    import subprocess
    child = subprocess.Popen(['true'])
    child.wait()
    return child.pid
