"""Reads of Detox's records: cycles, their site summaries and decisions, and locks. Plain data
out (dicts and lists), for the web module and the commands."""
from __future__ import annotations

import fnmatch
import json
import re
from datetime import datetime, timezone as dt_timezone
from typing import List, Optional

from django.db.models import Q
from django.utils import timezone

from detox.models import Cycle, Decision, Lock, SiteSummary
from policy import LockEntry, LockList


class NoSuchCycle(LookupError):
    pass


def _iso(t):
    return t.isoformat() if t else None


# ------------------------------------------------------------------------------------- cycles
def cycle_get(cycle_id) -> Cycle:
    """Cycle `cycle_id` (an int, or 'latest': the newest cycle, test or not)."""
    if cycle_id == 'latest':
        cycle = Cycle.objects.order_by('-id').first()
        if cycle is None:
            raise NoSuchCycle('no Detox cycle has run yet')
        return cycle
    cycle = Cycle.objects.filter(id=cycle_id).first()
    if cycle is None:
        raise NoSuchCycle(f'no Detox cycle {cycle_id}')
    return cycle


def latest_cycle(*, partition: Optional[str] = None, test: Optional[bool] = None) -> Optional[Cycle]:
    qs = Cycle.objects.order_by('-id')
    if partition:
        qs = qs.filter(partition=partition)
    if test is not None:
        qs = qs.filter(test=test)
    return qs.first()


def cycle_row(cycle: Cycle) -> dict:
    return {'id': cycle.id, 'partition': cycle.partition, 'test': cycle.test, 'state': cycle.state,
            'started': _iso(cycle.started), 'finished': _iso(cycle.finished), 'comment': cycle.comment,
            'user': cycle.user, 'policy_sha256': cycle.policy_sha256, 'application': cycle.application_id,
            'now': cycle.now, 'num_sites': cycle.num_sites, 'num_triggered': cycle.num_triggered,
            'num_decisions': cycle.num_decisions, 'num_deletions': cycle.num_deletions,
            'num_handovers': cycle.num_handovers, 'num_skipped': cycle.num_skipped,
            'deleted_bytes': cycle.deleted_bytes, 'protected_bytes': cycle.protected_bytes,
            'kept_bytes': cycle.kept_bytes, 'used_bytes': cycle.used_bytes, 'iterations': cycle.iterations,
            'seq': cycle.seq, 'stop_reason': cycle.stop_reason or None,
            'decisions_kept': cycle_has_decisions(cycle)}


def cycle_has_decisions(cycle: Cycle) -> bool:
    return cycle.num_decisions == 0 or Decision.objects.filter(cycle=cycle).exists()


def cycles(*, partition: Optional[str] = None, test: Optional[bool] = None, limit: int = 100) -> List[dict]:
    qs = Cycle.objects.order_by('-id')
    if partition:
        qs = qs.filter(partition=partition)
    if test is not None:
        qs = qs.filter(test=test)
    found = list(qs[:limit])
    kept = {cycle.id for cycle in found if Decision.objects.filter(cycle_id=cycle.id).exists()}
    rows = []
    for cycle in found:
        row = cycle_row_light(cycle)
        row['decisions_kept'] = cycle.num_decisions == 0 or cycle.id in kept
        rows.append(row)
    return rows


def cycle_row_light(cycle: Cycle) -> dict:
    return {'id': cycle.id, 'partition': cycle.partition, 'test': cycle.test, 'state': cycle.state,
            'started': _iso(cycle.started), 'finished': _iso(cycle.finished), 'comment': cycle.comment,
            'user': cycle.user, 'num_sites': cycle.num_sites, 'num_triggered': cycle.num_triggered,
            'num_decisions': cycle.num_decisions, 'num_deletions': cycle.num_deletions,
            'deleted_bytes': cycle.deleted_bytes, 'num_skipped': cycle.num_skipped,
            'stop_reason': cycle.stop_reason or None}


def site_rows(cycle: Cycle) -> List[dict]:
    return [{'site': s.site, 'quota': s.quota, 'usage_before': s.usage_before, 'usage_after': s.usage_after,
             'occupancy_before': _occupancy(s.occupancy_before), 'occupancy_after': _occupancy(s.occupancy_after),
             'protected': s.protected, 'kept': s.kept, 'deleted': s.deleted, 'handed_over': s.handed_over,
             'skipped': s.skipped, 'triggered': s.triggered, 'until_reached': s.until_reached}
            for s in SiteSummary.objects.filter(cycle=cycle).order_by('site')]


def _occupancy(value):
    # a quota of 0 makes the occupancy the largest float ("always over"): not a number JSON shows well
    return None if value > 1e300 else value


def policy_lines(cycle: Cycle) -> List[dict]:
    """The policy text line by line, with the decisions each line made (rows and bytes)."""
    hits = {int(k): v for k, v in json.loads(cycle.line_hits or '{}').items()}
    out = []
    for number, text in enumerate(cycle.policy_text.splitlines(), start=1):
        rows, size = hits.get(number, (0, 0))
        out.append({'line': number, 'text': text, 'decisions': rows, 'bytes': size})
    return out


