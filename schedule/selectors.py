"""Reads of the schedule: every entry with its last run, outcome and next run; the runs."""
import datetime

from django.conf import settings
from django.utils import timezone

from schedule.models import OPEN_STATES, ScheduleRun


def _iso(t):
    return t.isoformat() if t else None


def run_row(run):
    return {'id': run.id, 'entry': run.entry, 'cycle': run.cycle, 'slot': _iso(run.slot), 'manual': run.manual,
            'by': run.by, 'state': run.state, 'application': run.application_id, 'message': run.message,
            'result': run.result, 'created': _iso(run.created), 'finished': _iso(run.finished)}


def mode():
    from schedule.embedded import enabled
    return 'embedded' if enabled() else 'celery'


def overview(now=None):
    """[{entry..., 'last_run', 'last_outcome', 'next_run'}] of every configured entry."""
    now = timezone.now().timestamp() if now is None else now
    rows = []
    for name, entry in sorted(settings.DYNAMO_SCHEDULE.items()):
        row = entry.describe()
        last = ScheduleRun.objects.filter(entry=name).order_by('-id').first()
        ended = ScheduleRun.objects.filter(entry=name).exclude(state__in=OPEN_STATES).order_by('-id').first()
        row['last_run'] = run_row(last) if last else None
        row['last_outcome'] = run_row(ended) if ended else None
        row['running'] = bool(last and last.state in OPEN_STATES)
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
