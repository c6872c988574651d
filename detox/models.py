"""Detox's records: its cycles (real and test), their per-site summaries and every decision, and
the locks users put on datasets and blocks. Cluster tables (execution/routers.py); written only by
detox/services.py.
"""
from django.db import models


class CycleState(models.TextChoices):
    COMMITTED = 'committed'    # a real cycle: its deletions and hand-overs were applied
    TEST = 'test'              # a test run: decisions recorded, nothing applied
    STOPPED = 'stopped'        # the safety valve stopped it before its commit (its decisions are kept)


class Cycle(models.Model):
    partition = models.CharField(max_length=64)
    test = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=CycleState.choices)
    policy_text = models.TextField()
    policy_sha256 = models.CharField(max_length=64, db_index=True)
    policy_filename = models.CharField(max_length=255, blank=True, default='')
    comment = models.TextField(blank=True, default='')
    user = models.CharField(max_length=150, blank=True, default='')
    application_id = models.BigIntegerField(null=True, blank=True, help_text='the application that ran it')
    started = models.DateTimeField()
    finished = models.DateTimeField()
    now = models.FloatField(help_text='the UNIX time the policy\'s relative times were read against')
    # counts
    num_sites = models.IntegerField(default=0)
    num_triggered = models.IntegerField(default=0)
    num_decisions = models.IntegerField(default=0)
    num_deletions = models.IntegerField(default=0, help_text='block replicas handed to the null group')
    num_handovers = models.IntegerField(default=0)
    num_skipped = models.IntegerField(default=0, help_text='block replicas changed since the decision: not applied')
    deleted_bytes = models.BigIntegerField(default=0)
    protected_bytes = models.BigIntegerField(default=0)
    kept_bytes = models.BigIntegerField(default=0)
    used_bytes = models.BigIntegerField(default=0, help_text='the partition at the target sites before the cycle')
    iterations = models.IntegerField(default=0)
    replica_evaluations = models.BigIntegerField(default=0)
    line_evaluations = models.BigIntegerField(default=0)
    seq = models.BigIntegerField(null=True, blank=True, help_text='the change set of the commit')
    stop_reason = models.TextField(blank=True, default='')
    warnings = models.TextField(blank=True, default='[]', help_text='JSON list')
    line_hits = models.TextField(blank=True, default='{}', help_text='JSON: {line: [decision rows, bytes]}')
    timings = models.TextField(blank=True, default='{}', help_text='JSON: seconds per phase')

    class Meta:
        db_table = 'dyn_detox_cycles'
        indexes = [models.Index(fields=['partition', 'test', 'id'], name='dyn_detox_cycle_part')]

    def __str__(self):
        return f'detox cycle {self.id} ({self.partition}, {self.state})'


class SiteSummary(models.Model):
    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name='sites')
    site = models.CharField(max_length=64)
    quota = models.BigIntegerField(help_text='bytes; 0 none, negative unlimited')
    usage_before = models.BigIntegerField()
    usage_after = models.BigIntegerField(help_text='as planned (skipped replicas not subtracted)')
    occupancy_before = models.FloatField()
    occupancy_after = models.FloatField()
    protected = models.BigIntegerField(default=0)
    kept = models.BigIntegerField(default=0)
    deleted = models.BigIntegerField(default=0)
    handed_over = models.BigIntegerField(default=0)
    skipped = models.BigIntegerField(default=0, help_text='bytes decided but not applied (changed meanwhile)')
    triggered = models.BooleanField(default=False)
    until_reached = models.BooleanField(default=False)

    class Meta:
        db_table = 'dyn_detox_sites'
        constraints = [models.UniqueConstraint(fields=['cycle', 'site'], name='dyn_detox_site_once')]


class DecisionKind(models.TextChoices):
    DELETE = 'delete'
    KEEP = 'keep'
    PROTECT = 'protect'


class Decision(models.Model):
    """What a cycle decided for (some of) the block replicas of a dataset at a site, and the line."""
    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name='decisions', db_index=False)
    site = models.CharField(max_length=64)
    dataset = models.CharField(max_length=512)
    decision = models.CharField(max_length=8, choices=DecisionKind.choices)
    blocks = models.TextField(blank=True, default='', help_text="'' for every block replica, else names, one a line")
    size = models.BigIntegerField()
    line = models.IntegerField(help_text="number of the deciding line in the cycle's policy text")

    class Meta:
        db_table = 'dyn_detox_decisions'
        indexes = [models.Index(fields=['cycle', 'site', 'dataset'], name='dyn_detox_dec_site'),
                   models.Index(fields=['cycle', 'dataset'], name='dyn_detox_dec_dataset')]


class Lock(models.Model):
    """A dataset (or dataset#block; shell wildcards allowed) that `blockreplica.is_locked` reports
    as locked, at the sites and for the owner groups matching the patterns ('' any), until it
    expires or is unlocked."""
    item = models.CharField(max_length=700)
    sites = models.CharField(max_length=255, blank=True, default='', help_text="site pattern; '' for every site")
    groups = models.CharField(max_length=255, blank=True, default='', help_text="owner pattern; '' for any owner")
    comment = models.TextField(blank=True, default='')
    user = models.CharField(max_length=150)
    created = models.DateTimeField()
    expires = models.DateTimeField(null=True, blank=True)
    unlocked = models.DateTimeField(null=True, blank=True)
    unlocked_by = models.CharField(max_length=150, blank=True, default='')

    class Meta:
        db_table = 'dyn_detox_locks'
        indexes = [models.Index(fields=['unlocked', 'expires'], name='dyn_detox_lock_live')]

    def __str__(self):
        return f'lock {self.id}: {self.item}'
