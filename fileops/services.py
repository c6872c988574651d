"""Writes of the file-operation tables: tasks made, queued, held and cancelled (the updater), claimed,
renewed and reported (the workers), released and cancelled (operators); the storage settings of
sites; samples of the links. Each function is one transaction on the cluster's database.

Nothing here touches the inventory: the updater applies finished tasks through the write path.
"""
import json
import os
import socket
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db import connections, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from fileops.models import WAITING_STATES, ClaimLock, Executor, FileTask, LinkSample, SiteStorage, TaskState

_BATCH = 1000
_RETRIES = 8


def _db():
    return FileTask.objects.db


def retried(fn):
    """Run the transaction `fn` again when the database chose it as a deadlock's victim (or its lock
    wait timed out): workers, the updater and operators write the same rows concurrently, and InnoDB
    resolves a deadlock by rolling one of them back."""
    import functools
    import random
    import time
    from django.db import OperationalError

    @functools.wraps(fn)
    def run(*args, **kwargs):
        for attempt in range(_RETRIES):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                code = exc.args[0] if exc.args else None
                if code not in (1213, 1205) or attempt == _RETRIES - 1:
                    raise
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    return run


def new_claim():
    """A worker's claim token: host and pid (a dead local worker is found at once) and a nonce."""
    return f'{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}'


# ------------------------------------------------------------------------------ the updater's writes
@dataclass(frozen=True)
class NewTask:
    """A file task to make: a transfer of a record (`transfer_id`), a deletion of one
    (`deletion_id`), or a deletion found by a consistency check (`origin`)."""
    kind: str
    site: str
    lfn: str
    dataset: str
    block: str
    size: int
    checksum: str = ''
    transfer_id: int | None = None
    deletion_id: int | None = None
    origin: str = 'operation'


_NEW_COLUMNS = ('kind', 'site', 'lfn', 'dataset', 'block', 'size', 'checksum', 'transfer_id', 'deletion_id', 'origin',
                'state', 'source', 'pfn', 'source_pfn', 'executor', 'external_id', 'attempts', 'interruptions', 'tried',
                'claim', 'reason', 'error_kind', 'outcome', 'applied', 'created')


def tasks_create(*, tasks):
    """Insert new tasks ([NewTask]) by multi-row INSERTs of plain rows: a Dealer cycle may make
    hundreds of thousands, and a model instance each costs more than the statement. Returns how many."""
    if not tasks:
        return 0
    connection = connections[_db()]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    quote = connection.ops.quote_name
    sql = (f'INSERT INTO {quote(FileTask._meta.db_table)} ({", ".join(quote(c) for c in _NEW_COLUMNS)}) '
           f'VALUES ({", ".join(["%s"] * len(_NEW_COLUMNS))})')
    rows = [(t.kind, t.site, t.lfn, t.dataset, t.block, t.size, t.checksum, t.transfer_id, t.deletion_id, t.origin,
             TaskState.NEW.value, '', '', '', Executor.GFAL2.value, '', 0, 0, '', '', '', '', '', False, now)
            for t in tasks]
    with transaction.atomic(using=_db()), connection.cursor() as cursor:
        for start in range(0, len(rows), _BATCH):
            cursor.executemany(sql, rows[start:start + _BATCH])
    return len(rows)


@retried
def tasks_queue(*, assignments, now=None):
    """new/failed -> queued: `assignments` is [(task id, source site, executor)]."""
    now = now or timezone.now()
    groups = defaultdict(list)
    for task_id, source, executor in assignments:
        groups[(source, executor)].append(task_id)
    count = 0
    with transaction.atomic(using=_db()):
        for (source, executor), ids in groups.items():
            for start in range(0, len(ids), _BATCH):
                count += FileTask.objects.filter(id__in=ids[start:start + _BATCH],
                                                 state__in=(TaskState.NEW, TaskState.FAILED)).update(
                    state=TaskState.QUEUED, source=source, executor=executor, queued_at=now, claim='')
    return count


