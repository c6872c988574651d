"""Writes of the transfers app: the per-replica transfer and deletion records (the decisions'
side, recorded by the commits of Detox, Dealer and the requests, in their transaction) and the
registry of copy and deletion requests (written by the web, the command line, the Dealer's commit
and the tracking cycle). Nothing here reads or changes the inventory."""
from django.db import connections, transaction
from django.db.models import Count
from django.utils import timezone

from transfers.models import (OPEN_STATUSES, ActionStatus, BlockDeletion, BlockTransfer, CopyAction, CopyRequest,
                              CopyRequestItem, CopyRequestSite, DeletionAction, DeletionRequest,
                              DeletionRequestItem, DeletionRequestSite, OperationState, RegistryLock,
                              RequestStatus)
from transfers.resolve import NotAllowed, RequestError

_BATCH = 2000


def _insert(model, columns, rows):
    """Multi-row INSERTs of plain tuples (no model instance per row: a Detox commit records tens of
    thousands, and building them cost more than the statement)."""
    if not rows:
        return 0
    table = model._meta.db_table
    connection = connections[model.objects.db]
    quote = connection.ops.quote_name
    sql = f'INSERT INTO {quote(table)} ({", ".join(quote(c) for c in columns)}) VALUES ({", ".join(["%s"] * len(columns))})'
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _BATCH):
            cursor.executemany(sql, rows[start:start + _BATCH])
    return len(rows)


_STATE_COLUMNS = ('state', 'origin', 'origin_id', 'created', 'updated')


def block_transfers_record(*, items, origin, origin_id=None, reason=''):
    """Record a transfer per (site, dataset, block, group) of `items`; returns how many."""
    now = connections[BlockTransfer.objects.db].ops.adapt_datetimefield_value(timezone.now())
    rows = [(site, dataset, block, group or '', reason[:255], OperationState.NEW.value, origin, origin_id, now, now)
            for site, dataset, block, group in items]
    return _insert(BlockTransfer, ('site', 'dataset', 'block', 'group', 'reason') + _STATE_COLUMNS, rows)


def block_deletions_record(*, items, origin, origin_id=None, reason=''):
    """Record a deletion per (site, dataset, block) of `items` (reasons per item may follow as a
    fourth element); returns how many."""
    now = connections[BlockDeletion.objects.db].ops.adapt_datetimefield_value(timezone.now())
    rows = [(item[0], item[1], item[2], ((item[3] if len(item) > 3 else reason) or '')[:255], OperationState.NEW.value,
             origin, origin_id, now, now) for item in items]
    return _insert(BlockDeletion, ('site', 'dataset', 'block', 'reason') + _STATE_COLUMNS, rows)


def block_operations_cancel(*, model, site, dataset, blocks=None, reason):
    """Cancel the open records of a replica (its replica or its request went away)."""
    rows = model.objects.filter(site=site, dataset=dataset, state__in=[OperationState.NEW, OperationState.ACTIVE])
    if blocks is not None:
        rows = rows.filter(block__in=list(blocks))
    return rows.update(state=OperationState.CANCELLED, reason=reason[:255], updated=timezone.now())


# ------------------------------------------------------------------------ copy and deletion requests
REQUEST_ROLES = ('user', 'operator', 'admin')     # on target `request`: may ask for deletions
CONTROL_ROLES = ('operator', 'admin')             # on target `request`: may cancel anyone's request


def _lock():
    RegistryLock.objects.select_for_update().get_or_create(id=1)


def _containing(model, item_model, site_model, items, sites):
    """Open requests whose item and site lists contain all of `items` and `sites`, oldest first."""
    names = sorted({i.name for i in items})
    with_items = (item_model.objects.filter(request__status__in=OPEN_STATUSES, name__in=names)
                  .values('request').annotate(n=Count('name', distinct=True)).filter(n=len(names))
                  .values('request'))
    with_sites = (site_model.objects.filter(request__status__in=OPEN_STATUSES, name__in=sites)
                  .values('request').annotate(n=Count('name', distinct=True)).filter(n=len(set(sites)))
                  .values('request'))
    return list(model.objects.filter(id__in=with_items).filter(id__in=with_sites).order_by('id'))


def _set_lists(request, item_model, site_model, items, sites):
    request.item_list, request.site_list = [i.name for i in items], list(sites)
    request.save(update_fields=['item_list', 'site_list'])
    item_model.objects.filter(request=request).delete()
    site_model.objects.filter(request=request).delete()
    item_model.objects.bulk_create([item_model(request=request, name=i.name, dataset=i.dataset) for i in items])
    site_model.objects.bulk_create([site_model(request=request, name=s) for s in sites])


