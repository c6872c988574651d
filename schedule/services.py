"""The schedule's writes: a tick of an entry (record the outcome of its open runs from their
application records, then, when its slot has not run yet, claim the slot and submit the cycle to
the primary server as a built-in application), and manual runs. The Celery task, the embedded
scheduler and `dynamo_schedule --run-now` all call these; none of them ever runs a cycle itself
(cycles need the server's RAM image).

Claiming a slot is inserting its row: the (entry, slot) unique constraint lets exactly one
scheduler of the cluster have it, whatever runs the schedule and however many of them do.
"""
import datetime
import json
import logging
import socket

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from execution import authorization, builtins, selectors as execution_selectors
from execution.models import Application
from execution.services import applications
from execution.topology import server_paths
from schedule.models import OPEN_STATES, RunState, ScheduleRun
from schedule.selectors import outcome_of

log = logging.getLogger('dynamo.schedule')
UNSUBMITTED_GRACE = 120      # seconds a claimed run may wait for its application record


class NotSubmitted(Exception):
    """The cycle could not be submitted (no primary, unknown cycle, unreadable file)."""


def _when(unix):
    return datetime.datetime.fromtimestamp(unix, tz=datetime.timezone.utc)


def primary_server():
    """The live primary's Server row, or None."""
    servers = [s for s in execution_selectors.live_servers() if s.role == 'primary']
    return sorted(servers, key=lambda s: s.id)[-1] if servers else None


def cycle_params(entry):
    """The parameters of the entry's cycle: its file's text (Detox's names: policy, filename,
    test, comment), Detox's configured providers, and the entry's own key=value options."""
    params = {'comment': entry.comment or f'scheduled ({entry.name})'}
    if entry.file:
        try:
            with open(entry.file, encoding='utf-8') as f:
                params['policy'] = f.read()
        except OSError as exc:
            raise NotSubmitted(f'cannot read {entry.file}: {exc.strerror}') from None
        params['filename'] = entry.file
    if entry.test:
        params['test'] = True
    if entry.cycle == 'detox' and getattr(settings, 'DYNAMO_DETOX_PROVIDERS', ''):
        try:
            with open(settings.DYNAMO_DETOX_PROVIDERS, encoding='utf-8') as f:
                params['providers'] = json.load(f)
        except (OSError, ValueError) as exc:
            raise NotSubmitted(f'cannot read the Detox providers {settings.DYNAMO_DETOX_PROVIDERS}: {exc}') from None
    params.update(entry.params)
    return params


def _submit(entry, params, primary):
    user = authorization.user_for_login(settings.DYNAMO_SCHEDULE_USER)
    return applications.application_submit_builtin(
        name=entry.cycle, params=params, user=user, server_id=primary.id, hostname=primary.hostname,
        work_base=server_paths(primary.bind)[1], title=f'{builtins.get(entry.cycle).title} (schedule: {entry.name})')


def run_settle(run):
    """Bring an open run up to date with its application's record; returns the run."""
    if run.state not in OPEN_STATES:
        return run
    if run.application_id is None:
        if (timezone.now() - run.created).total_seconds() > UNSUBMITTED_GRACE:
            run.state, run.message = RunState.FAILED, 'never submitted (its scheduler stopped)'
            run.finished = timezone.now()
            run.save(update_fields=['state', 'message', 'finished'])
        return run
    app = Application.objects.filter(id=run.application_id).first()
    if app is None:
        changes = {'state': RunState.FAILED, 'message': f'application {run.application_id} is gone',
                   'finished': timezone.now()}
    else:
        changes = outcome_of(app)
        if changes['state'] == run.state:
            return run
    for key, value in changes.items():
        setattr(run, key, value)
    run.save(update_fields=list(changes))
    return run


def runs_settle(*, entry=None):
    qs = ScheduleRun.objects.filter(state__in=OPEN_STATES)
    if entry is not None:
        qs = qs.filter(entry=entry)
    return [run_settle(run) for run in qs.order_by('id')]


def _record_failure(entry, slot, *, by, manual, message):
    try:
        with transaction.atomic(using=ScheduleRun.objects.db):
            return ScheduleRun.objects.create(entry=entry.name, cycle=entry.cycle, slot=slot, manual=manual, by=by,
                                              state=RunState.FAILED, message=message, created=timezone.now(),
                                              finished=timezone.now())
    except IntegrityError:
        return None


def _claim_and_submit(entry, slot, *, by, manual, primary, params):
    try:
        with transaction.atomic(using=ScheduleRun.objects.db):
            run = ScheduleRun.objects.create(entry=entry.name, cycle=entry.cycle, slot=slot, manual=manual, by=by,
                                             created=timezone.now())
            app = _submit(entry, params, primary)
            run.application_id = app.id
            run.message = f'submitted as application {app.id} on {primary.hostname}'
            run.save(update_fields=['application_id', 'message'])
    except IntegrityError:
        return None           # another scheduler has this slot
    log.info('schedule %s: slot %s submitted as application %d (%s)', entry.name, slot.isoformat(), app.id, by,
             extra={'entry': entry.name, 'application': app.id})
    return run


def entry_tick(entry, *, by, now=None):
    """One look at `entry`: settle its open runs; if its slot at `now` has no run, no run of the
    same cycle is still open and a primary is alive, claim the slot and submit. Returns the new
    run, or None."""
    runs_settle(entry=entry.name)
    if not entry.enabled:
        return None
    now = timezone.now().timestamp() if now is None else now
    slot = _when(entry.slot(now))
    if ScheduleRun.objects.filter(entry=entry.name, slot=slot).exists():
        return None
    if ScheduleRun.objects.filter(cycle=entry.cycle, state__in=OPEN_STATES).exists():
        return None           # the previous run goes on: this slot waits for it (or is lost)
    if entry.cycle not in builtins.REGISTRY:
        known = ', '.join(sorted(builtins.REGISTRY))
        return _record_failure(entry, slot, by=by, manual=False,
                               message=f'no built-in cycle {entry.cycle!r} (known: {known})')
    primary = primary_server()
    if primary is None:
        return None           # tried again at the next tick of the slot
    try:
        params = cycle_params(entry)
    except NotSubmitted as exc:
        return _record_failure(entry, slot, by=by, manual=False, message=str(exc))
    return _claim_and_submit(entry, slot, by=by, manual=False, primary=primary, params=params)


def entry_run_now(entry, *, by):
    """Submit the entry's cycle now, outside its slots (dynamo_schedule --run-now). Raises
    NotSubmitted when it cannot be."""
    if entry.cycle not in builtins.REGISTRY:
        raise NotSubmitted(f'no built-in cycle {entry.cycle!r} (known: {", ".join(sorted(builtins.REGISTRY))})')
    if entry.disabled and entry.cycle in ('dealer', 'detox') and not entry.file:
        raise NotSubmitted(f'{entry.name}: {entry.disabled}')
    primary = primary_server()
    if primary is None:
        raise NotSubmitted('no primary server is running')
    params = cycle_params(entry)
    run = _claim_and_submit(entry, timezone.now(), by=by, manual=True, primary=primary, params=params)
    if run is None:
        raise NotSubmitted('a run was asked for at this very moment already')
    return run


def scheduler_name(kind):
    return f'{kind}@{socket.gethostname()}'