@retried
def tasks_hold(*, holds, now=None):
    """new/failed -> held with the reason: `holds` is [(task id, reason)]."""
    now = now or timezone.now()
    by_reason = defaultdict(list)
    for task_id, reason in holds:
        by_reason[reason[:2000]].append(task_id)
    count = 0
    with transaction.atomic(using=_db()):
        for reason, ids in by_reason.items():
            for start in range(0, len(ids), _BATCH):
                count += FileTask.objects.filter(id__in=ids[start:start + _BATCH],
                                                 state__in=(TaskState.NEW, TaskState.FAILED)).update(
                    state=TaskState.HELD, reason=reason, finished=now)
    return count


@retried
def tasks_cancel(*, ids=None, query=None, reason):
    """Tasks that wait (new, queued, failed, held) -> cancelled; an active one finishes first."""
    rows = FileTask.objects.filter(state__in=WAITING_STATES)
    if ids is not None:
        count = 0
        ids = list(ids)
        for start in range(0, len(ids), _BATCH):
            count += rows.filter(id__in=ids[start:start + _BATCH]).update(
                state=TaskState.CANCELLED, reason=reason[:2000], finished=timezone.now(), claim='')
        return count
    return rows.filter(query).update(state=TaskState.CANCELLED, reason=reason[:2000], finished=timezone.now(),
                                     claim='')


@retried
def tasks_mark_applied(*, ids):
    """Done tasks the updater has put into the inventory."""
    ids = sorted(ids)
    count = 0
    step = 5 * _BATCH
    with transaction.atomic(using=_db()):
        for start in range(0, len(ids), step):
            count += FileTask.objects.filter(id__in=ids[start:start + step]).update(applied=True)
    return count


def tasks_purge(*, before):
    """Forget tasks that ended (applied, cancelled) before `before`, and link samples as old."""
    ended = FileTask.objects.filter(finished__lt=before).filter(
        Q(state=TaskState.DONE, applied=True) | Q(state=TaskState.CANCELLED))
    count = ended.delete()[0]
    LinkSample.objects.filter(time__lt=before).delete()
    return count


def link_samples_record(*, samples):
    LinkSample.objects.bulk_create(samples, batch_size=_BATCH)


# ------------------------------------------------------------------------------ the workers' writes
@dataclass(frozen=True)
class Job:
    """A claimed task, as a worker runs it."""
    id: int
    kind: str
    site: str
    source: str
    lfn: str
    size: int
    checksum: str
    executor: str
    external_id: str


_JOB_FIELDS = ('id', 'kind', 'site', 'source', 'lfn', 'size', 'checksum', 'executor', 'external_id')


@retried
def tasks_claim(*, claim, limit, link_limit, site_limit, lease, max_interruptions, now=None, reap=True):
    """Take up to `limit` queued tasks for the worker `claim` (oldest first) as active, within
    `link_limit` active tasks per link and `site_limit` (or the site's own max_active) per site;
    returns [Job]. Claims are serialized (a row lock, or SQLite's write lock), so the limits hold
    across any number of workers. Tasks of lost workers go back to the queue first (unless `reap`
    is false: a worker claiming often reaps every few seconds only)."""
    now = now or timezone.now()
    with transaction.atomic(using=_db()):
        ClaimLock.objects.select_for_update().get_or_create(id=1)
        if reap:
            _reap(now, max_interruptions)
        links, sites = Counter(), Counter()
        for source, site, n in (FileTask.objects.filter(state=TaskState.ACTIVE).values_list('source', 'site')
                                .annotate(n=Count('id')).order_by()):
            links[(source, site)] += n
            sites[site] += n
            if source:
                sites[source] += n
        own = dict(SiteStorage.objects.exclude(max_active=None).values_list('site', 'max_active'))
        taken = []
        scanned = 0
        last_id = 0
        while len(taken) < limit and scanned < 20 * limit:
            chunk = list(FileTask.objects.filter(state=TaskState.QUEUED, id__gt=last_id).order_by('id')
                         .values_list(*_JOB_FIELDS)[:max(limit * 4, 100)])
            if not chunk:
                break
            scanned += len(chunk)
            last_id = chunk[-1][0]
            for row in chunk:
                job = Job(*row)
                ends = [job.site] + ([job.source] if job.source else [])
                if links[(job.source, job.site)] >= link_limit:
                    continue
                if any(sites[s] >= own.get(s, site_limit) for s in ends):
                    continue
                links[(job.source, job.site)] += 1
                for s in ends:
                    sites[s] += 1
                taken.append(job)
                if len(taken) == limit:
                    break
        until = now + timezone.timedelta(seconds=lease)
        ids = [j.id for j in taken]
        for start in range(0, len(ids), _BATCH):
            FileTask.objects.filter(id__in=ids[start:start + _BATCH]).update(
                state=TaskState.ACTIVE, claim=claim, lease_until=until, started=now)
    return taken


