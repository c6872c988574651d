"""Writes of Detox: the commit of a cycle (its history, and for a real cycle its deletions and
hand-overs as one change set plus a deletion request per block replica, in one transaction) and
the locks. The commit runs in the server (trusted code, holding the writer lease).

Deletion is the original's (§12 item 1): a deleted block replica is handed to the null group,
which takes it out of partitions such as Default at once, and stays in the inventory until the
file operations have removed its files (transfers.models.BlockDeletion is what they execute).
"""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone as dt_timezone
from typing import List, Optional

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from detox import selectors
from detox.models import Cycle, CycleState, Decision, Lock, SiteSummary
from inventory import services as inventory_services
from inventory.objects import DatasetReplica
from policy import LockList
from policy.units import format_size
from transfers import services as transfers_services
from usage import services as usage_services

log = logging.getLogger('dynamo.detox')
DEFAULT_KEEP_CYCLES = 20
_DECISION_BATCH = 5000
_SHOWN_SKIPS = 50


def keep_cycles() -> int:
    """How many cycles keep their decision rows (DYNAMO_DETOX_KEEP_CYCLES, default 20)."""
    return int(getattr(settings, 'DYNAMO_DETOX_KEEP_CYCLES', DEFAULT_KEEP_CYCLES))


def _when(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, dt_timezone.utc)


# ------------------------------------------------------------------------------------- the commit
def commit_cycle(result: dict, context) -> dict:
    """Record the cycle and, for a real cycle the safety valve let through, apply it: every
    decided block replica whose owner, last update, size and completeness are still what the
    cycle saw goes to the null group (or its new owner), with a deletion request each; the
    others are skipped and reported. Returns the summary (the application's result)."""
    t0 = time.perf_counter()
    handoff = time.time() - result['computed']    # the result written, read back, the commit's turn
    app = context.app
    test = bool(result['test'])
    stopped = bool(result['stopped'])
    real = not test and not stopped
    lines = result['policy'].splitlines()
    outcome = _Outcome()
    with transaction.atomic(), transaction.atomic(using=Cycle.objects.db):
        cycle = _record(result, app)
        t_record = t_apply = t_requests = time.perf_counter()
        if real:
            recheck = _new_locks(result)
            applied = context.apply(lambda inventory: _apply(inventory, result, recheck, outcome),
                                    origin=f'detox cycle {cycle.id} (application {app.id})')
            t_apply = time.perf_counter()
            try:
                transfers_services.block_deletions_record(
                    items=[(site, dataset, block, _reason(cycle.id, line, lines))
                           for site, dataset, block, line in outcome.deleted],
                    origin='detox', origin_id=cycle.id)
                t_requests = time.perf_counter()
                _finish(cycle, result, outcome, applied.seq if applied.num_changes else None)
            except BaseException:
                # the change set is in RAM already: a database that refuses the rest means reloading
                log.exception('detox cycle %d: the records of the commit failed after its change set', cycle.id)
                raise inventory_services.ImageLost('the detox commit failed after its change set was applied')
            seq, num_changes = (applied.seq, applied.num_changes) if applied.num_changes else (None, 0)
        else:
            seq, num_changes = None, 0
            _finish(cycle, result, outcome, None)
    t_commit = time.perf_counter()
    pruned = prune_history(keep=int(result.get('keep_cycles') or keep_cycles()))
    _record_usage(context, cycle.id)
    timings = dict(result['timings'], handoff=handoff, record=t_record - t0, apply=t_apply - t_record, requests=t_requests - t_apply,
                   commit=t_commit - t0, prune=time.perf_counter() - t_commit)
    Cycle.objects.filter(id=cycle.id).update(timings=json.dumps(timings))
    return _summary(cycle, result, outcome, seq, num_changes, timings, pruned)


def _record_usage(context, cycle_id):
    """A usage sample of every site and partition as the cycle left them (the history's points
    between the hourly samples); a sample that cannot be stored costs the cycle nothing."""
    try:
        with context.runtime.lock.read():
            stored = usage_services.record_usage(context.inventory, source='detox')
        log.info('detox cycle %d: %d usage samples recorded', cycle_id, stored)
    except Exception:
        log.exception('detox cycle %d: the usage sample was not recorded', cycle_id)


class _Outcome:
    def __init__(self):
        self.deleted = []        # (site, dataset, block, line)
        self.deleted_bytes = {}  # site -> bytes
        self.handed = 0
        self.skipped = []        # (site, dataset, block, why)
        self.skipped_bytes = {}  # site -> bytes
        self.removed_empty = 0


