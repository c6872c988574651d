"""The schedule run by real processes: runserver_dynamo's embedded scheduler with no broker, and a
real `celery beat` + `celery worker` against the Redis on 127.0.0.1:6379 (database 5) submitting to
a running server; both at once never run a slot twice."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dealer.models import DealerCycle
from execution.models import Application
from schedule.models import ScheduleRun
from tests.conftest import ROOT, database_url
from tests.dealer.conftest import MINIMAL_POLICY, MUON_MINI, build
from tests.support import apply, load_image
from tests.webmodules.helpers import wait_for
from transfers import resolve, selectors, services
from transfers.models import CopyRequest

pytestmark = pytest.mark.e2e
BROKER = 'redis://127.0.0.1:6379/5'
CELERY = os.path.join(os.path.dirname(sys.executable), 'celery')


@pytest.fixture
def policy(tmp_path):
    apply(load_image(), builder=build)
    catalog = selectors.StoreCatalog()
    services.copy_request_create(user='alice', items=resolve.resolve_items(catalog, [MUON_MINI]),
                                 sites=['T2_US_A', 'T2_US_B'], site_patterns=['T2_US_*'], group='AnalysisOps',
                                 num_copies=1)
    path = tmp_path / 'dealer.json'
    path.write_text(json.dumps(MINIMAL_POLICY))
    return str(path)


def schedule_env(policy, interval, **extra):
    return dict({'DYNAMO_SCHEDULE_DEALER': f'{interval} {policy}', 'DYNAMO_SCHEDULE_DETOX': 'off',
                 'DYNAMO_SCHEDULE_TRACK_REQUESTS': f'{interval}', 'DYNAMO_SCHEDULE_TICK': '0.5'}, **extra)


def done_runs(entry):
    return list(ScheduleRun.objects.filter(entry=entry, state='done').order_by('id'))


def test_with_no_broker_the_server_runs_the_schedule_itself(start_server, policy):
    server = start_server(env=schedule_env(policy, '2s', DYNAMO_CELERY_BROKER=''))
    wait_for(lambda: done_runs('dealer') and done_runs('track_requests') and done_runs('updater'), timeout=60,
             what='scheduled cycles')
    run = done_runs('dealer')[0]
    assert run.by.startswith('embedded@') and run.result['cycle'] == DealerCycle.objects.order_by('id').first().id
    assert CopyRequest.objects.get().status == 'activated'            # the Dealer placed the request
    status, body = server.get('/data/schedule')
    assert status == 200 and body['message'] == 'run by embedded'
    entries = {e['name']: e for e in body['data']}
    assert entries['dealer']['last_outcome']['state'] == 'done' and entries['dealer']['next_run']
    assert entries['detox']['enabled'] is False and entries['detox']['next_run'] is None
    status, body = server.get('/data/schedule/runs?entry=track_requests')
    assert status == 200 and body['data'][0]['cycle'] == 'track_requests'
    # the file operations updater is a default entry: it runs with no configuration at all
    assert entries['updater']['every'] == '1m' and entries['updater']['last_outcome']['state'] == 'done'


@pytest.fixture
def redis_db():
    import redis
    client = redis.Redis.from_url(BROKER)
    client.flushdb()
    yield client
    client.flushdb()


def celery(kind, env, tmp_path):
    args = [CELERY, '-A', 'dynamo_site', kind, '--loglevel', 'INFO']
    if kind == 'beat':
        args += ['-s', str(tmp_path / 'celerybeat-schedule')]
    else:
        args += ['--pool', 'solo', '-n', f'dealertest{os.getpid()}@%h']
    log = open(tmp_path / f'celery-{kind}.log', 'w')
    return subprocess.Popen(args, cwd=str(ROOT), env=dict(os.environ, DYNAMO_DB_URL=database_url(), **env),
                            stdout=log, stderr=subprocess.STDOUT)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_celery_beat_and_a_worker_run_a_scheduled_dealer_cycle_and_never_a_slot_twice(start_server, policy,
                                                                                        redis_db, tmp_path):
    # given: a server that also runs its embedded scheduler (two schedulers), beat and a worker
    env = schedule_env(policy, '3s', DYNAMO_CELERY_BROKER=BROKER)
    server = start_server(env=dict(env, DYNAMO_SCHEDULE_EMBEDDED='yes'))
    procs = [celery('worker', env, tmp_path), celery('beat', env, tmp_path)]
    try:
        # when: a few slots pass
        wait_for(lambda: any(r.by.startswith('celery@') for r in done_runs('dealer')), timeout=90,
                 what=f'a dealer cycle run by Celery:\n{(tmp_path / "celery-worker.log").read_text()[-3000:]}')
        time.sleep(7)
    finally:
        for proc in procs:
            stop(proc)
        server.stop()      # its embedded scheduler too: nothing starts while the rows are counted
    # then: every slot ran once, one application each, one Dealer cycle per application that ended well
    runs = list(ScheduleRun.objects.filter(entry='dealer'))
    assert len({r.slot for r in runs}) == len(runs) >= 2
    assert Application.objects.filter(builtin='dealer').count() == len([r for r in runs if r.application_id])
    assert DealerCycle.objects.count() == Application.objects.filter(builtin='dealer', state='done').count()
    assert CopyRequest.objects.get().status == 'activated'
    assert 'schedule.run_entry' in (tmp_path / 'celery-worker.log').read_text()
