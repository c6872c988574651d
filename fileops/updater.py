"""The updater: a built-in cycle (`updater`, every minute on the schedule) that makes the inventory
follow storage and storage follow the decisions. One pass, in the server under the writer lease:

1. finished tasks go into the inventory as one change set (files added to or removed from block
   replicas; a null-owned replica whose files are all gone leaves, its dataset replica with the last);
2. transfer and deletion records close (done, cancelled, failed) from what the image shows;
3. new records become one task per file to move;
4. new and failed tasks get a source (transfers) and are queued, or are held;
5. consistency reports that were compared act (fileops.consistency), links are sampled, old tasks
   forgotten, and Celery workers woken when they are the executors.

It all happens in the commit, which has the image and the write path: the run in the forked
application has nothing to compute that the commit would not have to check again against the
image of its own moment.
"""
import json
import logging
import math
import time
from collections import Counter, defaultdict

from django.db.models import Count, Q, Sum
from django.utils import timezone

from fileops import consistency, services
from fileops.conf import conf as fileops_conf
from fileops.models import FileTask, LinkSample, SiteStorage, TaskKind, TaskState
from fileops.pfn import PfnError, resolve_pfn
from fileops.planning import (StoredFile, Tried, choose_source, find_block_replica, held_files, missing_files,
                              source_replicas, with_files)
from transfers.models import BlockDeletion, BlockTransfer, OperationState

log = logging.getLogger('dynamo.fileops')
NAME = 'updater'
_CHUNK = 1000
# tasks whose file may still be (transfer) or stop being (deletion) at the site: a new task for the
# same file would do the work twice
_PENDING = Q(state__in=(TaskState.NEW, TaskState.QUEUED, TaskState.ACTIVE, TaskState.FAILED, TaskState.HELD)) | \
    Q(state=TaskState.DONE, applied=False)


def run(inventory, params):
    return {'params': params}


def commit(result, context):
    return update(context, params=(result or {}).get('params') or {})


def update(context, *, params=None, now=None):
    """One pass of the updater; returns its summary (the cycle's result)."""
    cf = fileops_conf()
    limit = int((params or {}).get('limit') or cf.pass_limit)
    inventory = context.inventory
    started = time.monotonic()
    changes = _Changes(context)
    summary = {}
    summary.update(apply_finished(changes, limit=limit))
    summary.update(close_operations(changes))
    summary.update(expand(inventory, limit=limit))
    summary.update(sample_links(now=now))
    summary['reaped'] = services.tasks_reap(max_interruptions=cf.max_attempts)
    summary.update(dispatch(inventory, cf=cf, limit=limit, now=now))
    summary.update(consistency.apply_reports(changes))
    summary['purged'] = services.tasks_purge(before=timezone.now() - timezone.timedelta(days=cf.keep_days))
    if cf.workers == 'celery':
        summary['woken'] = wake_celery(cf)
    summary = {k: v for k, v in summary.items() if v}
    seconds = round(time.monotonic() - started, 3)
    summary['message'] = ('; '.join(f'{k} {v}' for k, v in summary.items()) or 'nothing to do') + f' ({seconds} s)'
    summary.update(seconds=seconds, seq=changes.seq, num_changes=changes.num_changes)
    log.info('updater: %s', summary['message'])
    return summary


class _Changes:
    """The change sets one pass applies through the write path (the cycle reports the last)."""

    def __init__(self, context):
        self.context = context
        self.inventory = context.inventory
        self.seq = None
        self.num_changes = 0

    def apply(self, builder):
        applied = self.context.apply(builder, origin='fileops updater')
        if applied.num_changes:
            self.seq = applied.seq
            self.num_changes += applied.num_changes
        return applied


