"""The file operations' own tables: one task per file to copy or delete, the storage settings of a
site that are not in the inventory (executor, limits), per-link samples over time, and the reports
of consistency checks. Rows are written by fileops.services only.

They are cluster tables (settings.DYNAMO_CLUSTER_APPS): every server and worker sees one queue.
"""
from django.db import models

from transfers.models import BlockDeletion, BlockTransfer


class TaskKind(models.TextChoices):
    TRANSFER = 'transfer'
    DELETION = 'deletion'


class TaskState(models.TextChoices):
    NEW = 'new'              # made from a transfer or deletion record; no source chosen yet
    QUEUED = 'queued'        # source chosen (transfers), waiting for a worker
    ACTIVE = 'active'        # a worker holds it (claim, lease)
    DONE = 'done'            # on storage; `applied` once the updater has put it in the inventory
    FAILED = 'failed'        # the last attempt failed; retried from `retry_at` on, or held
    HELD = 'held'            # given up, with the reason: released by an operator only
    CANCELLED = 'cancelled'  # its record, replica or request went away


OPEN_STATES = (TaskState.NEW, TaskState.QUEUED, TaskState.ACTIVE, TaskState.FAILED, TaskState.HELD)
# states an operator may cancel or that a cancelled record cancels (an active copy finishes first)
WAITING_STATES = (TaskState.NEW, TaskState.QUEUED, TaskState.FAILED, TaskState.HELD)


class Executor(models.TextChoices):
    GFAL2 = 'gfal2'          # the worker copies and deletes itself, through gfal2
    FTS3 = 'fts3'            # the worker submits to the site's FTS3 server and polls it


class FileTask(models.Model):
    kind = models.CharField(max_length=16, choices=TaskKind.choices)
    state = models.CharField(max_length=16, choices=TaskState.choices, default=TaskState.NEW)
    site = models.CharField(max_length=64, help_text='the destination of a transfer, the site of a deletion')
    source = models.CharField(max_length=64, blank=True, default='', help_text='the chosen source site')
    lfn = models.CharField(max_length=512)
    dataset = models.CharField(max_length=512)
    block = models.CharField(max_length=128)
    size = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=80, blank=True, default='', help_text='algorithm:value, the inventory\'s')
    pfn = models.CharField(max_length=1024, blank=True, default='', help_text='at `site` (resolved when queued)')
    source_pfn = models.CharField(max_length=1024, blank=True, default='')
    transfer = models.ForeignKey(BlockTransfer, null=True, blank=True, on_delete=models.DO_NOTHING,
                                 db_constraint=False, related_name='file_tasks')
    deletion = models.ForeignKey(BlockDeletion, null=True, blank=True, on_delete=models.DO_NOTHING,
                                 db_constraint=False, related_name='file_tasks')
    origin = models.CharField(max_length=32, default='operation', help_text='operation (a record) or consistency')
    executor = models.CharField(max_length=16, choices=Executor.choices, default=Executor.GFAL2)
    external_id = models.CharField(max_length=64, blank=True, default='', help_text='the FTS3 job')
    attempts = models.IntegerField(default=0, help_text='attempts that ended in a failure')
    interruptions = models.IntegerField(default=0, help_text='attempts lost with their worker')
    tried = models.TextField(blank=True, default='', help_text='JSON {source: [failures, retryable]}')
    retry_at = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=96, blank=True, default='', help_text='host:pid:token of its worker')
    lease_until = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, default='', help_text='the last failure, or why it is held or cancelled')
    error_kind = models.CharField(max_length=24, blank=True, default='')
    outcome = models.CharField(max_length=24, blank=True, default='', help_text='copied, already_present, deleted, ...')
    seconds = models.FloatField(null=True, blank=True, help_text='of the storage operation')
    applied = models.BooleanField(default=False, help_text='a done task the updater put into the inventory')
    created = models.DateTimeField()
    queued_at = models.DateTimeField(null=True, blank=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = 'dyn_file_tasks'
        indexes = [models.Index(fields=['state', 'id'], name='dyn_ft_state'),
                   models.Index(fields=['state', 'applied'], name='dyn_ft_applied'),
                   models.Index(fields=['site', 'lfn'], name='dyn_ft_site_lfn'),
                   models.Index(fields=['claim'], name='dyn_ft_claim'),
                   models.Index(fields=['finished'], name='dyn_ft_finished')]

    def __str__(self):
        return f'{self.kind} {self.lfn} at {self.site} ({self.state})'


class SiteStorage(models.Model):
    """What the file operations need to know of a site beyond its inventory backend and mapping."""
    site = models.CharField(max_length=64, unique=True)
    executor = models.CharField(max_length=16, choices=Executor.choices, default=Executor.GFAL2)
    fts_endpoint = models.CharField(max_length=255, blank=True, default='', help_text='https://fts3.example:8446')
    x509_proxy = models.CharField(max_length=512, blank=True, default='', help_text='client certificate for FTS3')
    max_active = models.IntegerField(null=True, blank=True, help_text='tasks at once at this site; empty: the default')
    lfn_roots = models.CharField(max_length=512, blank=True, default='', help_text='comma-separated; empty: the default')

    class Meta:
        db_table = 'dyn_site_storage'

    def __str__(self):
        return f'{self.site} ({self.executor})'


class ClaimLock(models.Model):
    """One row whose lock serializes claims, so that the concurrency limits hold across workers."""
    id = models.SmallIntegerField(primary_key=True, default=1)
    claims = models.BigIntegerField(default=0)

    class Meta:
        db_table = 'dyn_file_task_claims'


class LinkSample(models.Model):
    """The state of one link at one updater pass: queue depth and what finished since the last pass."""
    time = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=TaskKind.choices)
    source = models.CharField(max_length=64, blank=True, default='')
    site = models.CharField(max_length=64)
    queued = models.IntegerField(default=0)
    active = models.IntegerField(default=0)
    done = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    seconds = models.FloatField(default=0, help_text='the interval the counts cover')

    class Meta:
        db_table = 'dyn_link_samples'
        indexes = [models.Index(fields=['time'], name='dyn_ls_time'),
                   models.Index(fields=['site', 'time'], name='dyn_ls_site')]


