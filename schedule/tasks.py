"""Celery tasks of the schedule (beat sends them, settings.CELERY_BEAT_SCHEDULE): a tick of one
entry. They submit cycles to the primary server and record outcomes; they never run a cycle."""
import logging

from celery import shared_task
from django.conf import settings

from schedule import services

log = logging.getLogger('dynamo.schedule')


@shared_task(name='schedule.run_entry', ignore_result=True)
def run_entry(name):
    """One look at entry `name`: settle its open runs; run its slot if it has not run."""
    entry = settings.DYNAMO_SCHEDULE.get(name)
    if entry is None:
        log.warning('schedule: no entry %s (known: %s)', name, ', '.join(settings.DYNAMO_SCHEDULE))
        return None
    run = services.entry_tick(entry, by=services.scheduler_name('celery'))
    return None if run is None else run.id