# ------------------------------------------------------------------------------ 1. finished tasks
def apply_finished(changes, *, limit):
    """Done tasks into the inventory, one change set; marks them applied. Applying a task twice
    changes nothing (a file already held is not added again, one not held is not removed again)."""
    rows = list(FileTask.objects.filter(state=TaskState.DONE, applied=False).order_by('finished', 'id')
                .values_list('id', 'kind', 'site', 'dataset', 'block', 'lfn')[:limit])
    counts = {'applied': 0, 'replicas_changed': 0, 'replicas_removed': 0}
    if not rows:
        return counts
    # per block replica, the last word on each file (a copy then a deletion of it: gone)
    events = defaultdict(dict)
    for _, kind, site, dataset, block, lfn in rows:
        events[(site, dataset, block)][lfn] = kind

    def builder(inventory):
        now = int(time.time())
        replicas = {key: find_block_replica(inventory, *key) for key in events}
        files = block_files([br.block.id for br in replicas.values() if br is not None])
        for key, br in replicas.items():
            if br is None:
                continue     # the replica went meanwhile: nothing to record it in
            stored = files.get(br.block.id, ())
            by_lfn, sizes = {f.lfn: f.id for f in stored}, {f.id: f.size for f in stored}
            added = [by_lfn[lfn] for lfn, kind in events[key].items() if kind == TaskKind.TRANSFER and lfn in by_lfn]
            removed = [by_lfn[lfn] for lfn, kind in events[key].items() if kind == TaskKind.DELETION and lfn in by_lfn]
            new = with_files(br, block_files=sizes, added=added, removed=removed, last_update=now)
            if new is None:
                continue
            if new.file_ids == () and br.group.name is None:
                inventory.delete(br)
                counts['replicas_removed'] += 1
            else:
                inventory.update(new)
                counts['replicas_changed'] += 1
        return {}
    changes.apply(builder)
    counts['applied'] = services.tasks_mark_applied(ids=[r[0] for r in rows])
    return counts


def block_files(block_ids):
    """{block id: [StoredFile]} of the blocks, read from the store in a few queries (the file catalog
    reads one block at a time)."""
    from inventory.models import File
    out = {}
    block_ids = sorted(set(block_ids))
    for start in range(0, len(block_ids), _CHUNK):
        for fid, block_id, lfn, size, checksum in (File.objects.filter(block_id__in=block_ids[start:start + _CHUNK])
                                                   .values_list('id', 'block_id', 'name', 'size', 'checksum')):
            out.setdefault(block_id, []).append(StoredFile(fid, lfn, size, _checksum(checksum)))
    return out


def _checksum(text):
    """'adler32:value' (or the first algorithm's) from the store's JSON pairs."""
    pairs = [tuple(p) for p in json.loads(text)] if text else []
    for algorithm, value in pairs:
        if algorithm == 'adler32':
            return f'adler32:{value}'
    return f'{pairs[0][0]}:{pairs[0][1]}' if pairs else ''


# ------------------------------------------------------------------------------ 2. records close
def _task_states(field, ids):
    """{record id: Counter of its tasks' states, 'pending' for done but not applied}."""
    states = defaultdict(Counter)
    ids = list(ids)
    for start in range(0, len(ids), _CHUNK):
        for op_id, state, applied, n in (FileTask.objects.filter(**{f'{field}__in': ids[start:start + _CHUNK]})
                                         .values_list(field, 'state', 'applied').annotate(n=Count('id')).order_by()):
            states[op_id]['pending' if state == TaskState.DONE and not applied else state] += n
    return states


_OPEN_KEYS = ('new', 'queued', 'active', 'failed', 'pending')


