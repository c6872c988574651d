"""The schedule's ticks against a server driven in this process: once per slot, cluster-wide, the
outcome recorded from the application record, a failed cycle recorded with its error and tried
again at its next slot, never two runs of one cycle at once; dynamo_schedule --run-now."""
import json
import threading

import pytest
from django.db import connections

from dealer.models import DealerCycle
from execution.models import Application
from schedule import services
from schedule.definition import parse_entry
from schedule.models import ScheduleRun
from tests.conftest import manage
from tests.dealer.conftest import MINIMAL_POLICY, build
from tests.execution.conftest import run_until
from tests.support import apply, load_image

pytestmark = pytest.mark.django_db(transaction=True)
T0 = 1_900_000_000.0          # a slot boundary of a 10 s interval


@pytest.fixture
def server(make_server, settings):
    apply(load_image(), builder=build)
    settings.DYNAMO_SCHEDULE_USER = 'dynamo-schedule'
    return make_server(demo=False)


@pytest.fixture
def dealer_entry(tmp_path):
    path = tmp_path / 'dealer.json'
    path.write_text(json.dumps(MINIMAL_POLICY))
    return parse_entry('dealer', f'10s {path}')


def settled(server, run):
    def done():
        run.refresh_from_db()
        services.run_settle(run)
        return run if run.state in ('done', 'failed') else None
    return run_until(server, done, timeout=60, what=f'run {run.id} ended')


def test_a_slot_runs_once_and_its_outcome_comes_from_the_application(server, dealer_entry):
    run = services.entry_tick(dealer_entry, by='test', now=T0 + 1)
    assert run is not None and run.state == 'submitted' and run.slot.timestamp() == T0
    app = Application.objects.get(id=run.application_id)
    assert (app.builtin, app.user.username, app.run_as) == ('dealer', 'dynamo-schedule', 'nobody')
    assert services.entry_tick(dealer_entry, by='test', now=T0 + 5) is None      # the slot is taken
    run = settled(server, run)
    assert run.state == 'done' and run.result['cycle'] == DealerCycle.objects.get().id
    assert run.message.startswith(f'cycle {run.result["cycle"]}: 0 of 0 proposals placed')
    # the next slot runs again
    assert services.entry_tick(dealer_entry, by='test', now=T0 + 10).slot.timestamp() == T0 + 10


def test_two_schedulers_never_run_the_same_slot_twice(server, dealer_entry):
    # given: eight schedulers looking at the same slot at once (threads with their own connections)
    runs, barrier = [], threading.Barrier(8)

    def scheduler(i):
        barrier.wait()
        try:
            runs.append(services.entry_tick(dealer_entry, by=f'scheduler{i}', now=T0 + 3))
        finally:
            connections.close_all()
    threads = [threading.Thread(target=scheduler, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then: one of them has it, one application was submitted
    assert len([r for r in runs if r is not None]) == 1
    assert ScheduleRun.objects.count() == 1 and Application.objects.filter(builtin='dealer').count() == 1


def test_a_failing_cycle_is_recorded_with_its_error_and_tried_at_its_next_slot(server, tmp_path):
    broken = tmp_path / 'broken.json'
    broken.write_text('{"partition": "Default", "plugins": {"requests": {"priority": "high"}}}')
    entry = parse_entry('dealer', f'10s {broken}')
    run = settled(server, services.entry_tick(entry, by='test', now=T0))
    assert run.state == 'failed' and run.message == 'failed: exit code 2'
    output = Application.objects.get(id=run.application_id).output
    assert 'plugins.requests: priority: expected a number' in output
    again = services.entry_tick(entry, by='test', now=T0 + 10)
    assert again is not None and again.id != run.id


def test_a_missing_file_or_an_unknown_cycle_is_recorded_as_failed(server, tmp_path):
    run = services.entry_tick(parse_entry('dealer', f'10s {tmp_path}/nope.json'), by='test', now=T0)
    assert run.state == 'failed' and run.message == f'cannot read {tmp_path}/nope.json: No such file or directory'
    run = services.entry_tick(parse_entry('fileops', '10s'), by='test', now=T0)
    assert run.state == 'failed' and run.message.startswith("no built-in cycle 'fileops' (known: ")


def test_a_slot_waits_while_the_previous_run_of_its_cycle_goes_on(server, dealer_entry):
    first = services.entry_tick(dealer_entry, by='test', now=T0)
    assert services.entry_tick(dealer_entry, by='test', now=T0 + 10) is None     # the first is still queued
    settled(server, first)
    assert services.entry_tick(dealer_entry, by='test', now=T0 + 12) is not None


def test_run_now_submits_at_once(server, tmp_path, settings):
    policy = tmp_path / 'dealer.json'
    policy.write_text(json.dumps(MINIMAL_POLICY))
    r = manage('dynamo_schedule', '--run-now', 'dealer', env={'DYNAMO_SCHEDULE_DEALER': f'1h {policy}'})
    assert r.returncode == 0, r.stderr
    run = ScheduleRun.objects.get()
    assert run.manual and r.stdout.startswith(f'dealer: submitted as application {run.application_id}')
    assert settled(server, run).state == 'done'
    r = manage('dynamo_schedule', env={'DYNAMO_SCHEDULE_DEALER': f'1h {policy}'})
    line = next(x for x in r.stdout.splitlines() if x.startswith('dealer '))
    assert ' done: cycle ' in line and str(policy) in line
    r = manage('dynamo_schedule', '--run-now', 'dealer')
    assert r.returncode != 0 and 'no policy file' in r.stderr