def cycle_detail(cycle: Cycle) -> dict:
    row = cycle_row(cycle)
    row.update(policy=cycle.policy_text, policy_filename=cycle.policy_filename, sites=site_rows(cycle),
               lines=policy_lines(cycle), warnings=json.loads(cycle.warnings or '[]'),
               timings=json.loads(cycle.timings or '{}'), replica_evaluations=cycle.replica_evaluations,
               line_evaluations=cycle.line_evaluations)
    return row


def decisions(cycle: Cycle, *, site: Optional[str] = None, dataset: Optional[str] = None,
              decision: Optional[str] = None, offset: int = 0, limit: int = 1000):
    """(total, rows) of the cycle's decisions matching the filters (shell patterns for site and
    dataset), by site, dataset and line."""
    qs = Decision.objects.filter(cycle=cycle)
    qs = _pattern(qs, 'site', site)
    qs = _pattern(qs, 'dataset', dataset)
    if decision:
        qs = qs.filter(decision__in=[d.strip() for d in decision.split(',') if d.strip()])
    total = qs.count()
    lines = cycle.policy_text.splitlines()
    rows = []
    for site_, dataset_, kind, blocks, size, line in qs.order_by('site', 'dataset', 'line', 'id').values_list(
            'site', 'dataset', 'decision', 'blocks', 'size', 'line')[offset:offset + limit]:
        rows.append({'site': site_, 'dataset': dataset_, 'decision': kind,
                     'blocks': blocks.split('\n') if blocks else None, 'size': size, 'line': line,
                     'text': lines[line - 1].strip() if 0 < line <= len(lines) else ''})
    return total, rows


def _pattern(qs, field, value):
    """Filter on comma-separated shell patterns (plain names and literal prefixes use the index)."""
    if not value:
        return qs
    q = Q()
    for p in (p.strip() for p in value.split(',')):
        if not p:
            continue
        if not any(c in p for c in '*?['):
            term = Q(**{field: p})
        else:
            term = Q(**{f'{field}__regex': fnmatch.translate(p)})
            prefix = re.split(r'[*?\[]', p, maxsplit=1)[0]
            if prefix:
                term &= Q(**{f'{field}__startswith': prefix})
        q |= term
    return qs.filter(q)


def decisions_of(cycle: Cycle, site: str, dataset: str) -> List[dict]:
    return decisions(cycle, site=_literal(site), dataset=_literal(dataset), limit=10000)[1]


def _literal(name):
    return name.replace('[', '[[]').replace('*', '[*]').replace('?', '[?]') if any(c in name for c in '*?[') else name


# ------------------------------------------------------------------------------------- locks
def _aware(t):
    return t if t is None or timezone.is_aware(t) else t.replace(tzinfo=dt_timezone.utc)


def lock_rows(*, item: Optional[str] = None, site: Optional[str] = None, user: Optional[str] = None,
              lock_id: Optional[int] = None, include_ended: bool = False, now: Optional[datetime] = None) -> List[dict]:
    """Locks, newest first; by default only the live ones (not unlocked, not expired)."""
    now = now or timezone.now()
    qs = Lock.objects.order_by('-id')
    if lock_id is not None:
        qs = qs.filter(id=lock_id)
    if user:
        qs = qs.filter(user=user)
    if not include_ended:
        qs = qs.filter(unlocked__isnull=True).exclude(expires__lte=now)
    rows = []
    for lock in qs:
        if item and not (fnmatch.fnmatchcase(lock.item, item) or lock.item == item):
            continue
        if site and lock.sites and not (fnmatch.fnmatchcase(site, lock.sites) or lock.sites == site):
            continue
        rows.append(lock_row(lock, now))
    return rows


def lock_row(lock: Lock, now=None) -> dict:
    now = now or timezone.now()
    state = 'unlocked' if lock.unlocked else 'expired' if lock.expires and lock.expires <= now else 'locked'
    return {'id': lock.id, 'item': lock.item, 'sites': lock.sites or None, 'groups': lock.groups or None,
            'comment': lock.comment, 'user': lock.user, 'created': _iso(lock.created), 'expires': _iso(lock.expires),
            'unlocked': _iso(lock.unlocked), 'unlocked_by': lock.unlocked_by or None, 'state': state}


def lock_list(now: float) -> LockList:
    """The live locks (not unlocked) as a LockList for blockreplica.is_locked; expiry is read
    against the cycle's `now` (a test run with --now sees the locks of that time)."""
    entries = []
    for item, sites, groups, expires in Lock.objects.filter(unlocked__isnull=True).values_list(
            'item', 'sites', 'groups', 'expires'):
        entries.append(LockEntry(item, sites or None, groups or None,
                                 None if expires is None else _aware(expires).timestamp()))
    return LockList(entries, now)


def locks_made_since(when: float) -> List[LockEntry]:
    """The live locks made since the UNIX time `when`."""
    since = datetime.fromtimestamp(when, dt_timezone.utc)
    entries = [LockEntry(item, sites or None, groups or None,
                         None if expires is None else _aware(expires).timestamp())
               for item, sites, groups, expires in Lock.objects.filter(unlocked__isnull=True, created__gte=since)
               .values_list('item', 'sites', 'groups', 'expires')]
    return entries