class ReportState(models.TextChoices):
    NEW = 'new'              # requested; a worker will list the site
    RUNNING = 'running'      # listing and comparing
    COMPARED = 'compared'    # compared; actions waiting for the next commit
    APPLIED = 'applied'      # actions taken (missing files re-transferred, old orphans being deleted)
    REPORTED = 'reported'    # a dry run, or nothing to do
    STOPPED = 'stopped'      # more differences than the threshold: nothing done
    FAILED = 'failed'        # the listing or the comparison failed (message)


class ConsistencyReport(models.Model):
    site = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=ReportState.choices, default=ReportState.NEW)
    dry_run = models.BooleanField(default=False)
    source = models.CharField(max_length=1024, blank=True, default='', help_text='gfal2 listing, or the dump file')
    roots = models.CharField(max_length=512, blank=True, default='')
    safety_days = models.FloatField(default=28)
    threshold = models.FloatField(default=0.01, help_text='fraction of the site\'s files')
    inventory_files = models.IntegerField(default=0)
    listed_files = models.IntegerField(default=0)
    missing = models.IntegerField(default=0)
    orphans = models.IntegerField(default=0)
    young_orphans = models.IntegerField(default=0, help_text='orphans newer than the safety age (left alone)')
    skipped = models.IntegerField(default=0, help_text='differences explained by operations in flight')
    retransfers = models.IntegerField(default=0, help_text='block replicas marked incomplete and re-transferred')
    deletions = models.IntegerField(default=0, help_text='orphans queued for deletion')
    message = models.TextField(blank=True, default='')
    requested = models.DateTimeField()
    started = models.DateTimeField(null=True, blank=True)
    listed = models.DateTimeField(null=True, blank=True, help_text='when the listing (or the dump) was taken')
    finished = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=96, blank=True, default='')

    class Meta:
        db_table = 'dyn_consistency_reports'
        indexes = [models.Index(fields=['site', 'id'], name='dyn_ccr_site'),
                   models.Index(fields=['state'], name='dyn_ccr_state')]

    def __str__(self):
        return f'consistency of {self.site} ({self.state})'


class EntryKind(models.TextChoices):
    MISSING = 'missing'      # the inventory has it, storage does not (or with another size)
    ORPHAN = 'orphan'        # storage has it, the inventory does not (dark data)


class ConsistencyEntry(models.Model):
    report = models.ForeignKey(ConsistencyReport, on_delete=models.CASCADE, related_name='entries')
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    lfn = models.CharField(max_length=512)
    pfn = models.CharField(max_length=1024, blank=True, default='')
    size = models.BigIntegerField(null=True, blank=True, help_text='on storage')
    mtime = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=32, blank=True, default='', help_text='retransfer, delete, young, ...')

    class Meta:
        db_table = 'dyn_consistency_entries'
        indexes = [models.Index(fields=['report', 'kind'], name='dyn_ce_report')]
