"""The embedded pool: with no Celery workers (DYNAMO_FILEOPS_WORKERS=embedded), `runserver_dynamo`
starts one supervisor process (`manage.py dynamo_fileops --pool`). While there is work (tasks queued,
a consistency check requested, tasks of a lost worker to take back) it keeps DYNAMO_FILEOPS_PROCESSES
worker processes (`manage.py dynamo_fileops --worker`) running, restarting one that dies; a worker
without work for DYNAMO_FILEOPS_IDLE_EXIT seconds ends. Storage work never runs in the server
process, which forks applications.

Every process here ends with its parent (PR_SET_PDEATHSIG), and on SIGTERM its workers finish the
operations they started and hand back the tasks they had not.
"""
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fileops.conf import conf as fileops_conf

log = logging.getLogger('dynamo.fileops')
MANAGE = str(Path(__file__).resolve().parent.parent / 'manage.py')
RESTART_DELAY = 5.0     # seconds before a worker that died young is started again


def command(*args):
    return [sys.executable, MANAGE, 'dynamo_fileops', *args, '--parent', str(os.getpid())]


class _Handle:
    def __init__(self, proc):
        self.proc = proc

    def join(self, timeout=None):
        """Stop the pool (its workers end their operations in flight) and wait for it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(stop_event):
    """The embedded service (execution.embedded): the supervisor process, or None when Celery
    workers do the work or no process is wanted."""
    cf = fileops_conf()
    if cf.workers != 'embedded' or cf.processes <= 0:
        return None
    proc = subprocess.Popen(command('--pool', '--processes', str(cf.processes)), cwd=os.path.dirname(MANAGE))
    log.info('file-operation pool started (pid %d, %d workers)', proc.pid, cf.processes)
    return _Handle(proc)


def work_waiting():
    """Is there anything for a worker to do (one cheap query per kind)?"""
    from django.db.models import Q
    from django.utils import timezone
    from fileops.models import ConsistencyReport, FileTask, ReportState, TaskState
    return (FileTask.objects.filter(Q(state=TaskState.QUEUED) |
                                    Q(state=TaskState.ACTIVE, lease_until__lt=timezone.now())).exists()
            or ConsistencyReport.objects.filter(state=ReportState.NEW).exists())


def supervise(stop, *, processes, idle_exit, worker_args=(), poll=1.0):
    """Keep up to `processes` workers running while there is work, until `stop` is set; then stop
    them and wait."""
    from django.db import close_old_connections
    children = {}
    started = {}
    while not stop.is_set():
        waiting = None
        for slot in range(processes):
            proc = children.get(slot)
            if proc is not None and proc.poll() is None:
                continue
            if proc is not None and proc.returncode:
                log.warning('file-operation worker %d (pid %d) ended with %s', slot, proc.pid, proc.returncode)
            else:             # ended idle, or never started: started when work comes
                if waiting is None:
                    waiting = work_waiting()
                if not waiting:
                    continue
            if proc is not None and time.monotonic() - started[slot] < RESTART_DELAY:
                continue
            children[slot] = subprocess.Popen(command('--worker', '--idle-exit', str(idle_exit), *worker_args),
                                              cwd=os.path.dirname(MANAGE))
            started[slot] = time.monotonic()
        close_old_connections()
        stop.wait(poll)
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in children.values():
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {slot: proc.returncode for slot, proc in children.items()}