@retried
def tasks_reap(*, max_interruptions, now=None):
    """Tasks of lost workers back to the queue (the updater's pass does it too: workers that all died
    leave nobody else to)."""
    with transaction.atomic(using=_db()):
        ClaimLock.objects.select_for_update().get_or_create(id=1)
        return _reap(now or timezone.now(), max_interruptions)


def _reap(now, max_interruptions):
    """Active tasks whose worker is gone (lease expired, or a dead process on this host) go back to
    the queue; a task that lost its worker `max_interruptions` times is held."""
    lost = set(FileTask.objects.filter(state=TaskState.ACTIVE, lease_until__lt=now)
               .values_list('claim', flat=True).distinct())
    host = socket.gethostname()
    for claim in FileTask.objects.filter(state=TaskState.ACTIVE, claim__startswith=f'{host}:') \
            .values_list('claim', flat=True).distinct():
        if claim not in lost and not _alive(claim):
            lost.add(claim)
    count = 0
    for claim in lost:
        rows = FileTask.objects.filter(state=TaskState.ACTIVE, claim=claim)
        reason = f'interrupted: its worker {claim} was lost'
        count += rows.filter(interruptions__gte=max_interruptions - 1).update(
            state=TaskState.HELD, reason=f'{reason} ({max_interruptions} times)', finished=now, claim='')
        count += rows.update(state=TaskState.QUEUED, claim='', interruptions=F('interruptions') + 1, reason=reason,
                             lease_until=None)
    return count


def _alive(claim):
    try:
        pid = int(claim.split(':')[1])
    except (IndexError, ValueError):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


@retried
def tasks_heartbeat(*, claim, lease):
    """Renew the lease of the worker's active tasks; returns how many it still holds."""
    return FileTask.objects.filter(state=TaskState.ACTIVE, claim=claim).update(
        lease_until=timezone.now() + timezone.timedelta(seconds=lease))


@retried
def tasks_set_external(*, claim, ids, external_id):
    """The FTS3 job that now carries these tasks (so that a worker taking them over polls it)."""
    return FileTask.objects.filter(state=TaskState.ACTIVE, claim=claim, id__in=list(ids)).update(
        external_id=external_id)


@dataclass(frozen=True)
class Result:
    """What a worker learned of one job."""
    id: int
    ok: bool
    outcome: str = ''
    seconds: float = 0.0
    pfn: str = ''
    source_pfn: str = ''
    error_kind: str = ''
    reason: str = ''
    retryable: bool = True
    source_bad: bool = False     # the source's copy is bad (not worth trying from it again)


@retried
def tasks_report(*, claim, results, backoff, now=None):
    """Record results of the worker `claim`: done, or failed (retry_at after the backoff for a
    retryable error, at once for another). A task the worker no longer holds (its lease expired and
    another worker took it) is left alone, so that nothing is counted twice; returns how many
    were recorded."""
    now = now or timezone.now()
    held = FileTask.objects.filter(claim=claim, state=TaskState.ACTIVE)
    recorded = 0
    with transaction.atomic(using=_db()):
        # successes, most of them: the columns they share in one statement per outcome, the
        # measured ones (seconds, PFNs) in small CASE statements (their cost grows with rows x rows)
        by_outcome = defaultdict(list)
        for r in results:
            if r.ok:
                by_outcome[r.outcome].append(r)
        for outcome, done in by_outcome.items():
            held.bulk_update([FileTask(id=r.id, seconds=r.seconds, pfn=r.pfn, source_pfn=r.source_pfn) for r in done],
                             ['seconds', 'pfn', 'source_pfn'], batch_size=100)
            ids = [r.id for r in done]
            for start in range(0, len(ids), _BATCH):
                recorded += held.filter(id__in=ids[start:start + _BATCH]).update(
                    state=TaskState.DONE, outcome=outcome, error_kind='', finished=now, claim='', lease_until=None)
        failed = {r.id: r for r in results if not r.ok}
        if failed:
            recorded += _report_failures(held, failed, backoff, now)
    return recorded


