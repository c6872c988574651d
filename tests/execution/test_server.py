"""End to end: `runserver_dynamo` as a real process on the test database, `dynamo_inject` as a real
command, answers read over HTTP from /data/inventory/*."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from execution.models import Server
from inventory.objects import Block, BlockReplica, Dataset, DatasetReplica
from tests.conftest import ROOT, free_port, manage
from tests.support import apply, inject, load_image

pytestmark = pytest.mark.e2e

DOC = {
    'site': [{'name': 'T2_US_MIT', 'host': 'se.mit.example', 'status': 'ready'}, {'name': 'T2_DE_DESY'},
             {'name': 'T1_US_FNAL_Disk'}],
    'group': [{'name': 'AnalysisOps'}],
    'dataset': [
        {'name': '/A/B/RAW', 'status': 'valid', 'blocks': [
            {'name': 'b1', 'files': [{'name': '/store/a/b/1.root', 'size': 10}, {'name': '/store/a/b/2.root', 'size': 5}]}]},
        {'name': '/A/C/AOD', 'blocks': [{'name': 'c1', 'files': [{'name': '/store/a/c/1.root', 'size': 20}]}]},
        {'name': '/AB/X/RAW', 'blocks': [{'name': 'x1', 'files': [{'name': '/store/ab/x/1.root', 'size': 40}]}]},
    ],
    'datasetreplica': [
        {'dataset': '/A/B/RAW', 'site': 'T2_US_MIT', 'group': 'AnalysisOps'},
        {'dataset': '/A/B/RAW', 'site': 'T1_US_FNAL_Disk', 'group': 'AnalysisOps'},
        {'dataset': '/AB/X/RAW', 'site': 'T2_DE_DESY', 'group': 'AnalysisOps'},
    ],
}


def names(body):
    return [item['name'] for item in body['data']]


def get(server, path, **params):
    query = ('?' + urllib.parse.urlencode(params)) if params else ''
    return server.get(path + query)


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def write_doc(tmp_path, doc, name='doc.json'):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_injection_while_server_runs_is_visible_within_two_seconds(start_server, tmp_path):
    server = start_server()
    assert names(get(server, '/data/inventory/datasets')[1]) == []
    result = manage('dynamo_inject', write_doc(tmp_path, DOC))
    assert result.returncode == 0, result.stderr
    assert 'submitted request' in result.stderr, 'the running server must apply the injection'
    assert 'Created 3 datasets' in result.stdout
    visible = wait_for(lambda: names(get(server, '/data/inventory/datasets')[1]) == ['/A/B/RAW', '/A/C/AOD', '/AB/X/RAW'],
                       timeout=2)
    assert visible, get(server, '/data/inventory/datasets')


def test_failed_injection_while_server_runs_is_reported_and_changes_nothing(start_server, tmp_path):
    inject(load_image(), DOC)
    server = start_server()
    before = get(server, '/data/inventory/datasets')
    bad = {'site': [{'name': 'T3_NEW'}], 'datasetreplica': [{'dataset': '/No/Such/RAW', 'site': 'T2_US_MIT'}]}
    result = manage('dynamo_inject', write_doc(tmp_path, bad))
    assert result.returncode != 0
    assert 'unknown dataset /No/Such/RAW' in result.stderr and 'Traceback' not in result.stderr
    assert get(server, '/data/inventory/datasets') == before
    assert 'T3_NEW' not in names(get(server, '/data/inventory/sites')[1])
    assert 'T3_NEW' not in load_image().sites


def test_server_shows_change_sets_written_by_another_process(start_server):
    inject(load_image(), DOC)
    server = start_server()
    writer = load_image()
    apply(writer, builder=lambda inv: (inv.update(Dataset('/A/D/NEW', status='valid')),
                                       inv.update(Block('d1', '/A/D/NEW', size=7, num_files=0)),
                                       inv.update(DatasetReplica('/A/D/NEW', 'T2_DE_DESY', False, 'AnalysisOps')),
                                       inv.update(BlockReplica('/A/D/NEW#d1', 'T2_DE_DESY', 'AnalysisOps')),
                                       inv.delete(Dataset('/A/C/AOD'))))
    assert wait_for(lambda: names(get(server, '/data/inventory/datasets', dataset='/A/*')[1]) == ['/A/B/RAW', '/A/D/NEW'],
                    timeout=2)
    (desy,) = get(server, '/data/inventory/sites', site='T2_DE_DESY')[1]['data']
    assert desy['total_usage'] == 47


def test_dataset_filter_accepts_wildcards(start_server):
    inject(load_image(), DOC)
    server = start_server()
    assert names(get(server, '/data/inventory/datasets', dataset='/A/*')[1]) == ['/A/B/RAW', '/A/C/AOD']
    assert names(get(server, '/data/inventory/datasets', dataset='/A*')[1]) == ['/A/B/RAW', '/A/C/AOD', '/AB/X/RAW']
    assert names(get(server, '/data/inventory/datasets', dataset='*/RAW')[1]) == ['/A/B/RAW', '/AB/X/RAW']
    assert names(get(server, '/data/inventory/datasets', dataset='/A/B/RAW')[1]) == ['/A/B/RAW']
    assert names(get(server, '/data/inventory/datasets', dataset='/A/C/AOD,/AB/*')[1]) == ['/A/C/AOD', '/AB/X/RAW']
    assert names(get(server, '/data/inventory/datasets', dataset='/Z/*')[1]) == []


def test_site_filter_accepts_wildcards(start_server):
    inject(load_image(), DOC)
    server = start_server()
    assert names(get(server, '/data/inventory/sites', site='T2_*')[1]) == ['T2_DE_DESY', 'T2_US_MIT']
    assert names(get(server, '/data/inventory/sites', site='T1_*')[1]) == ['T1_US_FNAL_Disk']
    assert names(get(server, '/data/inventory/sites')[1]) == ['T1_US_FNAL_Disk', 'T2_DE_DESY', 'T2_US_MIT']


def test_answers_use_the_standard_envelope(start_server):
    inject(load_image(), DOC)
    server = start_server()
    status, body = get(server, '/data/inventory/datasets', dataset='/A/B/RAW')
    assert status == 200
    assert set(body) == {'result', 'message', 'data'}
    assert body['result'] == 'OK' and isinstance(body['message'], str)
    (raw,) = body['data']
    assert {k: raw[k] for k in ('name', 'size', 'num_files', 'num_blocks', 'status', 'sites')} == {
        'name': '/A/B/RAW', 'size': 15, 'num_files': 2, 'num_blocks': 1, 'status': 'valid',
        'sites': ['T1_US_FNAL_Disk', 'T2_US_MIT']}
    status, body = get(server, '/data/inventory/sites', site='T2_US_MIT')
    assert status == 200 and body['result'] == 'OK'
    (mit,) = body['data']
    assert mit['host'] == 'se.mit.example' and mit['total_usage'] == 15
    status, body = get(server, '/data/inventory/groups')
    assert status == 200 and body['result'] == 'OK' and names(body) == ['AnalysisOps']


def test_injection_without_server_is_stored_and_shown_at_next_start(start_server, tmp_path):
    result = manage('dynamo_inject', write_doc(tmp_path, DOC))
    assert result.returncode == 0, result.stderr
    assert 'submitted request' not in result.stderr
    server = start_server()
    assert names(get(server, '/data/inventory/datasets')[1]) == ['/A/B/RAW', '/A/C/AOD', '/AB/X/RAW']
    (fnal,) = get(server, '/data/inventory/sites', site='T1_US_FNAL_Disk')[1]['data']
    assert fnal['total_usage'] == 15


def test_a_server_started_with_every_signal_blocked_still_stops_on_sigterm(start_server):
    # a mask survives fork and exec: e.g. a parent that made a gfal2 context in its main thread
    blocked = signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        server = start_server()          # its process starts with this thread's mask
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    start = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0, server.log()
    assert time.monotonic() - start < 10


def test_sigterm_stops_the_server_with_exit_code_0(start_server):
    server = start_server()
    assert Server.objects.count() == 1, 'a running server is registered'
    assert server.stop(signal.SIGTERM) == 0, server.log()
    assert 'Traceback' not in server.log()
    assert Server.objects.count() == 0, 'a stopped server unregisters itself'
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url + '/data/inventory/groups', timeout=2)


def test_unreachable_database_makes_the_server_exit_with_a_one_line_error():
    result = subprocess.run(
        [sys.executable, str(ROOT / 'manage.py'), 'runserver_dynamo', '--bind', f'127.0.0.1:{free_port()}'],
        env={**os.environ, 'DYNAMO_DB_URL': 'mysql://root@127.0.0.1:1/nope'},
        capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert 'Traceback' not in result.stderr
    assert 'database' in lines[0] and '127.0.0.1:1' in lines[0]


def test_admin_login_page_answers_200(start_server):
    server = start_server()
    with urllib.request.urlopen(server.url + '/admin/login/', timeout=5) as response:
        assert response.status == 200
        page = response.read().decode()
    assert 'name="username"' in page and 'name="password"' in page