def _record(result, app) -> Cycle:
    """The cycle, its per-site summaries and every decision row."""
    sites = result['sites']
    state = CycleState.TEST if result['test'] else CycleState.STOPPED if result['stopped'] else CycleState.COMMITTED
    cycle = Cycle.objects.create(
        partition=result['partition'], test=bool(result['test']), state=state, policy_text=result['policy'],
        policy_sha256=result['sha256'], policy_filename=result['filename'][:255], comment=result['comment'],
        user=app.user.username if app.user_id else '', application_id=app.id, started=_when(result['started']),
        finished=timezone.now(), now=result['now'], num_sites=len(sites),
        num_triggered=sum(1 for s in sites if s['triggered']), num_decisions=len(result['decisions']),
        protected_bytes=sum(s['protected'] for s in sites), kept_bytes=sum(s['kept'] for s in sites),
        used_bytes=result['used_bytes'], iterations=result['iterations'],
        replica_evaluations=result['replica_evaluations'], line_evaluations=result['line_evaluations'],
        stop_reason=result['stop_reason'] or '', warnings=json.dumps(result['warnings']),
        line_hits=json.dumps(result['hits']))
    SiteSummary.objects.bulk_create([SiteSummary(
        cycle=cycle, site=s['site'], quota=s['quota'], usage_before=s['usage_before'], usage_after=s['usage_after'],
        occupancy_before=s['occupancy_before'], occupancy_after=s['occupancy_after'], protected=s['protected'],
        kept=s['kept'], deleted=s['deleted'], handed_over=s['handed_over'], triggered=s['triggered'],
        until_reached=s['until_reached']) for s in sites])
    _insert_decisions(cycle.id, result['decisions'])
    return cycle


def _insert_decisions(cycle_id, rows):
    """The decision rows, with plain multi-row INSERTs (a cycle of the cms preset has 144,000: the
    ORM's objects would cost ten times the time)."""
    connection = connections[Decision.objects.db]
    quote = connection.ops.quote_name
    columns = ', '.join(quote(c) for c in ('cycle_id', 'site', 'dataset', 'decision', 'blocks', 'size', 'line'))
    sql = f'INSERT INTO {quote(Decision._meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s)'
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _DECISION_BATCH):
            batch = rows[start:start + _DECISION_BATCH]
            cursor.executemany(sql, [(cycle_id, site, dataset, kind, '' if blocks is None else '\n'.join(blocks),
                                      size, line) for site, dataset, kind, blocks, size, line in batch])


def _new_locks(result):
    """Locks made since the cycle read them: a block replica they lock is not deleted (when the
    policy reads blockreplica.is_locked)."""
    if not result.get('reads_locks'):
        return None
    entries = selectors.locks_made_since(result['locks_read'])
    return LockList(entries, result['now']) if entries else None


def _same(br, owner, last_update, size, complete):
    return br._st[0].name == owner and br.last_update == last_update and br.size == size and \
        br.is_complete() == complete


