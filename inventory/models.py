"""Persistence of the inventory. Rows are written only by inventory.store (through the write path).

Foreign keys are not enforced by the database: the RAM image is the integrity authority and the
store writes each change set in one transaction, deletes before upserts.

Ids of datasets, blocks, files, sites, groups and partitions are assigned by the RAM image (the
single writer), so they are plain primary keys, not auto-increment. Enumerations are stored as
their integer values; sizes in bytes; times as UNIX seconds.
"""
from django.db import models

from inventory.objects import (DataType, DatasetStatus, OwnershipLevel, SiteStatus, StorageType)


def _choices(enum_cls):
    return [(m.value, m.name.lower()) for m in enum_cls]


class Partition(models.Model):
    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=64, unique=True)
    condition = models.TextField(db_column='condition_text', blank=True, default='')
    subpartitions = models.TextField(blank=True, default='', help_text='comma-separated names')

    class Meta:
        db_table = 'dyn_partitions'

    def __str__(self):
        return self.name


class Site(models.Model):
    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255, blank=True, default='')
    storage_type = models.SmallIntegerField(choices=_choices(StorageType), default=StorageType.DISK)
    backend = models.CharField(max_length=255, blank=True, default='')
    status = models.SmallIntegerField(choices=_choices(SiteStatus), default=SiteStatus.UNKNOWN)
    filename_mapping = models.TextField(blank=True, default='{}', help_text='JSON')
    x509proxy = models.CharField(max_length=512, null=True, blank=True)

    class Meta:
        db_table = 'dyn_sites'

    def __str__(self):
        return self.name


class Quota(models.Model):
    site = models.ForeignKey(Site, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name='quotas')
    partition = models.ForeignKey(Partition, on_delete=models.DO_NOTHING, db_constraint=False, related_name='quotas')
    quota = models.BigIntegerField(default=0, help_text='bytes; 0 = none, negative = unlimited')

    class Meta:
        db_table = 'dyn_quotas'
        constraints = [models.UniqueConstraint(fields=['site', 'partition'], name='dyn_quota_site_partition')]

    def __str__(self):
        return f'{self.site} / {self.partition}'


class Group(models.Model):
    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=64, unique=True)
    olevel = models.SmallIntegerField(choices=_choices(OwnershipLevel), default=OwnershipLevel.BLOCK)

    class Meta:
        db_table = 'dyn_groups'

    def __str__(self):
        return self.name


class Dataset(models.Model):
    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=512, unique=True)
    status = models.SmallIntegerField(choices=_choices(DatasetStatus), default=DatasetStatus.UNKNOWN)
    data_type = models.SmallIntegerField(choices=_choices(DataType), default=DataType.UNKNOWN)
    software_version = models.CharField(max_length=255, null=True, blank=True, help_text='JSON')
    last_update = models.BigIntegerField(default=0)
    is_open = models.BooleanField(default=True)

    class Meta:
        db_table = 'dyn_datasets'

    def __str__(self):
        return self.name


class Block(models.Model):
    id = models.IntegerField(primary_key=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name='blocks')
    name = models.CharField(max_length=128)
    size = models.BigIntegerField(default=0)
    num_files = models.IntegerField(default=0)
    is_open = models.BooleanField(default=False)
    last_update = models.BigIntegerField(default=0)

    class Meta:
        db_table = 'dyn_blocks'
        constraints = [models.UniqueConstraint(fields=['dataset', 'name'], name='dyn_block_dataset_name')]

    def __str__(self):
        return f'{self.dataset_id}#{self.name}'


class File(models.Model):
    id = models.BigIntegerField(primary_key=True)
    block = models.ForeignKey(Block, on_delete=models.DO_NOTHING, db_constraint=False, related_name='files')
    name = models.CharField(max_length=512, unique=True)
    size = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=255, blank=True, default='', help_text='JSON pairs')

    class Meta:
        db_table = 'dyn_files'

    def __str__(self):
        return self.name


