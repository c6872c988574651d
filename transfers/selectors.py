"""Reads of the requests' registry (polls, what the Dealer and the tracking cycle work on) and a
catalog of the inventory store for the command line. Nothing here writes."""
import fnmatch
import re

from django.db.models import Q

from inventory import models as store_models
from transfers.models import (OPEN_STATUSES, ActionStatus, CopyAction, CopyRequest, DeletionAction,
                              DeletionRequest, RequestStatus)
from transfers.resolve import RequestError

MAX_LIMIT = 10000


class StoreCatalog:
    """The inventory store's tables (this server's database) as a resolve catalog."""

    def dataset_blocks(self, dataset):
        found = store_models.Dataset.objects.filter(name=dataset).values_list('id', flat=True).first()
        if found is None:
            return None
        return set(store_models.Block.objects.filter(dataset_id=found).values_list('name', flat=True))

    def has_block(self, dataset, block):
        return store_models.Block.objects.filter(dataset__name=dataset, name=block).exists()

    def site_names(self):
        return sorted(store_models.Site.objects.values_list('name', flat=True))

    def has_group(self, name):
        return store_models.Group.objects.filter(name=name).exists()


def _iso(t):
    return t.isoformat() if t else None


def _name_filter(field, values):
    q = Q()
    for value in values:
        if not any(c in value for c in '*?['):
            q |= Q(**{field: value})
        else:
            # fnmatch's '(?s:...)\Z' as a regular expression both databases read
            regex = '^' + fnmatch.translate(value).replace('(?s:', '(', 1)[:-2] + '$'
            q |= Q(**{f'{field}__regex': regex})
    return q


def _filtered(model, *, request_ids, items, sites, statuses, users):
    qs = model.objects.all()
    if request_ids:
        qs = qs.filter(id__in=request_ids)
    if statuses:
        bad = [s for s in statuses if s not in RequestStatus.values]
        if bad:
            raise RequestError(f'unknown status {bad[0]} (expected one of {", ".join(RequestStatus.values)})')
        qs = qs.filter(status__in=statuses)
    if users:
        qs = qs.filter(user__in=users)
    if items:
        # an item matches requests naming it, and a dataset also requests for its blocks
        qs = qs.filter(id__in=model.items.rel.related_model.objects.filter(
            _name_filter('name', items) | _name_filter('dataset', items)).values('request'))
    if sites:
        qs = qs.filter(id__in=model.sites.rel.related_model.objects.filter(_name_filter('name', sites))
                       .values('request'))
    return qs


def _check_patterns(values, name):
    for value in values:
        if len(value) > 1024 or value.count('*') > 16:
            raise RequestError(f'the {name} pattern {value[:40]!r} is too long or has too many "*"')
        try:
            re.compile(fnmatch.translate(value))
        except re.error:
            raise RequestError(f'invalid {name} pattern {value!r}') from None


def _poll(model, *, request_ids=(), items=(), sites=(), statuses=(), users=(), limit=1000, offset=0):
    _check_patterns(items, 'item')
    _check_patterns(sites, 'site')
    if not 0 < limit <= MAX_LIMIT:
        raise RequestError(f'limit must be between 1 and {MAX_LIMIT}')
    qs = _filtered(model, request_ids=request_ids, items=items, sites=sites, statuses=statuses, users=users)
    rows = list(qs.order_by('-id')[offset:offset + limit])
    ids = [r.id for r in rows]
    item_model = model.items.rel.related_model
    site_model = model.sites.rel.related_model
    action_model = model.actions.rel.related_model
    lists = {i: ([], [], []) for i in ids}
    for rid, name in item_model.objects.filter(request_id__in=ids).order_by('id').values_list('request_id', 'name'):
        lists[rid][0].append(name)
    for rid, name in site_model.objects.filter(request_id__in=ids).order_by('id').values_list('request_id', 'name'):
        lists[rid][1].append(name)
    for rid, item, site, status, reason, updated in (action_model.objects.filter(request_id__in=ids).order_by('id')
                                                     .values_list('request_id', 'item', 'site', 'status', 'reason',
                                                                  'updated')):
        lists[rid][2].append({'item': item, 'site': site, 'status': status, 'reason': reason,
                              'updated': _iso(updated)})
    return rows, lists


