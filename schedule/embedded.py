"""The embedded scheduler: with no broker, runserver_dynamo runs the schedule itself in a thread
(execution/embedded.py), every DYNAMO_SCHEDULE_TICK seconds the same tick as the Celery task.
The primary ticks (secondaries wait to become it); slots are claimed in the database, so each
runs once even when Celery beat runs too."""
import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connections

from execution.topology import TOPOLOGY
from schedule import services
from schedule.selectors import embedded_enabled as enabled
from schedule.selectors import embedded_setting

log = logging.getLogger('dynamo.schedule')


def tick(by):
    """One look at every entry; returns the runs submitted."""
    submitted = []
    for entry in settings.DYNAMO_SCHEDULE.values():
        try:
            run = services.entry_tick(entry, by=by)
        except Exception:   # noqa: BLE001 - one broken entry must not stop the others
            log.exception('schedule %s: the tick failed', entry.name)
            continue
        if run is not None:
            submitted.append(run)
    return submitted


def _loop(stop_event):
    by = services.scheduler_name('embedded')
    log.info('embedded scheduler: %s', ', '.join(f'{e.name} every {e.describe()["every"]}'
                                                for e in settings.DYNAMO_SCHEDULE.values() if e.enabled) or 'nothing')
    while not stop_event.is_set():
        close_old_connections()
        try:
            # a secondary leaves it to the primary: the work area of a cycle is made on the host
            # that submits it (a secondary that takes over starts ticking)
            if not TOPOLOGY.is_secondary and tick(by):
                from execution.runtime import RUNTIME
                if RUNTIME.wake is not None:
                    RUNTIME.wake.set()
        except Exception:   # noqa: BLE001 - e.g. the database is away: try again at the next tick
            log.exception('embedded scheduler: tick failed')
        stop_event.wait(settings.DYNAMO_SCHEDULE_TICK)
    connections.close_all()


def start(stop_event):
    """execution.embedded's start(stop_event) -> handle (a thread), or None when Celery runs it."""
    if not enabled():
        why = 'DYNAMO_SCHEDULE_EMBEDDED is off' if embedded_setting() == 'no' else 'DYNAMO_CELERY_BROKER is set'
        log.info('schedule: not run by this server (%s): Celery beat runs it, or nothing', why)
        return None
    thread = threading.Thread(target=_loop, args=(stop_event,), name='schedule', daemon=True)
    thread.start()
    return thread
