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


def _literal_prefix(pattern):
    """The text of an fnmatch pattern before its first wildcard."""
    for i, c in enumerate(pattern):
        if c in '*?[':
            return pattern[:i]
    return pattern


def _name_filter(field, values):
    q = Q()
    for value in values:
        if not any(c in value for c in '*?['):
            q |= Q(**{field: value})
        else:
            # fnmatch's '(?s:...)\Z' as a regular expression both databases read; a literal
            # prefix lets the index narrow the rows the expression is tried on
            regex = '^' + fnmatch.translate(value).replace('(?s:', '(', 1)[:-2] + '$'
            prefix = _literal_prefix(value)
            bounds = {f'{field}__gte': prefix, f'{field}__lt': prefix + '\U0010ffff'} if prefix else {}
            q |= Q(**{f'{field}__regex': regex, **bounds})
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


_FIELDS = ('id', 'user', 'dn', 'status', 'reason', 'comment', 'site_patterns', 'item_list', 'site_list',
           'request_count', 'first_request', 'last_request', 'updated')


def _actions(model, ids):
    """{request id: [action dicts]} of the requests `ids`."""
    actions = {i: [] for i in ids}
    action_model = model.actions.rel.related_model
    for rid, item, site, status, reason, updated in (action_model.objects.filter(request_id__in=ids).order_by('id')
                                                     .values_list('request_id', 'item', 'site', 'status', 'reason',
                                                                  'updated')):
        actions[rid].append({'item': item, 'site': site, 'status': status, 'reason': reason, 'updated': _iso(updated)})
    return actions


def _poll(model, fields, *, request_ids=(), items=(), sites=(), statuses=(), users=(), limit=1000, offset=0):
    _check_patterns(items, 'item')
    _check_patterns(sites, 'site')
    if not 0 < limit <= MAX_LIMIT:
        raise RequestError(f'limit must be between 1 and {MAX_LIMIT}')
    qs = _filtered(model, request_ids=request_ids, items=items, sites=sites, statuses=statuses, users=users)
    rows = list(qs.order_by('-id').values(*_FIELDS, *fields)[offset:offset + limit])
    actions = _actions(model, [r['id'] for r in rows])
    return [{'request_id': r['id'], 'item': r['item_list'], 'site': r['site_list'],
             'site_patterns': r['site_patterns'], 'status': r['status'], 'reason': r['reason'], 'user': r['user'],
             'dn': r['dn'], 'comment': r['comment'], 'request_count': r['request_count'],
             'first_request': _iso(r['first_request']), 'last_request': _iso(r['last_request']),
             'updated': _iso(r['updated']), 'actions': actions[r['id']], **{f: r[f] for f in fields}}
            for r in rows]


def copy_requests_poll(**filters):
    """Copy request records, newest first; filters: request_ids, items, sites (names or
    patterns), statuses, users; limit, offset."""
    records = _poll(CopyRequest, ('group', 'num_copies', 'note'), **filters)
    for record in records:
        record['n'] = record.pop('num_copies')
    return records


def deletion_requests_poll(**filters):
    return _poll(DeletionRequest, ('allow_last_copy',), **filters)


def _open_requests(model, statuses, fields):
    rows = list(model.objects.filter(status__in=statuses).order_by('id').values('id', 'status', 'user', 'item_list',
                                                                                'site_list', *fields))
    actions = {r['id']: [] for r in rows}
    action_model = model.actions.rel.related_model
    for row in (action_model.objects.filter(request__status__in=statuses).order_by('id')
                .values_list('id', 'request_id', 'item', 'site', 'status', 'updated')):
        if row[1] in actions:
            actions[row[1]].append([row[0], row[2], row[3], row[4], row[5].timestamp()])
    for r in rows:
        r['items'], r['sites'], r['actions'] = r.pop('item_list'), r.pop('site_list'), actions[r['id']]
    return rows


def copy_requests_open():
    """The new and activated copy requests as plain data, oldest first (what the Dealer's
    requests plugin and the tracking cycle read in their process): dicts of id, status, user,
    group, n, items, sites, actions [id, item, site, status, updated (UNIX time)], note."""
    rows = _open_requests(CopyRequest, OPEN_STATUSES, ('group', 'num_copies', 'note'))
    for r in rows:
        r['n'] = r.pop('num_copies')
    return rows


def deletion_requests_open():
    """The new and activated deletion requests as plain data (as copy_requests_open)."""
    return _open_requests(DeletionRequest, OPEN_STATUSES, ('allow_last_copy',))


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