def _report_failures(held, failed, backoff, now):
    tasks = list(held.select_for_update().filter(id__in=list(failed)).only('id', 'source', 'attempts', 'tried'))
    for task in tasks:
        r = failed[task.id]
        task.pfn, task.source_pfn, task.seconds, task.finished = r.pfn, r.source_pfn, r.seconds, now
        task.claim, task.lease_until = '', None
        task.state = TaskState.FAILED
        task.attempts += 1
        task.error_kind, task.reason, task.outcome = r.error_kind, r.reason[:2000], ''
        if task.source:
            tried = json.loads(task.tried or '{}')
            failures, _ = tried.get(task.source, (0, True))
            tried[task.source] = [failures + 1, not r.source_bad]
            task.tried = json.dumps(tried, sort_keys=True)
        wait = backoff(task.attempts) if r.retryable else 0
        task.retry_at = now + timezone.timedelta(seconds=wait)
        if not r.retryable and not r.source_bad:
            task.error_kind = task.error_kind or 'other'
            task.tried = _mark_final(task.tried)
    FileTask.objects.bulk_update(tasks, ['state', 'outcome', 'seconds', 'pfn', 'source_pfn', 'finished', 'claim',
                                         'lease_until', 'attempts', 'error_kind', 'reason', 'tried', 'retry_at'],
                                 batch_size=100)
    return len(tasks)


_FINAL = '!final'


def _mark_final(tried_json):
    """A failure that no other source or later attempt can mend (the destination refuses): the
    updater holds the task."""
    tried = json.loads(tried_json or '{}')
    tried[_FINAL] = [1, False]
    return json.dumps(tried, sort_keys=True)


def read_tried(tried_json):
    """{source: (failures, retryable)} and whether the failure is final for the task."""
    tried = json.loads(tried_json or '{}')
    final = tried.pop(_FINAL, None) is not None
    return {site: (int(n), bool(ok)) for site, (n, ok) in tried.items()}, final


@retried
def tasks_release_claim(*, claim, ids=None):
    """Claimed tasks a stopping worker did not start (all it holds without `ids`): back to the
    queue, nothing counted."""
    if ids is None:
        return FileTask.objects.filter(state=TaskState.ACTIVE, claim=claim).update(
            state=TaskState.QUEUED, claim='', lease_until=None)
    ids = list(ids)
    count = 0
    for start in range(0, len(ids), _BATCH):
        count += FileTask.objects.filter(state=TaskState.ACTIVE, claim=claim, id__in=ids[start:start + _BATCH]) \
            .update(state=TaskState.QUEUED, claim='', lease_until=None)
    return count


# ------------------------------------------------------------------------------ operators
@retried
def tasks_release(*, query):
    """Held (and failed) tasks matching `query` -> new, their attempts and sources forgotten: the
    updater chooses a source again. Their records, if they had failed, become active again."""
    from transfers.models import BlockDeletion, BlockTransfer, OperationState
    with transaction.atomic(using=_db()):
        rows = FileTask.objects.filter(query).filter(state__in=(TaskState.HELD, TaskState.FAILED))
        transfers = set(rows.exclude(transfer=None).values_list('transfer_id', flat=True))
        deletions = set(rows.exclude(deletion=None).values_list('deletion_id', flat=True))
        count = rows.update(state=TaskState.NEW, attempts=0, interruptions=0, tried='', retry_at=None, reason='',
                            error_kind='', finished=None, source='')
        now = timezone.now()
        for model, ids in ((BlockTransfer, transfers), (BlockDeletion, deletions)):
            if ids:
                model.objects.filter(id__in=ids, state=OperationState.FAILED).update(
                    state=OperationState.ACTIVE, updated=now)
    return count