def _apply(inventory, result, recheck, outcome) -> dict:
    """The change set of a real cycle (runs inside the write path, under the RAM lock)."""
    def skip(site, dataset, block, why, size=0):
        outcome.skipped.append((site, dataset, block, why))
        outcome.skipped_bytes[site] = outcome.skipped_bytes.get(site, 0) + size

    for site, dataset, whole, blocks, empty_line in result['deletions']:
        site_obj = inventory.sites.get(site)
        replica = site_obj.find_dataset_replica(dataset) if site_obj is not None else None
        if replica is None:
            for name, *_ in blocks:
                skip(site, dataset, name, 'the replica is gone')
            continue
        if not blocks:
            # an empty replica at a tape site (zero-size stand-ins): nothing to delete but the replica
            if not replica.block_replicas:
                inventory.delete(DatasetReplica(dataset, site))
                outcome.removed_empty += 1
            else:
                skip(site, dataset, None, 'the replica has block replicas now')
            continue
        current = {br.block.name: br for br in replica.block_replicas}
        todo = []
        for name, owner, last_update, size, complete, line in blocks:
            br = current.get(name)
            if br is None:
                skip(site, dataset, name, 'the block replica is gone', size)
            elif not _same(br, owner, last_update, size, complete):
                skip(site, dataset, name, _what_changed(br, owner, last_update, size, complete), size)
            elif recheck is not None and recheck.is_locked(br, br._st[0]):
                skip(site, dataset, name, 'locked since the cycle read the locks', size)
            else:
                todo.append((br, line))
        for br, line in todo:
            clone = br.clone()
            clone.group = None
            inventory.update(clone)
            outcome.deleted.append((site, dataset, br.block.name, line))
            outcome.deleted_bytes[site] = outcome.deleted_bytes.get(site, 0) + br.size
        if whole and todo and len(todo) == len(replica.block_replicas):
            dr = replica.clone()
            dr.growing = False
            dr.group = None
            inventory.update(dr)
    for site, dataset, block, group, owner, last_update, size, complete in result['handovers']:
        site_obj = inventory.sites.get(site)
        replica = site_obj.find_dataset_replica(dataset) if site_obj is not None else None
        br = replica.find_block_replica(block) if replica is not None else None
        if br is None:
            skip(site, dataset, block, 'the block replica is gone', size)
        elif not _same(br, owner, last_update, size, complete):
            skip(site, dataset, block, _what_changed(br, owner, last_update, size, complete), size)
        elif group not in inventory.groups:
            skip(site, dataset, block, f'group {group} is gone', size)
        else:
            clone = br.clone()
            clone.group = group
            inventory.update(clone)
            outcome.handed += 1
    return {}


def _what_changed(br, owner, last_update, size, complete):
    changes = []
    if br._st[0].name != owner:
        changes.append(f'owner {owner} -> {br._st[0].name}')
    if br.last_update != last_update:
        changes.append(f'last update {last_update} -> {br.last_update}')
    if br.size != size:
        changes.append(f'size {size} -> {br.size}')
    if br.is_complete() != complete:
        changes.append('now complete' if br.is_complete() else 'now incomplete')
    return 'changed since the decision: ' + ', '.join(changes)


def _reason(cycle_id, line, lines):
    text = lines[line - 1].strip() if 0 < line <= len(lines) else 'the default decision'
    return f'detox cycle {cycle_id}, line {line}: {text}'[:255]


def _finish(cycle, result, outcome, seq):
    deleted = sum(outcome.deleted_bytes.values())
    Cycle.objects.filter(id=cycle.id).update(
        finished=timezone.now(), num_deletions=len(outcome.deleted), num_handovers=outcome.handed,
        num_skipped=len(outcome.skipped),
        deleted_bytes=deleted if not result['test'] and not result['stopped'] else result['deleted_bytes'], seq=seq)
    for site, size in outcome.skipped_bytes.items():
        SiteSummary.objects.filter(cycle=cycle, site=site).update(skipped=size)
    cycle.refresh_from_db()


def _summary(cycle, result, outcome, seq, num_changes, timings, pruned) -> dict:
    sites = []
    for s in result['sites']:
        sites.append(dict(s, skipped=outcome.skipped_bytes.get(s['site'], 0)))
    kind = 'test cycle' if cycle.test else 'cycle'
    triggered = [s['site'] for s in result['sites'] if s['triggered']]
    if cycle.state == CycleState.STOPPED:
        message = f'detox {kind} {cycle.id} stopped before its commit: {result["stop_reason"]}'
    elif cycle.test:
        message = (f'detox test cycle {cycle.id}: {len(triggered)} of {len(sites)} sites triggered; would hand '
                   f'{sum(len(d[3]) for d in result["deletions"])} block replicas '
                   f'({format_size(result["deleted_bytes"])}) to the null group; nothing changed')
    else:
        message = (f'detox cycle {cycle.id}: {len(triggered)} of {len(sites)} sites triggered; '
                   f'{len(outcome.deleted)} block replicas ({format_size(cycle.deleted_bytes)}) handed to the '
                   f'null group with a deletion request each, {outcome.handed} handed over'
                   + (f'; {len(outcome.skipped)} skipped (changed since the decision)' if outcome.skipped else '')
                   + (f' (change set {seq})' if seq else ''))
    return {
        'message': message, 'cycle': cycle.id, 'state': cycle.state, 'test': cycle.test,
        'partition': cycle.partition, 'seq': seq, 'num_changes': num_changes, 'sites': sites,
        'triggered': triggered, 'num_decisions': cycle.num_decisions,
        'deletions': len(outcome.deleted), 'handovers': outcome.handed,
        'planned_deletions': sum(len(d[3]) for d in result['deletions']),
        'planned_handovers': len(result['handovers']),
        'deleted_bytes': cycle.deleted_bytes, 'used_bytes': result['used_bytes'],
        'skipped': [list(s) for s in outcome.skipped[:_SHOWN_SKIPS]], 'num_skipped': len(outcome.skipped),
        'removed_empty_replicas': outcome.removed_empty,
        'warnings': result['warnings'], 'stopped': result['stopped'], 'stop_reason': result['stop_reason'],
        'iterations': result['iterations'], 'replica_evaluations': result['replica_evaluations'],
        'line_evaluations': result['line_evaluations'], 'ns_per_line_evaluation': result['ns_per_line_evaluation'],
        'timings': timings, 'started': result['started'], 'pruned_cycles': pruned,
    }


