"""Writes of the per-replica transfer and deletion records (the decisions' side): recorded by
the commits of Detox, Dealer and the requests, in their transaction."""
from django.utils import timezone

from transfers.models import BlockDeletion, BlockTransfer, OperationState

_BATCH = 2000


def block_transfers_record(*, items, origin, origin_id=None, reason=''):
    """Record a transfer per (site, dataset, block, group) of `items`; returns how many."""
    now = timezone.now()
    rows = [BlockTransfer(site=site, dataset=dataset, block=block, group=group or '', origin=origin,
                          origin_id=origin_id, reason=reason[:255], created=now, updated=now)
            for site, dataset, block, group in items]
    BlockTransfer.objects.bulk_create(rows, batch_size=_BATCH)
    return len(rows)


def block_deletions_record(*, items, origin, origin_id=None, reason=''):
    """Record a deletion per (site, dataset, block) of `items` (reasons per item may follow as a
    fourth element); returns how many."""
    now = timezone.now()
    rows = []
    for item in items:
        site, dataset, block = item[:3]
        why = item[3] if len(item) > 3 else reason
        rows.append(BlockDeletion(site=site, dataset=dataset, block=block, origin=origin, origin_id=origin_id,
                                  reason=(why or '')[:255], created=now, updated=now))
    BlockDeletion.objects.bulk_create(rows, batch_size=_BATCH)
    return len(rows)


def block_operations_cancel(*, model, site, dataset, blocks=None, reason):
    """Cancel the open records of a replica (its replica or its request went away)."""
    rows = model.objects.filter(site=site, dataset=dataset, state__in=[OperationState.NEW, OperationState.ACTIVE])
    if blocks is not None:
        rows = rows.filter(block__in=list(blocks))
    return rows.update(state=OperationState.CANCELLED, reason=reason[:255], updated=timezone.now())