def _record(request, lists):
    items, sites, actions = lists
    return {'request_id': request.id, 'item': items, 'site': sites, 'site_patterns': request.site_patterns,
            'status': request.status, 'reason': request.reason, 'user': request.user, 'dn': request.dn,
            'comment': request.comment, 'request_count': request.request_count,
            'first_request': _iso(request.first_request), 'last_request': _iso(request.last_request),
            'updated': _iso(request.updated), 'actions': actions}


def copy_requests_poll(**filters):
    """Copy request records, newest first; filters: request_ids, items, sites (names or
    patterns), statuses, users; limit, offset."""
    rows, lists = _poll(CopyRequest, **filters)
    records = []
    for r in rows:
        record = _record(r, lists[r.id])
        record.update(group=r.group, n=r.num_copies, note=r.note)
        records.append(record)
    return records


def deletion_requests_poll(**filters):
    rows, lists = _poll(DeletionRequest, **filters)
    records = []
    for r in rows:
        record = _record(r, lists[r.id])
        record['allow_last_copy'] = r.allow_last_copy
        records.append(record)
    return records


def _open_requests(model, statuses):
    rows = list(model.objects.filter(status__in=statuses).order_by('id'))
    lists = {r.id: ([], [], []) for r in rows}
    item_model = model.items.rel.related_model
    site_model = model.sites.rel.related_model
    action_model = model.actions.rel.related_model
    open_ids = model.objects.filter(status__in=statuses).values('id')
    for rid, name in item_model.objects.filter(request_id__in=open_ids).order_by('id').values_list('request_id', 'name'):
        if rid in lists:
            lists[rid][0].append(name)
    for rid, name in site_model.objects.filter(request_id__in=open_ids).order_by('id').values_list('request_id', 'name'):
        if rid in lists:
            lists[rid][1].append(name)
    for row in (action_model.objects.filter(request_id__in=open_ids).order_by('id')
                .values_list('id', 'request_id', 'item', 'site', 'status', 'updated')):
        if row[1] in lists:
            lists[row[1]][2].append([row[0], row[2], row[3], row[4], row[5].timestamp()])
    return rows, lists


def copy_requests_open():
    """The new and activated copy requests as plain data, oldest first (what the Dealer's
    requests plugin and the tracking cycle read in their process): dicts of id, status, group,
    n, items, sites, actions [id, item, site, status, updated (UNIX time)], note."""
    rows, lists = _open_requests(CopyRequest, OPEN_STATUSES)
    return [{'id': r.id, 'status': r.status, 'user': r.user, 'group': r.group, 'n': r.num_copies,
             'items': lists[r.id][0], 'sites': lists[r.id][1], 'actions': lists[r.id][2], 'note': r.note}
            for r in rows]


def deletion_requests_open():
    """The new and activated deletion requests as plain data (as copy_requests_open)."""
    rows, lists = _open_requests(DeletionRequest, OPEN_STATUSES)
    return [{'id': r.id, 'status': r.status, 'user': r.user, 'allow_last_copy': r.allow_last_copy,
             'items': lists[r.id][0], 'sites': lists[r.id][1], 'actions': lists[r.id][2]}
            for r in rows]


def request_counts():
    """{'copy': {status: n}, 'deletion': {status: n}, 'actions': {...}}."""
    from django.db.models import Count
    out = {}
    for key, model in (('copy', CopyRequest), ('deletion', DeletionRequest)):
        out[key] = dict(model.objects.values_list('status').annotate(n=Count('id')).values_list('status', 'n'))
    for key, model in (('copy_actions', CopyAction), ('deletion_actions', DeletionAction)):
        out[key] = dict(model.objects.exclude(status=ActionStatus.COMPLETED).values_list('status')
                        .annotate(n=Count('id')).values_list('status', 'n'))
    return out