def site_storage_set(*, site, executor=None, fts_endpoint=None, x509_proxy=None, max_active=None,
                     lfn_roots=None, clear_max_active=False):
    """Create or change the file-operation settings of a site; returns the row."""
    with transaction.atomic(using=SiteStorage.objects.db):
        row, _ = SiteStorage.objects.select_for_update().get_or_create(site=site)
        if executor is not None:
            row.executor = Executor(executor)
        if fts_endpoint is not None:
            row.fts_endpoint = fts_endpoint
        if x509_proxy is not None:
            row.x509_proxy = x509_proxy
        if max_active is not None or clear_max_active:
            row.max_active = max_active
        if lfn_roots is not None:
            row.lfn_roots = lfn_roots
        if row.executor == Executor.FTS3 and not row.fts_endpoint:
            raise ValueError(f'site {site}: the fts3 executor needs an FTS3 endpoint (--fts URL)')
        row.save()
    return row


# ------------------------------------------------------------------------------ transfer and deletion records
@retried
def operations_set_state(*, model, ids, state, reason=None, now=None):
    """Move BlockTransfer or BlockDeletion records (the updater's view of their progress)."""
    now = now or timezone.now()
    ids = list(ids)
    fields = {'state': state, 'updated': now}
    if reason is not None:
        fields['reason'] = reason[:255]
    count = 0
    with transaction.atomic(using=model.objects.db):
        for start in range(0, len(ids), _BATCH):
            count += model.objects.filter(id__in=ids[start:start + _BATCH]).update(**fields)
    return count


# ------------------------------------------------------------------------------ a site's storage in the inventory
def mapping_from_document(doc):
    """A filename mapping from its JSON document, checked as injection checks a site's (ValueError)."""
    from inventory.injection import filename_mapping
    from inventory.objects import ObjectError
    try:
        return filename_mapping(doc)
    except ObjectError as exc:
        raise ValueError(str(exc)) from None


def site_inventory_storage_set(*, site, backend=None, filename_mapping=None, origin, timeout=120):
    """Change a site's `backend` and/or `filename_mapping` in the inventory through the write path:
    queued for the live primary, or, with no server running, applied here. Returns the change set's
    (seq, number of changes)."""
    from execution.models import RequestState
    from execution.selectors import live_servers
    from execution.services import requests
    from inventory import services as inventory_services
    from inventory import store
    from inventory.models import Site as SiteRow
    from inventory.objects import ObjectError, Site, to_dict
    row = SiteRow.objects.filter(name=site).first()
    if row is None:
        raise ObjectError(f'Unknown site {site}')
    obj = Site(row.name, row.host, row.storage_type, row.backend if backend is None else backend, row.status,
               json.loads(row.filename_mapping or '{}') if filename_mapping is None else filename_mapping,
               row.x509proxy)
    operations = [['u', to_dict(obj)]]
    if any(s.role == 'primary' for s in live_servers()):
        request = requests.request_submit(kind='changes', origin=origin, payload=json.dumps(operations))
        request = requests.request_wait(request_id=request.id, timeout=timeout)
        if request.state == RequestState.FAILED:
            raise ObjectError(request.message)
        if request.state != RequestState.APPLIED:
            raise ObjectError(f'request {request.id} still {request.state} after {timeout} s (the server applies it later)')
        return request.seq, json.loads(request.result or '{}').get('num_changes', 0)
    inventory, seq = store.load()
    inventory.seq = seq
    applied = inventory_services.apply_changeset(inventory=inventory, origin=origin, operations=operations)
    return applied.seq, applied.num_changes


# ------------------------------------------------------------------------------ Celery workers
def workers_wake(*, task, args_list):
    """Send the Celery task `task` once per item of `args_list` (queue `fileops`) through the broker
    of the settings as they are now; returns how many were sent (0 when the broker cannot be had:
    the work waits, nothing fails)."""
    import logging
    from django.conf import settings
    from dynamo_site.celery import app
    try:
        with app.connection_for_write(getattr(settings, 'CELERY_BROKER_URL', '') or None) as conn:
            for args in args_list:
                app.send_task(task, args=list(args), queue='fileops', connection=conn)
    except Exception as exc:   # noqa: BLE001 - a broker down delays the work, it must not fail the caller
        logging.getLogger('dynamo.fileops').warning('could not send %s to the Celery workers: %s', task, exc)
        return 0
    return len(args_list)