def close_operations(changes):
    """Records whose replica shows the result are done; those whose replica went (or, for a
    deletion, was owned again) are cancelled with their waiting tasks; those whose every remaining
    task is held have failed; those whose tasks ended without the result are made again.
    Null-owned replicas of deletions with no file left are removed (one change set)."""
    inventory = changes.inventory
    now = timezone.now()
    moves = defaultdict(list)          # (model, state, reason) -> ids
    cancel_tasks = {'transfer': [], 'deletion': []}
    empty = []                         # (site, dataset, block) of null-owned replicas with no file

    transfers = list(BlockTransfer.objects.filter(state__in=(OperationState.ACTIVE, OperationState.FAILED))
                     .values_list('id', 'site', 'dataset', 'block', 'state'))
    tstates = _task_states('transfer_id', [t[0] for t in transfers])
    for op_id, site, dataset, block, state in transfers:
        br = find_block_replica(inventory, site, dataset, block)
        if br is None:
            moves[(BlockTransfer, OperationState.CANCELLED, 'the block replica is gone')].append(op_id)
            cancel_tasks['transfer'].append(op_id)
        elif br.is_complete():
            moves[(BlockTransfer, OperationState.DONE, None)].append(op_id)
        else:
            _settle(moves, BlockTransfer, op_id, state, tstates.get(op_id, Counter()))

    deletions = list(BlockDeletion.objects.filter(state__in=(OperationState.ACTIVE, OperationState.FAILED))
                     .values_list('id', 'site', 'dataset', 'block', 'state'))
    dstates = _task_states('deletion_id', [d[0] for d in deletions])
    for op_id, site, dataset, block, state in deletions:
        br = find_block_replica(inventory, site, dataset, block)
        if br is None:
            moves[(BlockDeletion, OperationState.DONE, None)].append(op_id)
        elif br.group.name is not None:
            moves[(BlockDeletion, OperationState.CANCELLED, f'the block replica is owned by {br.group.name} again')] \
                .append(op_id)
            cancel_tasks['deletion'].append(op_id)
        elif br.file_ids == () or br.num_files == 0:
            empty.append((site, dataset, block))
            moves[(BlockDeletion, OperationState.DONE, None)].append(op_id)
        else:
            _settle(moves, BlockDeletion, op_id, state, dstates.get(op_id, Counter()))

    if empty:
        def builder(inv):
            for site, dataset, block in empty:
                br = find_block_replica(inv, site, dataset, block)
                if br is not None and br.group.name is None and (br.file_ids == () or br.num_files == 0):
                    inv.delete(br)
        changes.apply(builder)
    counts = Counter()
    for (model, state, reason), ids in moves.items():
        services.operations_set_state(model=model, ids=ids, state=state, reason=reason, now=now)
        counts[f'{"transfers" if model is BlockTransfer else "deletions"}_{state}'] += len(ids)
    counts['replicas_removed_empty'] = len(empty)
    # records cancelled by anyone (a request withdrawn) cancel the tasks that wait
    for field, model in (('transfer', BlockTransfer), ('deletion', BlockDeletion)):
        query = Q(**{f'{field}__in': model.objects.filter(state=OperationState.CANCELLED).values('id')})
        n = services.tasks_cancel(query=query, reason=f'the {field} record was cancelled')
        ids = cancel_tasks[field]
        for start in range(0, len(ids), _CHUNK):
            n += services.tasks_cancel(query=Q(**{f'{field}__in': ids[start:start + _CHUNK]}),
                                       reason='the block replica is gone' if field == 'transfer'
                                       else 'the block replica is owned again')
        counts[f'{field}_tasks_cancelled'] += n
    return {k: v for k, v in counts.items() if v}


def _settle(moves, model, op_id, state, tasks):
    """A record whose replica does not show the result yet, from the states of its tasks."""
    if any(tasks[k] for k in _OPEN_KEYS):
        if state == OperationState.FAILED:
            moves[(model, OperationState.ACTIVE, None)].append(op_id)
        return
    if tasks[TaskState.HELD]:
        if state != OperationState.FAILED:
            moves[(model, OperationState.FAILED, f'{tasks[TaskState.HELD]} file tasks held')].append(op_id)
    elif tasks[TaskState.CANCELLED] and not tasks[TaskState.DONE]:
        moves[(model, OperationState.CANCELLED, 'its file tasks were cancelled')].append(op_id)
    else:
        # every task ended and the result is not there (files added since, or lost again): anew
        moves[(model, OperationState.NEW, None)].append(op_id)


# ------------------------------------------------------------------------------ 3. new records
def _pending_lfns(kind, site, lfns):
    """The LFNs among `lfns` with a pending task of `kind` at `site`."""
    found = set()
    lfns = list(lfns)
    for start in range(0, len(lfns), _CHUNK):
        found.update(FileTask.objects.filter(_PENDING, kind=kind, site=site, lfn__in=lfns[start:start + _CHUNK])
                     .values_list('lfn', flat=True))
    return found


