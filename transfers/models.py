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


# ------------------------------------------------------------------------ copy and deletion requests
class RequestStatus(models.TextChoices):
    NEW = 'new'                # recorded; not looked at yet (Dealer for copies, tracking for deletions)
    ACTIVATED = 'activated'    # accepted: its actions are being carried out
    COMPLETED = 'completed'    # every action ended (or there was nothing to do)
    REJECTED = 'rejected'      # refused, with the reason
    CANCELLED = 'cancelled'    # cancelled by its owner or an operator


OPEN_STATUSES = (RequestStatus.NEW, RequestStatus.ACTIVATED)


class ActionStatus(models.TextChoices):
    NEW = 'new'                # wanted at the site, not carried out yet
    QUEUED = 'queued'          # copy: the replica and its transfers exist;
    #                            deletion: the ownership removed, the deletion records made
    COMPLETED = 'completed'    # copy: the replica is complete; deletion: the replica is gone
    FAILED = 'failed'
    CANCELLED = 'cancelled'


class _Request(models.Model):
    user = models.CharField(max_length=150, help_text='who asked (user name)')
    dn = models.CharField(max_length=512, blank=True, default='')
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.NEW)
    reason = models.TextField(blank=True, default='', help_text='why it was rejected or cancelled')
    comment = models.TextField(blank=True, default='')
    site_patterns = models.JSONField(default=list, help_text='the sites as the user typed them')
    # the lists again, in the row: a poll reads them with the request (the item and site tables,
    # below, are what filters and the dedup rule search)
    item_list = models.JSONField(default=list, help_text='the items (datasets or dataset#block)')
    site_list = models.JSONField(default=list, help_text='the sites the patterns named')
    request_count = models.IntegerField(default=1, help_text='times it was asked for (duplicates raise it)')
    first_request = models.DateTimeField()
    last_request = models.DateTimeField()
    updated = models.DateTimeField()

    class Meta:
        abstract = True


class CopyRequest(_Request):
    """Copies of datasets or blocks at sites (§9.1): `num_copies` among the listed sites, 0 meaning
    one at every listed site, owned by `group`."""
    group = models.CharField(max_length=64)
    num_copies = models.IntegerField(default=1)
    note = models.TextField(blank=True, default='', help_text="Dealer's latest word on copies not placed yet")

    class Meta:
        db_table = 'dyn_copy_requests'
        indexes = [models.Index(fields=['status', 'id'], name='dyn_cr_status'),
                   models.Index(fields=['user', 'id'], name='dyn_cr_user')]


class DeletionRequest(_Request):
    """Removal of the replicas of datasets or blocks at the listed sites (§9.2): ownership goes to
    the null group and deletion records are made; never the last complete copy unless
    `allow_last_copy` (granted to admins only)."""
    allow_last_copy = models.BooleanField(default=False)

    class Meta:
        db_table = 'dyn_deletion_requests'
        indexes = [models.Index(fields=['status', 'id'], name='dyn_dr_status'),
                   models.Index(fields=['user', 'id'], name='dyn_dr_user')]


class _Item(models.Model):
    name = models.CharField(max_length=650, help_text='dataset or dataset#block')
    dataset = models.CharField(max_length=512)

    class Meta:
        abstract = True


class CopyRequestItem(_Item):
    request = models.ForeignKey(CopyRequest, on_delete=models.CASCADE, related_name='items')

    class Meta:
        db_table = 'dyn_copy_request_items'
        indexes = [models.Index(fields=['name'], name='dyn_cri_name'),
                   models.Index(fields=['dataset'], name='dyn_cri_dataset')]


class DeletionRequestItem(_Item):
    request = models.ForeignKey(DeletionRequest, on_delete=models.CASCADE, related_name='items')

    class Meta:
        db_table = 'dyn_deletion_request_items'
        indexes = [models.Index(fields=['name'], name='dyn_dri_name'),
                   models.Index(fields=['dataset'], name='dyn_dri_dataset')]


class CopyRequestSite(models.Model):
    request = models.ForeignKey(CopyRequest, on_delete=models.CASCADE, related_name='sites')
    name = models.CharField(max_length=64)

    class Meta:
        db_table = 'dyn_copy_request_sites'
        indexes = [models.Index(fields=['name'], name='dyn_crs_name')]


class DeletionRequestSite(models.Model):
    request = models.ForeignKey(DeletionRequest, on_delete=models.CASCADE, related_name='sites')
    name = models.CharField(max_length=64)

    class Meta:
        db_table = 'dyn_deletion_request_sites'
        indexes = [models.Index(fields=['name'], name='dyn_drs_name')]


class _Action(models.Model):
    item = models.CharField(max_length=650)
    site = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.NEW)
    reason = models.CharField(max_length=255, blank=True, default='')
    updated = models.DateTimeField()

    class Meta:
        abstract = True


class CopyAction(_Action):
    """One copy of one item at one site."""
    request = models.ForeignKey(CopyRequest, on_delete=models.CASCADE, related_name='actions')
    cycle = models.BigIntegerField(null=True, blank=True, help_text='the Dealer cycle that placed it')

    class Meta:
        db_table = 'dyn_copy_actions'
        indexes = [models.Index(fields=['status', 'request'], name='dyn_ca_status')]


class DeletionAction(_Action):
    """The removal of one item at one site."""
    request = models.ForeignKey(DeletionRequest, on_delete=models.CASCADE, related_name='actions')

    class Meta:
        db_table = 'dyn_deletion_actions'
        indexes = [models.Index(fields=['status', 'request'], name='dyn_da_status')]


class RegistryLock(models.Model):
    """One row: requests are created and deduplicated while holding it (select_for_update), so
    that two identical requests arriving at once make one request asked for twice."""
    id = models.IntegerField(primary_key=True)

    class Meta:
        db_table = 'dyn_request_registry_lock'
