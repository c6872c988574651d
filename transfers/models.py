"""The per-replica records the decisions leave for the file operations: a block replica to fill
at a site (a transfer: made by Dealer or a copy request) and a block replica whose files are to be
removed from a site (a deletion: made by Detox or a deletion request). The file operations
(fileops/) execute them; the updater closes them when the inventory shows the result.

They are the cluster's tables (execution/routers.py): every server sees the same queue.
"""
from django.db import models


class OperationState(models.TextChoices):
    NEW = 'new'                # recorded; no file task made yet
    ACTIVE = 'active'          # file tasks exist for it
    DONE = 'done'              # the block replica is complete (transfer) or gone (deletion)
    CANCELLED = 'cancelled'    # the replica or the request went away before the end
    FAILED = 'failed'          # some file could not be moved: see its file tasks (held, with the reason)


class _BlockOperation(models.Model):
    site = models.CharField(max_length=64)
    dataset = models.CharField(max_length=512)
    block = models.CharField(max_length=128)
    state = models.CharField(max_length=16, choices=OperationState.choices, default=OperationState.NEW)
    origin = models.CharField(max_length=32, help_text='what decided it: detox, dealer, request, consistency, ...')
    origin_id = models.BigIntegerField(null=True, blank=True, help_text='the cycle or request that decided it')
    reason = models.CharField(max_length=255, blank=True, default='', help_text='why (the policy line, the plugin)')
    created = models.DateTimeField()
    updated = models.DateTimeField()

    class Meta:
        abstract = True

    def __str__(self):
        return f'{self.dataset}#{self.block} at {self.site} ({self.state})'


class BlockTransfer(_BlockOperation):
    """Fill the block replica (dataset#block at site) with every file of its block."""
    group = models.CharField(max_length=64, blank=True, default='', help_text='owner of the new replica')

    class Meta:
        db_table = 'dyn_block_transfers'
        indexes = [models.Index(fields=['state', 'id'], name='dyn_bt_state'),
                   models.Index(fields=['site', 'state'], name='dyn_bt_site'),
                   models.Index(fields=['dataset', 'block', 'site'], name='dyn_bt_item')]


class BlockDeletion(_BlockOperation):
    """Remove every file of the block replica (dataset#block at site) from the site's storage.
    The replica is owned by the null group from the decision on (it left its partition then)."""

    class Meta:
        db_table = 'dyn_block_deletions'
        indexes = [models.Index(fields=['state', 'id'], name='dyn_bd_state'),
                   models.Index(fields=['site', 'state'], name='dyn_bd_site'),
                   models.Index(fields=['dataset', 'block', 'site'], name='dyn_bd_item')]