def copy_request_create(*, user, items, sites, site_patterns, group, num_copies, dn='', comment='',
                        request_id=None):
    """Record a copy request (§9.1); returns (request, what): 'created', 'updated' (request_id of
    a new request given) or 'duplicate' (an open request whose lists contain all the items and
    sites was asked for again: its count rises; when it is still new, its group, n and comment
    become these). `items` are resolve.Item, `sites` expanded site names."""
    now = timezone.now()
    with transaction.atomic(using=CopyRequest.objects.db):
        _lock()
        if request_id is not None:
            request = CopyRequest.objects.select_for_update().filter(id=request_id).first()
            if request is None:
                raise RequestError(f'no copy request {request_id}')
            if request.status != RequestStatus.NEW:
                raise RequestError(f'copy request {request_id} is {request.status}: only a new request can be updated')
            if request.user != user:
                raise NotAllowed(f'copy request {request_id} belongs to {request.user}')
            request.group, request.num_copies, request.site_patterns = group, num_copies, list(site_patterns)
            request.comment = comment or request.comment
            request.last_request = request.updated = now
            request.save()
            _set_lists(request, CopyRequestItem, CopyRequestSite, items, sites)
            return request, 'updated'
        existing = _containing(CopyRequest, CopyRequestItem, CopyRequestSite, items, sites)
        if existing:
            new = [r for r in existing if r.status == RequestStatus.NEW]
            request = new[0] if new else existing[-1]
            request.request_count += 1
            request.last_request = request.updated = now
            if request.status == RequestStatus.NEW:
                request.group, request.num_copies = group, num_copies
                request.comment = comment or request.comment
            request.save()
            return request, 'duplicate'
        request = CopyRequest.objects.create(user=user, dn=dn or '', group=group, num_copies=num_copies,
                                             comment=comment or '', site_patterns=list(site_patterns),
                                             first_request=now, last_request=now, updated=now)
        _set_lists(request, CopyRequestItem, CopyRequestSite, items, sites)
        return request, 'created'


def _may_control(caller, request):
    return caller.name == request.user or caller.has_any_role(CONTROL_ROLES, 'request')


def _cancel(model, action_model, *, request_id, caller, reason=''):
    with transaction.atomic(using=model.objects.db):
        request = model.objects.select_for_update().filter(id=request_id).first()
        if request is None:
            raise RequestError(f'no {model._meta.verbose_name} {request_id}')
        if not _may_control(caller, request):
            raise NotAllowed(f'request {request_id} belongs to {request.user}: only its owner or an operator '
                             f'or admin of target request may cancel it')
        if request.status not in OPEN_STATUSES:
            raise RequestError(f'request {request_id} is {request.status}: only new or activated requests '
                               f'can be cancelled')
        now = timezone.now()
        request.status = RequestStatus.CANCELLED
        request.reason = reason or f'cancelled by {caller.name}'
        request.updated = now
        request.save(update_fields=['status', 'reason', 'updated'])
        action_model.objects.filter(request=request, status__in=[ActionStatus.NEW, ActionStatus.QUEUED]).update(
            status=ActionStatus.CANCELLED, reason=request.reason[:255], updated=now)
        return request


def copy_request_cancel(*, request_id, caller, reason=''):
    """Cancel a new or activated copy request (its owner, or an operator/admin of target
    request). Replicas already made stay with their owner; Detox decides about them."""
    return _cancel(CopyRequest, CopyAction, request_id=request_id, caller=caller, reason=reason)


def deletion_request_create(*, caller, items, sites, site_patterns, allow_last_copy=False, comment=''):
    """Record a deletion request (§9.2) of `caller` (a Caller); returns (request, 'created' or
    'duplicate'). Only users with a role on target request may ask; allowing the deletion of a
    last complete copy needs the admin role. The tracking cycle carries it out."""
    if not caller.has_any_role(REQUEST_ROLES, 'request'):
        raise NotAllowed(f'{caller.name} needs a role (user, operator or admin) on target request to ask '
                         f'for deletions')
    if allow_last_copy and not caller.has_role('admin', 'request'):
        raise NotAllowed(f'{caller.name} needs the admin role to delete last copies (allow_last_copy)')
    now = timezone.now()
    with transaction.atomic(using=DeletionRequest.objects.db):
        _lock()
        existing = _containing(DeletionRequest, DeletionRequestItem, DeletionRequestSite, items, sites)
        existing = [r for r in existing if r.allow_last_copy == bool(allow_last_copy)]
        if existing:
            new = [r for r in existing if r.status == RequestStatus.NEW]
            request = new[0] if new else existing[-1]
            request.request_count += 1
            request.last_request = request.updated = now
            request.save(update_fields=['request_count', 'last_request', 'updated'])
            return request, 'duplicate'
        request = DeletionRequest.objects.create(user=caller.name, dn=caller.dn or '', comment=comment or '',
                                                 site_patterns=list(site_patterns),
                                                 allow_last_copy=bool(allow_last_copy),
                                                 first_request=now, last_request=now, updated=now)
        _set_lists(request, DeletionRequestItem, DeletionRequestSite, items, sites)
        return request, 'created'


def deletion_request_cancel(*, request_id, caller, reason=''):
    """Cancel a deletion request that is still new (an activated one has already removed the
    ownership; its file deletions are under way)."""
    request = DeletionRequest.objects.filter(id=request_id).first()
    if request is not None and request.status == RequestStatus.ACTIVATED:
        raise RequestError(f'deletion request {request_id} is already being carried out')
    return _cancel(DeletionRequest, DeletionAction, request_id=request_id, caller=caller, reason=reason)


