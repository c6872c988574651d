"""The worker: claims batches of queued tasks, carries them out on storage with a pool of threads
(gfal2) or through FTS3, and reports what happened. The same code serves a Celery task (one batch
per message) and the processes of the embedded pool (batches one after another until stopped).

A worker writes only task rows, through fileops.services; its claim has a lease it renews while it
runs, so that a worker killed mid-task loses its tasks to the queue instead of keeping them. It never
touches the inventory: the updater applies what the workers report.
"""
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass

from django.db import DatabaseError, close_old_connections, connection

from fileops import services
from fileops.conf import conf as fileops_conf
from fileops.executors import Fts3Executor, Gfal2Executor, SiteDirectory
from fileops.models import Executor

log = logging.getLogger('dynamo.fileops')
REPORT_EVERY = 0.2       # seconds between reports of finished tasks
REPORT_BATCH = 200
CHECK_EVERY = 5.0        # seconds between looks for a requested consistency check
REAP_EVERY = 2.0         # seconds between the looks of a claiming worker for tasks of lost workers


@dataclass
class Counts:
    claimed: int = 0
    done: int = 0
    failed: int = 0
    lost: int = 0                          # results the worker no longer held the task for
    claim_seconds: float = 0.0             # in claims (the task layer's own cost, with reports)
    report_seconds: float = 0.0
    copy_seconds: float = 0.0              # in storage operations, summed over the threads

    def as_dict(self):
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in self.__dict__.items()}


