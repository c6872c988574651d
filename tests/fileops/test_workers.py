"""Workers as they run in production: Celery worker processes on the `fileops` queue (a real broker,
Redis), the embedded pool of runserver_dynamo, a worker killed with SIGKILL mid-copy, a storage
server stopped mid-transfer. Copies between two XRootD servers take seconds each (third-party copy),
which leaves time to kill or stop things while they run."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from fileops.models import FileTask
from tests.conftest import ROOT, database_url, manage
from tests.fileops.conftest import adler32

pytestmark = pytest.mark.django_db(transaction=True)
DS = '/Workers/Test/RAW'
REDIS = os.environ.get('DYNAMO_TEST_REDIS', 'redis://127.0.0.1:6379/7')


def wait_for(predicate, timeout=60, what='the condition', step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'{what} not reached after {timeout} s')
        time.sleep(step)


def active_task():
    return FileTask.objects.filter(state='active').exclude(claim='').first()


def pid_of(claim):
    return int(claim.split(':')[1])


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob('*') if p.is_file())


@pytest.fixture
def two_xrootd(grid, make_xrootd_server):
    a, b = make_xrootd_server('xrootd-a'), make_xrootd_server('xrootd-b')
    grid.add_site('T2_XR_A', a)
    grid.add_site('T2_XR_B', b)
    return a, b


@pytest.fixture
def celery_workers(settings, tmp_path):
    """celery -A dynamo_site worker -Q fileops processes on the test database, with Redis db 7."""
    import redis
    try:
        redis.Redis.from_url(REDIS).flushdb()
    except redis.ConnectionError as exc:
        pytest.skip(f'no Redis at {REDIS}: {exc}')
    settings.CELERY_BROKER_URL = REDIS
    procs = []

    def start(concurrency=2):
        env = dict(os.environ, DYNAMO_DB_URL=database_url(), DYNAMO_CELERY_BROKER=REDIS)
        log = open(tmp_path / f'celery-{len(procs)}.log', 'w')
        proc = subprocess.Popen([sys.executable, '-m', 'celery', '-A', 'dynamo_site', 'worker', '-Q', 'fileops',
                                 '--concurrency', str(concurrency), '--loglevel', 'INFO', '--without-gossip',
                                 '--without-mingle', '--without-heartbeat', '-n', f'fileops{len(procs)}@%h'],
                                env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT)
        procs.append((proc, tmp_path / f'celery-{len(procs)}.log'))
        wait_for(lambda: 'ready' in (tmp_path / f'celery-{len(procs) - 1}.log').read_text(), 60, 'celery ready')
        return proc
    yield start
    for proc, _ in procs:
        proc.send_signal(signal.SIGTERM)
    for proc, _ in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_celery_workers_copy_and_a_worker_killed_mid_copy_completes_it_once(grid, two_xrootd, celery_workers):
    # given: Celery workers on the fileops queue, four files at A to copy to B
    a, b = two_xrootd
    celery_workers()
    files = grid.add_dataset(DS, {'b1': 4}, at='T2_XR_A', size=1 << 20)
    grid.transfer(DS, 'b1', 'T2_XR_B')
    # when: the updater queues them and wakes the workers; the one copying is killed mid-copy
    summary = grid.cycle()
    assert summary['queued'] == 4 and summary['woken'] == 1
    task = wait_for(active_task, 60, 'a task active in a Celery worker')
    victim = pid_of(task.claim)
    time.sleep(1.0)
    assert FileTask.objects.filter(state='active', claim=task.claim).exists(), 'the copy ended before the kill'
    os.kill(victim, signal.SIGKILL)
    # then: the message goes back to the queue, another worker process takes the tasks over
    wait_for(lambda: FileTask.objects.filter(state='done').count() == 4, 90, 'the four copies done')
    tasks = list(FileTask.objects.all())
    assert {t.claim for t in tasks} == {''} and all(t.attempts == 0 for t in tasks)
    assert sum(t.interruptions for t in tasks) >= 1
    assert 'interrupted' in ' '.join(t.reason for t in tasks)
    summary = grid.cycle()
    assert summary['applied'] == 4
    assert grid.replica(DS, 'b1', 'T2_XR_B').is_complete()
    # every file once, whole, with its checksum; nothing else (no partial file)
    assert files_under(b.root) == sorted(lfn.lstrip('/') for lfn in files)
    for lfn, data in files.items():
        assert adler32(b.path(lfn).read_bytes()) == adler32(data)


def test_a_storage_server_stopped_mid_transfer_is_retried_when_it_returns(grid, two_xrootd):
    a, b = two_xrootd
    files = grid.add_dataset(DS, {'b1': 2}, at='T2_XR_A', size=1 << 20)
    grid.transfer(DS, 'b1', 'T2_XR_B')
    grid.cycle()
    # when: B stops while the worker copies
    worker = threading.Thread(target=grid.work)
    worker.start()
    wait_for(active_task, 30, 'a copy running')
    time.sleep(0.5)
    b.stop()
    worker.join(120)
    failed = list(FileTask.objects.filter(state='failed'))
    assert failed, list(FileTask.objects.values_list('state', 'reason'))
    assert all(t.error_kind in ('connection', 'timeout', 'other') for t in failed), [t.reason for t in failed]
    # then: once B is back (and this process's XRootD client dials it again), the next passes copy them
    b.start()
    wait_for(lambda: _reachable(grid.backend, b.url), 30, 'B reachable again', step=0.5)
    grid.settle()
    assert set(FileTask.objects.values_list('state', flat=True)) == {'done'}
    assert grid.replica(DS, 'b1', 'T2_XR_B').is_complete()
    for lfn, data in files.items():
        assert b.path(lfn).read_bytes() == data


@pytest.mark.e2e
def test_runserver_runs_an_embedded_pool_that_survives_a_killed_worker(start_server, make_xrootd_server, tmp_path):
    # given: two XRootD sites and a transfer record, in the database of a real server
    from tests.support import inject, load_image
    a, b = make_xrootd_server('xrootd-a'), make_xrootd_server('xrootd-b')
    data = {f'/store/pool/file{i}.root': os.urandom(1 << 20) for i in range(3)}
    for lfn, content in data.items():
        a.plant(lfn, content)
    inject(load_image(), {
        'site': [{'name': 'T2_P_A', 'backend': a.url, 'status': 'ready'},
                 {'name': 'T2_P_B', 'backend': b.url, 'status': 'ready'}],
        'group': [{'name': 'physics'}],
        'dataset': [{'name': DS, 'blocks': [{'name': 'b1', 'files': [
            {'name': lfn, 'size': len(c), 'adler32': adler32(c)} for lfn, c in data.items()]}]}],
        'datasetreplica': [{'dataset': DS, 'site': 'T2_P_A', 'group': 'physics'},
                           {'dataset': DS, 'site': 'T2_P_B', 'group': 'physics', 'growing': False,
                            'blockreplicas': [{'block': 'b1', 'files': []}]}]})
    from transfers.services import block_transfers_record
    block_transfers_record(items=[('T2_P_B', DS, 'b1', 'physics')], origin='dealer')
    socket = str(tmp_path / 'app.sock')
    server = start_server(env={'DYNAMO_APP_SOCKET': socket, 'DYNAMO_WORK_DIR': str(tmp_path / 'work'),
                               'DYNAMO_FILEOPS_WORKERS': 'embedded', 'DYNAMO_FILEOPS_PROCESSES': '2',
                               'DYNAMO_FILEOPS_POLL': '0.2', 'DYNAMO_FILEOPS_IDLE_EXIT': '3',
                               'DYNAMO_CELERY_BROKER': ''})
    wait_for(lambda: os.path.exists(socket), 30, 'the socket')
    pool = wait_for(lambda: _children(server.proc.pid, '--pool'), 30, 'the pool')
    assert len(pool) == 1
    time.sleep(1)
    assert _children(pool[0], '--worker') == []          # no work: no worker
    # when: the updater runs (through the socket, as an operator would) and a worker is killed mid-copy
    done = manage('dynamo_fileops', '--update', env={'DYNAMO_APP_SOCKET': socket})
    assert done.returncode == 0, done.stderr + done.stdout
    assert 'queued 3' in done.stdout
    task = wait_for(active_task, 30, 'a copy running in the pool')
    workers = _children(pool[0], '--worker')
    assert len(workers) == 2 and pid_of(task.claim) in workers
    time.sleep(1.0)
    os.kill(pid_of(task.claim), signal.SIGKILL)
    # then: the pool starts a worker in its place, the copies end, the idle workers go
    wait_for(lambda: len(set(_children(pool[0], '--worker')) - set(workers)) == 1, 30, 'a worker in its place')
    wait_for(lambda: FileTask.objects.filter(state='done').count() == 3, 90, 'the copies done')
    wait_for(lambda: _children(pool[0], '--worker') == [], 30, 'the idle workers gone')
    done = manage('dynamo_fileops', '--update', env={'DYNAMO_APP_SOCKET': socket})
    assert done.returncode == 0 and 'applied 3' in done.stdout, done.stdout
    status, body = server.get(f'/data/inventory/blockreplicas?site=T2_P_B&dataset={DS}')
    assert status == 200 and body['data'][0]['replicas'][0]['complete'] is True, body
    for lfn, content in data.items():
        assert b.path(lfn).read_bytes() == content
    assert files_under(b.root) == sorted(lfn.lstrip('/') for lfn in data)
    # and the pool ends with the server
    server.stop()
    wait_for(lambda: not _children(server.proc.pid, '--pool'), 30, 'the pool gone')


def _reachable(backend, url):
    from fileops.backends import FileOpError
    try:
        backend.stat(url)
    except FileOpError:
        return False
    return True


def _children(parent, flag):
    """Pids of the dynamo_fileops processes started with `flag` by the process `parent`."""
    out = subprocess.run(['ps', '-ww', '-eo', 'pid,ppid,args'], capture_output=True, text=True).stdout
    pids = []
    for line in out.splitlines()[1:]:
        pid, ppid, args = line.split(None, 2)
        if int(ppid) == parent and 'dynamo_fileops' in args and flag in args.split():
            pids.append(int(pid))
    return sorted(pids)