def _update_actions(model, updates, now):
    changed = 0
    for status in sorted({u[1] for u in updates}):
        for reason in sorted({u[2] for u in updates if u[1] == status}):
            ids = [u[0] for u in updates if u[1] == status and u[2] == reason]
            for start in range(0, len(ids), _BATCH):
                changed += model.objects.filter(id__in=ids[start:start + _BATCH], status=ActionStatus.QUEUED).update(
                    status=status, reason=reason[:255], updated=now)
    return changed


def _set_status(model, ids, status, *, reason='', from_statuses, now):
    changed = 0
    ids = list(ids)
    for start in range(0, len(ids), _BATCH):
        changed += model.objects.filter(id__in=ids[start:start + _BATCH], status__in=from_statuses).update(
            status=status, updated=now, **({'reason': reason} if reason else {}))
    return changed


def requests_track_apply(*, copy_actions=(), copy_complete=(), deletion_executed=None, deletion_reject=(),
                         deletion_nothing=(), deletion_actions=(), deletion_complete=()):
    """What a request tracking cycle decided (transfers/tracking.py), in the caller's transaction:
    copy actions [[id, status, reason]] and completed copy requests; deletion requests carried out
    ({request id: [(item, site)]}: activated, one queued action per pair), refused [[id, reason]],
    with nothing to delete, their actions and completions. Requests cancelled meanwhile are left alone."""
    now = timezone.now()
    counts = {'copy_actions_updated': _update_actions(CopyAction, list(copy_actions), now),
              'copy_requests_completed': _set_status(CopyRequest, copy_complete, RequestStatus.COMPLETED,
                                                     from_statuses=[RequestStatus.ACTIVATED], now=now)}
    executed = deletion_executed or {}
    activated = DeletionRequest.objects.filter(id__in=list(executed), status=RequestStatus.NEW)
    activated_ids = set(activated.values_list('id', flat=True))
    _set_status(DeletionRequest, activated_ids, RequestStatus.ACTIVATED, from_statuses=[RequestStatus.NEW], now=now)
    DeletionAction.objects.bulk_create([DeletionAction(request_id=rid, item=item, site=site, status=ActionStatus.QUEUED,
                                                       updated=now)
                                        for rid in sorted(activated_ids) for item, site in executed[rid]],
                                       batch_size=_BATCH)
    rejected = 0
    for request_id, reason in deletion_reject:
        rejected += _set_status(DeletionRequest, [request_id], RequestStatus.REJECTED, reason=reason,
                                from_statuses=[RequestStatus.NEW], now=now)
    counts.update(
        deletion_requests_activated=len(activated_ids), deletion_requests_rejected=rejected,
        deletion_actions_updated=_update_actions(DeletionAction, list(deletion_actions), now),
        deletion_requests_completed=(
            _set_status(DeletionRequest, deletion_nothing, RequestStatus.COMPLETED, reason='nothing to delete',
                        from_statuses=[RequestStatus.NEW], now=now)
            + _set_status(DeletionRequest, deletion_complete, RequestStatus.COMPLETED,
                          from_statuses=[RequestStatus.ACTIVATED], now=now)))
    return counts


def copy_requests_after_cycle(data, *, cycle_id):
    """The requests plugin's part of a Dealer cycle's commit, in its transaction: `data` is what
    the plugin returned (dealer/plugins/requests.py): requests rejected [[id, reason]], completed
    (nothing to do) [[id, reason]], activated [ids], copies placed [[request id, item, site]]
    (a queued action each) and notes [[id, text]] on copies not placed. Requests cancelled since
    the cycle read them are left alone."""
    now = timezone.now()
    counts = {'rejected': 0, 'completed': 0}
    for key, status in (('reject', RequestStatus.REJECTED), ('complete', RequestStatus.COMPLETED)):
        for request_id, reason in data.get(key, ()):
            counts['rejected' if key == 'reject' else 'completed'] += _set_status(
                CopyRequest, [request_id], status, reason=reason, from_statuses=[RequestStatus.NEW], now=now)
    counts['activated'] = _set_status(CopyRequest, data.get('activate', ()), RequestStatus.ACTIVATED,
                                      from_statuses=[RequestStatus.NEW], now=now)
    placed = data.get('placed', ())
    live = set(CopyRequest.objects.filter(id__in=sorted({p[0] for p in placed}), status=RequestStatus.ACTIVATED)
               .values_list('id', flat=True))
    CopyAction.objects.bulk_create([CopyAction(request_id=rid, item=item, site=site, status=ActionStatus.QUEUED,
                                               cycle=cycle_id, updated=now)
                                    for rid, item, site in placed if rid in live], batch_size=_BATCH)
    counts['placed'] = sum(1 for p in placed if p[0] in live)
    for request_id, note in data.get('notes', ()):
        CopyRequest.objects.filter(id=request_id).update(note=note)
    return counts
