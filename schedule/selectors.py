"""Reads of the schedule: every entry with its last run, outcome and next run; the runs."""
import datetime
import json

from django.conf import settings
from django.utils import timezone

from execution.models import FINAL_APP_STATES, Application, AppState
from schedule.models import OPEN_STATES, RunState, ScheduleRun


def _iso(t):
    return t.isoformat() if t else None


def outcome_of(app):
    """{'state', 'message', 'result', 'finished'} of a run whose cycle is application `app`
    (its state is 'submitted' while queued)."""
    if app.state in FINAL_APP_STATES:
        message = app.message or str(app.state)
        return {'state': RunState.DONE if app.state == AppState.DONE else RunState.FAILED,
                'message': message if app.state == AppState.DONE else f'{app.state}: {message}',
                'result': json.loads(app.result) if app.result else None,
                'finished': app.finished or timezone.now()}
    return {'state': RunState.RUNNING if app.state == AppState.RUN else RunState.SUBMITTED}


def run_row(run):
    """A run as shown: an open run shows its application's state (the scheduler's next tick
    records it; reading never writes)."""
    row = {'id': run.id, 'entry': run.entry, 'cycle': run.cycle, 'slot': _iso(run.slot), 'manual': run.manual,
           'by': run.by, 'state': run.state, 'application': run.application_id, 'message': run.message,
           'result': run.result, 'created': _iso(run.created), 'finished': _iso(run.finished)}
    if run.state in OPEN_STATES and run.application_id is not None:
        app = Application.objects.filter(id=run.application_id).only('state', 'message', 'finished', 'result').first()
        if app is not None:
            row.update(outcome_of(app))
            row['finished'] = _iso(row['finished']) if row.get('finished') else None
    return row


def embedded_setting():
    """DYNAMO_SCHEDULE_EMBEDDED as 'yes', 'no' or 'auto' (anything else reads as auto)."""
    mode = settings.DYNAMO_SCHEDULE_EMBEDDED
    if mode in ('yes', 'on', 'true', '1'):
        return 'yes'
    if mode in ('no', 'off', 'false', '0'):
        return 'no'
    return 'auto'


def embedded_enabled():
    """Does runserver_dynamo run the schedule (DYNAMO_SCHEDULE_EMBEDDED: auto = when no broker)?"""
    setting = embedded_setting()
    return setting == 'yes' or (setting == 'auto' and not settings.CELERY_BROKER_URL)


def mode():
    return 'embedded' if embedded_enabled() else 'celery'


def overview(now=None):
    """[{entry..., 'last_run', 'last_outcome', 'next_run'}] of every configured entry."""
    now = timezone.now().timestamp() if now is None else now
    rows = []
    for name, entry in sorted(settings.DYNAMO_SCHEDULE.items()):
        row = entry.describe()
        last = ScheduleRun.objects.filter(entry=name).order_by('-id').first()
        row['last_run'] = run_row(last) if last else None
        if row['last_run'] and row['last_run']['state'] not in OPEN_STATES:
            row['last_outcome'] = row['last_run']
        else:
            ended = ScheduleRun.objects.filter(entry=name).exclude(state__in=OPEN_STATES).order_by('-id').first()
            row['last_outcome'] = run_row(ended) if ended else None
        row['running'] = bool(row['last_run'] and row['last_run']['state'] in OPEN_STATES)
        if entry.enabled:
            slot = entry.slot(now)
            taken = last is not None and not last.manual and last.slot.timestamp() >= slot
            row['next_run'] = _iso(datetime.datetime.fromtimestamp(entry.next_slot(now) if taken else now,
                                                                   tz=datetime.timezone.utc))
        else:
            row['next_run'] = None
        rows.append(row)
    return rows


def runs(*, entry=None, state=None, limit=100):
    qs = ScheduleRun.objects.order_by('-id')
    if entry:
        qs = qs.filter(entry=entry)
    if state:
        qs = qs.filter(state=state)
    return [run_row(r) for r in qs[:limit]]