def expand(inventory, *, limit):
    """New transfer and deletion records become one task per file: for a transfer, each file the
    block replica lacks; for a deletion, each file it holds. A file that already has a task of the
    same kind there gets no second one; a transfer cancels the waiting deletions of its files."""
    now = timezone.now()
    rows, budget = [], limit
    counts = Counter()
    moves = defaultdict(list)
    cancel_deletions = defaultdict(set)        # site -> lfns
    transfers = list(BlockTransfer.objects.filter(state=OperationState.NEW).order_by('id')[:limit])
    deletions = list(BlockDeletion.objects.filter(state=OperationState.NEW).order_by('id')[:limit])
    replicas = {(op.site, op.dataset, op.block): find_block_replica(inventory, op.site, op.dataset, op.block)
                for op in transfers + deletions}
    stored = block_files(br.block.id for br in replicas.values() if br is not None)
    for op in transfers:
        if budget <= 0:
            break
        br = replicas[(op.site, op.dataset, op.block)]
        if br is None:
            moves[(BlockTransfer, OperationState.CANCELLED, 'the block replica is gone')].append(op.id)
            continue
        files = missing_files(br, stored.get(br.block.id, ()))
        pending = _pending_lfns(TaskKind.TRANSFER, op.site, [f.lfn for f in files])
        for f in files:
            cancel_deletions[op.site].add(f.lfn)
            if f.lfn in pending:
                continue
            rows.append(services.NewTask(TaskKind.TRANSFER, op.site, f.lfn, op.dataset, op.block, f.size, f.checksum,
                                         transfer_id=op.id))
        budget -= len(files)
        moves[(BlockTransfer, OperationState.ACTIVE, None)].append(op.id)
    for op in deletions:
        if budget <= 0:
            break
        br = replicas[(op.site, op.dataset, op.block)]
        if br is None:
            moves[(BlockDeletion, OperationState.DONE, 'the block replica had gone already')].append(op.id)
            continue
        if br.group.name is not None:
            moves[(BlockDeletion, OperationState.CANCELLED, f'the block replica is owned by {br.group.name}')] \
                .append(op.id)
            continue
        files = held_files(br, stored.get(br.block.id, ()))
        pending = _pending_lfns(TaskKind.DELETION, op.site, [f.lfn for f in files])
        for f in files:
            if f.lfn not in pending:
                rows.append(services.NewTask(TaskKind.DELETION, op.site, f.lfn, op.dataset, op.block, f.size,
                                             f.checksum, deletion_id=op.id))
        budget -= len(files)
        moves[(BlockDeletion, OperationState.ACTIVE, None)].append(op.id)
    for site, lfns in cancel_deletions.items():
        lfns = list(lfns)
        for start in range(0, len(lfns), _CHUNK):
            counts['deletions_superseded'] += services.tasks_cancel(
                query=Q(kind=TaskKind.DELETION, site=site, lfn__in=lfns[start:start + _CHUNK]),
                reason='a transfer of the file to the site superseded it')
    counts['tasks_made'] = services.tasks_create(tasks=rows)
    for (model, state, reason), ids in moves.items():
        services.operations_set_state(model=model, ids=ids, state=state, reason=reason, now=now)
        counts[f'{"transfers" if model is BlockTransfer else "deletions"}_{state}'] += len(ids)
    return {k: v for k, v in counts.items() if v}


# ------------------------------------------------------------------------------ 4. dispatch
def dispatch(inventory, *, cf, limit, now=None):
    """New tasks, and failed ones whose backoff is over, are queued (a transfer with the source it
    copies from) or held with the reason."""
    now = now or timezone.now()
    busy = Counter()
    for source, site, n in (FileTask.objects.filter(kind=TaskKind.TRANSFER,
                                                    state__in=(TaskState.QUEUED, TaskState.ACTIVE))
                            .values_list('source', 'site').annotate(n=Count('id')).order_by()):
        busy[(source, site)] = n
    executors = dict(SiteStorage.objects.values_list('site', 'executor'))
    candidates = (FileTask.objects.filter(Q(state=TaskState.NEW) | Q(state=TaskState.FAILED, retry_at__lte=now))
                  .order_by('id').values_list('id', 'kind', 'state', 'site', 'dataset', 'block', 'lfn', 'attempts',
                                              'tried', 'reason', 'origin')[:limit])
    assignments, holds, cancels = [], [], []
    candidates = list(candidates)
    dests = {(site, dataset, block): find_block_replica(inventory, site, dataset, block)
             for _, kind, _, site, dataset, block, *_ in candidates if kind == TaskKind.TRANSFER}
    files_of = {block_id: {f.lfn: f for f in files}
                for block_id, files in block_files(br.block.id for br in dests.values() if br is not None).items()}
    for task_id, kind, state, site_name, dataset, block, lfn, attempts, tried_json, reason, origin in candidates:
        tried, final = services.read_tried(tried_json)
        if state == TaskState.FAILED and final:
            holds.append((task_id, f'cannot succeed by retrying: {reason}'))
            continue
        if state == TaskState.FAILED and attempts >= cf.max_attempts:
            holds.append((task_id, f'{attempts} attempts failed; the last: {reason}'))
            continue
        site = inventory.sites.get(site_name)
        if site is None:
            cancels.append((task_id, f'the site {site_name} is gone'))
            continue
        executor = executors.get(site_name, 'gfal2')
        if kind == TaskKind.DELETION:
            problem = _pfn_problem(site, lfn)
            claimed = origin == consistency.ORIGIN and _claimed(inventory, site_name, lfn)
            if claimed:
                cancels.append((task_id, claimed))
            elif problem:
                holds.append((task_id, problem))
            else:
                assignments.append((task_id, '', executor))
            continue
        dest = dests[(site_name, dataset, block)]
        if dest is None:
            cancels.append((task_id, 'the block replica is gone'))
            continue
        lfile = files_of.get(dest.block.id, {}).get(lfn)
        if lfile is None:
            cancels.append((task_id, 'the file is no longer in the inventory'))
            continue
        if dest.has_file(lfile):
            cancels.append((task_id, 'the block replica has the file already'))
            continue
        replicas = source_replicas(dest.block, lfile, site_name)
        chosen = choose_source(replicas, destination=site_name, busy=busy,
                               tried={s: Tried(n, ok) for s, (n, ok) in tried.items()})
        if chosen is None:
            holds.append((task_id, _no_source(replicas, tried, reason)))
            continue
        problem = _pfn_problem(site, lfn) or _pfn_problem(chosen.site, lfn)
        if problem:
            holds.append((task_id, problem))
            continue
        busy[(chosen.site.name, site_name)] += 1
        assignments.append((task_id, chosen.site.name, executor))
    counts = {'queued': services.tasks_queue(assignments=assignments, now=now),
              'held': services.tasks_hold(holds=holds, now=now)}
    by_reason = defaultdict(list)
    for task_id, why in cancels:
        by_reason[why].append(task_id)
    counts['cancelled'] = sum(services.tasks_cancel(ids=ids, reason=why) for why, ids in by_reason.items())
    return {k: v for k, v in counts.items() if v}


