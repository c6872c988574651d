"""Reads of the file-operation tables for commands and web modules: tasks by filters, counts per
state and link, link samples over time, site settings."""
from collections import Counter, defaultdict

from django.db.models import Count, Q, Sum

from fileops.models import FileTask, LinkSample, SiteStorage, TaskKind, TaskState

class FilterError(ValueError):
    """A filter value that names nothing (an unknown state or kind, a request that is not a number)."""


def task_query(*, kind=None, site=None, state=None, dataset=None, request=None, ids=None, lfn=None, source=None):
    """A Q over FileTask for the given filters (any may be None). `state` and `site` may be
    comma-separated lists; `dataset` and `lfn` match exactly or, ending with '*', by prefix."""
    q = Q()
    if kind:
        if kind not in TaskKind.values:
            raise FilterError(f'unknown kind {kind!r} (expected {" or ".join(TaskKind.values)})')
        q &= Q(kind=kind)
    if state:
        states = [s.strip() for s in state.split(',') if s.strip()]
        unknown = [s for s in states if s not in TaskState.values]
        if unknown:
            raise FilterError(f'unknown state {unknown[0]!r} (expected one of {", ".join(TaskState.values)})')
        q &= Q(state__in=states)
    if site:
        q &= Q(site__in=[s.strip() for s in site.split(',') if s.strip()])
    if source:
        q &= Q(source=source)
    for name, value in (('dataset', dataset), ('lfn', lfn)):
        if value:
            q &= Q(**{f'{name}__startswith': value[:-1]}) if value.endswith('*') else Q(**{name: value})
    if request is not None and request != '':
        try:
            number = int(request)
        except (TypeError, ValueError):
            raise FilterError(f'request {request!r} is not a request number') from None
        q &= _of_request(number)
    if ids:
        q &= Q(id__in=list(ids))
    return q


def _of_request(number):
    """Tasks of copy request `number` (its items at the sites of its actions: Dealer places them)
    or of deletion request `number` (the deletion records its tracking left)."""
    from transfers.models import CopyAction
    copies = Q(pk__in=[])
    for item, site in CopyAction.objects.filter(request_id=number).values_list('item', 'site'):
        dataset, _, block = item.partition('#')
        copies |= Q(site=site, dataset=dataset, **({'block': block} if block else {}))
    return (Q(kind=TaskKind.TRANSFER) & copies) | Q(kind=TaskKind.DELETION, deletion__origin='request',
                                                   deletion__origin_id=number)


_FIELDS = ('id', 'kind', 'state', 'site', 'source', 'lfn', 'dataset', 'block', 'size', 'checksum', 'attempts',
           'interruptions', 'executor', 'external_id', 'outcome', 'seconds', 'reason', 'error_kind', 'applied',
           'created', 'queued_at', 'started', 'finished', 'retry_at', 'pfn', 'source_pfn', 'transfer_id',
           'deletion_id', 'origin')


def task_rows(query, *, limit=1000, offset=0):
    """Task records as dicts (newest first)."""
    rows = FileTask.objects.filter(query).order_by('-id').values(*_FIELDS)[offset:offset + limit]
    return [_row(r) for r in rows]


def _row(r):
    out = dict(r)
    for key in ('created', 'queued_at', 'started', 'finished', 'retry_at'):
        if out[key] is not None:
            out[key] = out[key].isoformat()
    if out['seconds'] is not None:
        out['seconds'] = round(out['seconds'], 3)
    return out


def task_count(query):
    return FileTask.objects.filter(query).count()


def state_counts(query=Q()):
    """{kind: {state: n}} of the tasks matching `query`."""
    counts = defaultdict(Counter)
    for kind, state, n in FileTask.objects.filter(query).values_list('kind', 'state').annotate(n=Count('id')).order_by():
        counts[kind][state] = n
    return {kind: dict(c) for kind, c in counts.items()}


def links_now():
    """Per link (kind, source, site): tasks queued, active, failed and held now."""
    rows = defaultdict(Counter)
    for kind, source, site, state, n, size in (
            FileTask.objects.filter(state__in=(TaskState.QUEUED, TaskState.ACTIVE, TaskState.FAILED, TaskState.HELD))
            .values_list('kind', 'source', 'site', 'state').annotate(n=Count('id'), b=Sum('size')).order_by()):
        row = rows[(kind, source, site)]
        row[state] += n
        if state in (TaskState.QUEUED, TaskState.ACTIVE):
            row['bytes_waiting'] += size or 0
    return [{'kind': k, 'source': s, 'site': d, **{st: c.get(st, 0) for st in ('queued', 'active', 'failed', 'held')},
             'bytes_waiting': c.get('bytes_waiting', 0)} for (k, s, d), c in sorted(rows.items())]


def link_history(*, since, site=None, kind=None):
    """Link samples since `since`: [{time, kind, source, site, queued, active, done, failed, bytes,
    rate (files/s), throughput (bytes/s)}], oldest first."""
    qs = LinkSample.objects.filter(time__gte=since)
    if site:
        qs = qs.filter(Q(site=site) | Q(source=site))
    if kind:
        qs = qs.filter(kind=kind)
    out = []
    for s in qs.order_by('time', 'kind', 'source', 'site'):
        seconds = s.seconds or 60.0
        out.append({'time': s.time.isoformat(), 'kind': s.kind, 'source': s.source, 'site': s.site,
                    'queued': s.queued, 'active': s.active, 'done': s.done, 'failed': s.failed, 'bytes': s.bytes,
                    'rate': round(s.done / seconds, 3), 'throughput': round(s.bytes / seconds, 1)})
    return out


def site_storage(site):
    return SiteStorage.objects.filter(site=site).first()