def commit_explain(result: dict, context) -> dict:
    """An explanation changes nothing: its result is the explanation."""
    return dict(result, message=f'{result["dataset"]} at {result["site"]} explained')


def prune_history(*, keep: int) -> int:
    """Drop the decision rows of all but the newest `keep` cycles (the cycles and their site
    summaries stay). Returns how many cycles lost their rows."""
    if keep < 0:
        return 0
    old = list(Cycle.objects.order_by('-id').values_list('id', flat=True)[keep:])
    if not old:
        return 0
    with_rows = list(Decision.objects.filter(cycle_id__in=old).values_list('cycle_id', flat=True).distinct())
    for cycle_id in with_rows:
        Decision.objects.filter(cycle_id=cycle_id).delete()
    return len(with_rows)


# ------------------------------------------------------------------------------------- locks
class LockError(ValueError):
    pass


def lock_create(*, user: str, items: List[str], sites: Optional[List[str]] = None, groups: Optional[List[str]] = None,
                comment: str = '', expires: Optional[float] = None) -> List[Lock]:
    """Lock each item (a dataset or dataset#block name, shell wildcards allowed) at each site
    pattern (None: everywhere) for each owner pattern (None: any owner) until `expires` (UNIX
    time; None: until unlocked)."""
    if not items:
        raise LockError('nothing to lock: give one or more datasets or dataset#block names')
    for item in items:
        if not isinstance(item, str) or not item.strip() or len(item) > 700:
            raise LockError(f'{item!r} is not a dataset or dataset#block name (at most 700 characters)')
        if not item.startswith('/') and not item.startswith('*'):
            raise LockError(f'{item!r} is not a dataset name (/Primary/Processed/TIER[#block])')
    for pattern in (sites or []) + (groups or []):
        if not isinstance(pattern, str) or not pattern.strip() or len(pattern) > 255:
            raise LockError(f'{pattern!r} is not a site or group pattern')
    now = timezone.now()
    if expires is not None and expires <= now.timestamp():
        raise LockError(f'the expiry {_when(expires).isoformat()} is in the past')
    rows = [Lock(item=item.strip(), sites=site or '', groups=group or '', comment=comment[:4000], user=user,
                 created=now, expires=None if expires is None else _when(expires))
            for item in items for site in (sites or [None]) for group in (groups or [None])]
    with transaction.atomic(using=Lock.objects.db):
        for lock in rows:
            lock.save()
    return rows


def lock_release(*, by: str, may_release_others: bool, lock_ids: Optional[List[int]] = None,
                 items: Optional[List[str]] = None, sites: Optional[List[str]] = None) -> List[Lock]:
    """Unlock the live locks with these ids, or of these items (and sites); only the caller's own
    unless `may_release_others`. Returns the locks released."""
    if not lock_ids and not items:
        raise LockError('say which locks to unlock: their ids or their items')
    qs = Lock.objects.filter(unlocked__isnull=True)
    if lock_ids:
        qs = qs.filter(id__in=lock_ids)
    if items:
        qs = qs.filter(item__in=items)
    if sites:
        qs = qs.filter(sites__in=sites)
    found = list(qs)
    others = [lock for lock in found if lock.user != by]
    if others and not may_release_others:
        raise PermissionError(f'locks {", ".join(str(lock.id) for lock in others)} belong to other users; only '
                              f'operators and admins of detox may unlock them')
    now = timezone.now()
    with transaction.atomic(using=Lock.objects.db):
        Lock.objects.filter(id__in=[lock.id for lock in found]).update(unlocked=now, unlocked_by=by)
    for lock in found:
        lock.unlocked, lock.unlocked_by = now, by
    return found