class DatasetReplica(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name='replicas')
    site = models.ForeignKey(Site, on_delete=models.DO_NOTHING, db_constraint=False, related_name='dataset_replicas')
    growing = models.BooleanField(default=False)
    group = models.ForeignKey(Group, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, null=True, blank=True,
                              related_name='+', help_text='empty = the null group')

    class Meta:
        db_table = 'dyn_dataset_replicas'
        constraints = [models.UniqueConstraint(fields=['dataset', 'site'], name='dyn_dr_dataset_site')]

    def __str__(self):
        return f'{self.dataset} at {self.site}'


class BlockReplica(models.Model):
    block = models.ForeignKey(Block, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name='replicas')
    site = models.ForeignKey(Site, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name='block_replicas')
    group = models.ForeignKey(Group, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, null=True, blank=True,
                              related_name='+', help_text='empty = the null group')
    is_custodial = models.BooleanField(default=False)
    is_complete = models.BooleanField(default=True)
    size = models.BigIntegerField(null=True, blank=True, help_text='bytes present when incomplete')
    last_update = models.BigIntegerField(default=0)

    class Meta:
        db_table = 'dyn_block_replicas'
        constraints = [models.UniqueConstraint(fields=['block', 'site'], name='dyn_br_block_site')]
        indexes = [models.Index(fields=['site'], name='dyn_br_site')]

    def __str__(self):
        return f'{self.block} at {self.site}'


class BlockReplicaFile(models.Model):
    """Files present in an incomplete block replica (complete replicas have no rows)."""
    block = models.ForeignKey(Block, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name='+')
    site = models.ForeignKey(Site, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name='+')
    file = models.ForeignKey(File, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name='+')

    class Meta:
        db_table = 'dyn_block_replica_files'
        constraints = [models.UniqueConstraint(fields=['file', 'site'], name='dyn_brf_file_site')]
        indexes = [models.Index(fields=['block', 'site'], name='dyn_brf_block_site')]


class InventoryState(models.Model):
    """Singleton row: the sequence number of the last applied change set; its row lock is the
    cluster-wide write lock."""
    id = models.SmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    digest = models.CharField(max_length=64, blank=True, default='',
                              help_text='chained digest of every change set up to seq')
    updated = models.DateTimeField(null=True)
    # the cluster's writer lease: held by the server running a write application (or applying a
    # write) so that at most one writer works on the image at a time, cluster-wide
    writer = models.CharField(max_length=255, blank=True, default='')
    writer_expires = models.DateTimeField(null=True, blank=True)
    # failover: the cluster epoch, and the database of the primary of that epoch (JSON; empty = this
    # database's own server). A new primary writes both into every database it can reach (fencing).
    epoch = models.IntegerField(default=0)
    primary_at = models.CharField(max_length=512, blank=True, default='')

    class Meta:
        db_table = 'dyn_inventory_state'


class ChangeSet(models.Model):
    """One applied change set: the ordered, id-resolved operations, replayable by any server."""
    seq = models.BigIntegerField(primary_key=True)
    origin = models.CharField(max_length=255)
    applied_at = models.DateTimeField()
    num_changes = models.IntegerField()
    digest = models.CharField(max_length=64, blank=True, default='',
                              help_text='sha256(previous digest + this change set\'s log chunks)')

    class Meta:
        db_table = 'dyn_change_sets'

    def __str__(self):
        return f'#{self.seq} {self.origin}'


class ChangeSetChunk(models.Model):
    changeset = models.ForeignKey(ChangeSet, on_delete=models.CASCADE, related_name='chunks')
    index = models.IntegerField()
    data = models.TextField(help_text='JSON list of [op, object]')

    class Meta:
        db_table = 'dyn_change_set_chunks'
        constraints = [models.UniqueConstraint(fields=['changeset', 'index'], name='dyn_csc_index')]