def _claimed(inventory, site_name, lfn):
    """Why a file found dark must not be deleted after all (the inventory has it at the site now, or
    a transfer brings it there), or ''."""
    lfile = inventory.find_file(lfn)
    if lfile is not None:
        dataset, _, block = lfile.block_full_name.partition('#')
        br = find_block_replica(inventory, site_name, dataset, block)
        if br is not None and br.has_file(lfile):
            return 'the inventory has the file at the site now'
    if _pending_lfns(TaskKind.TRANSFER, site_name, [lfn]):
        return 'a transfer brings the file to the site'
    return ''


def _pfn_problem(site, lfn):
    try:
        resolve_pfn(lfn, backend=site.backend, filename_mapping=site.filename_mapping)
    except PfnError as exc:
        return f'no PFN at {site.name}: {exc}'
    return ''


def _no_source(replicas, tried, reason):
    if not replicas:
        return 'no source: no other READY site has the file'
    bad = sorted(s for s, (_, ok) in tried.items() if not ok)
    return f'no source left: {", ".join(bad)} failed for good; the last: {reason}'


# ------------------------------------------------------------------------------ 5. samples, workers
def sample_links(*, now=None):
    """One LinkSample per link with tasks queued or active, or finished since the last sample."""
    now = now or timezone.now()
    last = LinkSample.objects.order_by('-time').values_list('time', flat=True).first()
    since = last or now - timezone.timedelta(minutes=1)
    rows = {}

    def row(kind, source, site):
        key = (kind, source, site)
        if key not in rows:
            rows[key] = LinkSample(time=now, kind=kind, source=source, site=site,
                                   seconds=(now - since).total_seconds())
        return rows[key]
    for kind, source, site, state, n in (FileTask.objects.filter(state__in=(TaskState.QUEUED, TaskState.ACTIVE))
                                         .values_list('kind', 'source', 'site', 'state').annotate(n=Count('id'))
                                         .order_by()):
        setattr(row(kind, source, site), state, n)
    for kind, source, site, state, n, size in (FileTask.objects.filter(finished__gt=since, finished__lte=now,
                                                                       state__in=(TaskState.DONE, TaskState.FAILED))
                                               .values_list('kind', 'source', 'site', 'state')
                                               .annotate(n=Count('id'), b=Sum('size')).order_by()):
        sample = row(kind, source, site)
        if state == TaskState.DONE:
            sample.done, sample.bytes = n, size or 0
        else:
            sample.failed = n
    services.link_samples_record(samples=list(rows.values()))
    return {'links_sampled': len(rows)}


def wake_celery(cf):
    """Send Celery workers one message per batch of queued tasks (at most 64): a message is a
    worker's turn to claim a batch; one too many finds nothing and ends."""
    queued = FileTask.objects.filter(state=TaskState.QUEUED).count()
    if not queued:
        return 0
    return services.workers_wake(task='fileops.work', args_list=[()] * min(64, math.ceil(queued / max(1, cf.batch))))