class Worker:
    """One worker process's engine. `backend` is a Gfal2Backend (made here by default)."""

    def __init__(self, *, threads=None, batch=None, lease=None, backend=None, cf=None):
        self.cf = cf or fileops_conf()
        self.threads = threads or self.cf.threads
        self.batch = batch or self.cf.batch
        self.lease = lease or self.cf.lease
        self.claim = services.new_claim()
        self.sites = SiteDirectory()
        if backend is None:
            from fileops.backends.gfal import Gfal2Backend
            backend = Gfal2Backend(ca_dir=self.cf.ca_dir or None, x509_proxy=os.environ.get('X509_USER_PROXY'))
        self.gfal = Gfal2Executor(backend, self.sites, stream_below=self.cf.stream_below)
        self.jobs = queue.Queue()          # claimed gfal2 jobs not started yet
        self.results = queue.Queue()
        self.counts = Counts()
        self._threads = []
        self._inflight = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stopping = False
        self._next_reap = 0.0
        self._fts = {}

    # ---------------------------------------------------------------- claiming and running
    def claim_batch(self, limit=None):
        started = time.monotonic()
        reap = started >= self._next_reap
        jobs = services.tasks_claim(claim=self.claim, limit=limit or self.batch, link_limit=self.cf.link_active,
                                    site_limit=self.cf.site_active, lease=self.lease,
                                    max_interruptions=self.cf.max_attempts, reap=reap)
        if reap:
            self._next_reap = started + REAP_EVERY
        self.counts.claim_seconds += time.monotonic() - started
        self.counts.claimed += len(jobs)
        return jobs

    def start(self, jobs, stop):
        """Hand claimed jobs to the threads (gfal2) or to one thread per FTS3 endpoint."""
        fts_groups = {}
        for job in jobs:
            if job.executor == Executor.FTS3:
                storage = self.sites.storage(job.site)
                fts_groups.setdefault((storage.fts_endpoint if storage else '', storage.x509_proxy if storage else '',
                                       job.kind), []).append(job)
            else:
                self.jobs.put(job)
        self._begin(len(jobs))
        while len(self._threads) < min(self.threads, self.inflight):
            thread = threading.Thread(target=self._copier, name=f'fileops-{len(self._threads)}', daemon=True)
            thread.start()
            self._threads.append(thread)
        for (endpoint, proxy, _), group in fts_groups.items():
            threading.Thread(target=self._run_fts, args=(endpoint, proxy, group, stop), daemon=True,
                             name='fileops-fts3').start()

    def _begin(self, n):
        with self._lock:
            self._inflight += n

    def _end(self, n):
        with self._lock:
            self._inflight -= n
            self._idle.notify_all()

    @property
    def inflight(self):
        """Jobs claimed and not reported yet (their tasks are still active in the database)."""
        with self._lock:
            return self._inflight

    def _copier(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                self.results.put(self.gfal(job))
            except Exception as exc:   # noqa: BLE001 - a bug must fail the task, not the thread
                log.exception('task %d failed unexpectedly', job.id)
                self.results.put(services.Result(job.id, False, error_kind='other', reason=f'worker error: {exc}'))

    def _run_fts(self, endpoint, proxy, jobs, stop):
        delivered = set()

        def deliver(result):
            delivered.add(result.id)
            self.results.put(result)
        try:
            self._fts_executor(endpoint, proxy).run(jobs, deliver, stop)
        except Exception as exc:   # noqa: BLE001
            log.exception('FTS3 jobs at %s failed unexpectedly', endpoint)
            for job in jobs:
                if job.id not in delivered:
                    deliver(services.Result(job.id, False, error_kind='other', reason=f'worker error: {exc}'))
        finally:
            connection.close()
            # jobs left when stopping: their tasks go back to the queue with their FTS3 job (serve)
            self._end(len(jobs) - len(delivered))

    def _fts_executor(self, endpoint, proxy):
        key = (endpoint, proxy)
        if key not in self._fts:
            from fileops.backends.fts3 import Fts3Backend
            fts = Fts3Backend(endpoint=endpoint, x509_proxy=proxy or None, ca_dir=self.cf.ca_dir or None)
            self._fts[key] = Fts3Executor(
                fts=fts, gfal=self.gfal, sites=self.sites, poll=self.cf.fts_poll,
                record_job=lambda ids, job_id: services.tasks_set_external(claim=self.claim, ids=ids,
                                                                            external_id=job_id))
        return self._fts[key]

    # ---------------------------------------------------------------- reporting
    def report(self):
        """Record the results finished so far; returns how many."""
        results = []
        while len(results) < REPORT_BATCH * 5:
            try:
                results.append(self.results.get_nowait())
            except queue.Empty:
                break
        if not results:
            return 0
        started = time.monotonic()
        try:
            recorded = services.tasks_report(claim=self.claim, results=results, backoff=self.cf.backoff)
        except DatabaseError:
            # the database is away: the results wait for the next report (the lease may run out
            # meanwhile; a task taken over is then reported by its new worker, not twice)
            log.exception('could not report %d results; trying again', len(results))
            for r in results:
                self.results.put(r)
            close_old_connections()
            return 0
        self._end(len(results))
        self.counts.report_seconds += time.monotonic() - started
        for r in results:
            self.counts.copy_seconds += r.seconds
            if r.ok:
                self.counts.done += 1
            else:
                self.counts.failed += 1
        self.counts.lost += len(results) - recorded
        if len(results) > recorded:
            log.warning('%d results came after their tasks were taken from this worker', len(results) - recorded)
        return len(results)

    def heartbeat(self):
        try:
            services.tasks_heartbeat(claim=self.claim, lease=self.lease)
        except DatabaseError:
            log.exception('could not renew the lease of %s', self.claim)
            close_old_connections()

    # ---------------------------------------------------------------- the two ways of running
    def run_batch(self, stop=None):
        """Claim one batch, carry it out, report it (a Celery message's work); returns how many
        tasks were claimed."""
        stop = stop or threading.Event()
        jobs = self.claim_batch()
        if not jobs:
            return 0
        self.start(jobs, stop)
        beat = time.monotonic()
        while True:
            with self._lock:
                if self._inflight:
                    self._idle.wait(REPORT_EVERY)
                done = not self._inflight
            self.report()
            if time.monotonic() - beat > self.lease / 3:
                self.heartbeat()
                beat = time.monotonic()
            if done:
                return len(jobs)

    def serve(self, stop, *, poll=None, once=False, checks=True, idle_exit=None):
        """Claim and run batches until `stop` is set (with `once`: until the queue is empty; with
        `idle_exit`: until it has had nothing to do for that many seconds). Keeps a batch (at least
        twice its threads) in hand so that no thread waits for the next claim."""
        poll = self.cf.poll if poll is None else poll
        busy = time.monotonic()
        bookkeeper = threading.Thread(target=self._bookkeep, args=(stop,), name='fileops-report', daemon=True)
        bookkeeper.start()
        checker, next_check = None, 0.0
        try:
            while not stop.is_set():
                if checks and time.monotonic() >= next_check and (checker is None or not checker.is_alive()):
                    checker = self._start_check()
                    next_check = time.monotonic() + CHECK_EVERY
                room = max(self.batch, 2 * self.threads) - self.inflight
                try:
                    jobs = self.claim_batch(min(self.batch, room)) if room >= max(1, self.threads // 2) else []
                except DatabaseError:
                    log.exception('could not claim tasks; trying again')
                    close_old_connections()
                    stop.wait(poll)
                    continue
                if jobs:
                    self.start(jobs, stop)
                    busy = time.monotonic()
                    continue
                if self.inflight or (checker is not None and checker.is_alive()):
                    busy = time.monotonic()
                elif once or (idle_exit is not None and time.monotonic() - busy > idle_exit):
                    break
                with self._lock:
                    self._idle.wait(0.05 if self._inflight else poll)
                close_old_connections()
        finally:
            self._drain(stop)
            self._stopping = True
            bookkeeper.join()
            # FTS3 jobs still running: back to the queue, their job ids kept for the next worker
            services.tasks_release_claim(claim=self.claim)
        return self.counts

    def _start_check(self):
        """A requested consistency check, run beside the transfers in a thread of its own."""
        from fileops import consistency
        report = consistency.claim_next(self.claim)
        if report is None:
            return None

        def check():
            try:
                consistency.run_check(report, backend=self.gfal.backend)
            except Exception:   # noqa: BLE001 - recorded as failed, the worker goes on
                log.exception('consistency check %d failed', report.id)
                consistency.fail(report, 'the check broke: see the worker\'s log')
            finally:
                connection.close()
        thread = threading.Thread(target=check, name='fileops-consistency', daemon=True)
        thread.start()
        return thread

    def _bookkeep(self, stop):
        beat = time.monotonic()
        try:
            while True:
                stopping = self._stopping
                self.report()
                if time.monotonic() - beat > self.lease / 3:
                    self.heartbeat()
                    beat = time.monotonic()
                if stopping and self.results.empty():
                    return
                time.sleep(REPORT_EVERY)
        finally:
            connection.close()

    def _drain(self, stop):
        """On the way out: tasks not started go back to the queue, running ones end first."""
        waiting = []
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            waiting.append(job)
        if waiting:
            services.tasks_release_claim(claim=self.claim, ids=[j.id for j in waiting])
            self._end(len(waiting))
        with self._lock:
            while self._inflight:
                self._idle.wait(1.0)
        for _ in self._threads:
            self.jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []
