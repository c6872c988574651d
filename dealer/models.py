"""The Dealer's records: its cycles (real and test) with their per-site and per-plugin summaries,
and every decision (a proposal, where it went or why not). Cluster tables (execution/routers.py);
written only by dealer/services.py."""
from django.db import models


class CycleState(models.TextChoices):
    COMMITTED = 'committed'    # its placements were applied (replicas made, transfers recorded)
    TEST = 'test'              # a test run: decisions recorded, nothing applied


class DealerCycle(models.Model):
    partition = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=CycleState.choices)
    test = models.BooleanField(default=False)
    policy_text = models.TextField()
    policy_sha256 = models.CharField(max_length=64)
    policy_filename = models.CharField(max_length=255, blank=True, default='')
    comment = models.TextField(blank=True, default='')
    user = models.CharField(max_length=150, blank=True, default='')
    application_id = models.BigIntegerField(null=True, blank=True, help_text='the application that ran it')
    seed = models.BigIntegerField(default=0, help_text='the tie-break seed of its placements')
    started = models.DateTimeField()
    finished = models.DateTimeField()
    inventory_seq = models.BigIntegerField(default=0, help_text='the change set of the image it decided on')
    seq = models.BigIntegerField(null=True, blank=True, help_text='the change set of its commit')
    num_proposals = models.IntegerField(default=0)
    num_accepted = models.IntegerField(default=0)
    num_rejected = models.IntegerField(default=0)
    num_replicas = models.IntegerField(default=0, help_text='block replicas made')
    num_transfers = models.IntegerField(default=0)
    volume = models.BigIntegerField(default=0, help_text='bytes placed (to be transferred)')
    rows_dropped = models.IntegerField(default=0, help_text='decisions over max_decision_rows: counted, not kept')
    rejections = models.JSONField(default=dict, help_text='{reason: proposals}')
    site_rejections = models.JSONField(default=dict, help_text='{reason: candidate sites}')
    plugins = models.JSONField(default=dict, help_text='{plugin: {priority, proposals, accepted, volume, notes}}')
    sites = models.JSONField(default=list, help_text='per site: quota, physical and projected usage, placements')
    timings = models.JSONField(default=dict)
    message = models.TextField(blank=True, default='')

    class Meta:
        db_table = 'dyn_dealer_cycles'
        indexes = [models.Index(fields=['partition', 'test', 'id'], name='dyn_dealer_cycle_part')]

    def __str__(self):
        return f'dealer cycle {self.id} ({self.partition}, {self.state})'


class Decision(models.TextChoices):
    ACCEPTED = 'accepted'
    REJECTED = 'rejected'


class DealerDecision(models.Model):
    """One proposal of a cycle: which plugin, what (dataset, blocks), for whom, and where it went
    (accepted) or why not (rejected), with the candidate sites rejected per reason."""
    cycle = models.ForeignKey(DealerCycle, on_delete=models.CASCADE, related_name='decisions', db_index=False)
    order = models.IntegerField(help_text='position in the merged list of proposals')
    plugin = models.CharField(max_length=64)
    dataset = models.CharField(max_length=512)
    blocks = models.TextField(blank=True, default='', help_text="'' for the whole dataset, else names, one a line")
    size = models.BigIntegerField(default=0, help_text='bytes to transfer (accepted)')
    group = models.CharField(max_length=64, blank=True, default='')
    site = models.CharField(max_length=64, blank=True, default='')
    decision = models.CharField(max_length=8, choices=Decision.choices)
    reason = models.CharField(max_length=32)
    detail = models.CharField(max_length=255, blank=True, default='')
    site_rejections = models.JSONField(default=dict)
    request_id = models.BigIntegerField(null=True, blank=True)
    why = models.CharField(max_length=255, blank=True, default='', help_text="the plugin's reason to propose it")

    class Meta:
        db_table = 'dyn_dealer_decisions'
        indexes = [models.Index(fields=['cycle', 'order'], name='dyn_dealer_dec_order'),
                   models.Index(fields=['cycle', 'decision', 'reason'], name='dyn_dealer_dec_reason'),
                   models.Index(fields=['dataset'], name='dyn_dealer_dec_dataset')]
