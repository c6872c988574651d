"""Usage history: one row per site, partition and sample time (quota, bytes present, bytes once
every transfer completes). A cluster table (settings.DYNAMO_CLUSTER_APPS)."""
from django.db import models


class Source(models.TextChoices):
    SCHEDULE = 'schedule'     # the `usage` cycle (the schedule, or dynamo_usage --record)
    DETOX = 'detox'           # recorded by a Detox cycle's commit


class UsageSample(models.Model):
    time = models.DateTimeField()
    site = models.CharField(max_length=128)
    partition = models.CharField(max_length=128)
    quota = models.BigIntegerField()              # bytes; 0 none, negative unlimited (as in the inventory)
    usage = models.BigIntegerField()              # bytes present
    projected_usage = models.BigIntegerField()    # bytes once every transfer completes
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.SCHEDULE)

    class Meta:
        db_table = 'dyn_usage_samples'
        constraints = [models.UniqueConstraint(fields=['site', 'partition', 'time'], name='usage_one_sample')]
        indexes = [models.Index(fields=['time'], name='usage_by_time'),
                   models.Index(fields=['partition', 'time'], name='usage_by_partition')]

    def __str__(self):
        return f'{self.site} {self.partition} at {self.time:%Y-%m-%d %H:%M}'
