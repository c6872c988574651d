"""The runs of the schedule: one row per entry and slot (the unique constraint is what keeps two
schedulers, Celery beat or embedded, from running one slot twice), with the application that ran
the cycle and its outcome. A cluster table (execution/routers.py); written only by
schedule/services.py."""
from django.db import models


class RunState(models.TextChoices):
    SUBMITTED = 'submitted'    # the cycle is queued on the primary
    RUNNING = 'running'
    DONE = 'done'
    FAILED = 'failed'          # the cycle failed, was killed, or could not be submitted: see the message


OPEN_STATES = (RunState.SUBMITTED, RunState.RUNNING)


class ScheduleRun(models.Model):
    entry = models.CharField(max_length=64)
    cycle = models.CharField(max_length=64, help_text='the built-in cycle it ran')
    slot = models.DateTimeField(help_text='the start of the slot (a manual run: when it was asked for)')
    manual = models.BooleanField(default=False)
    by = models.CharField(max_length=255, help_text='who started it: celery, embedded@host, manual:user')
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.SUBMITTED)
    application_id = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True, default='')
    result = models.JSONField(null=True, blank=True, help_text="the cycle's summary")
    created = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = 'dyn_schedule_runs'
        constraints = [models.UniqueConstraint(fields=['entry', 'slot'], name='dyn_schedule_run_once')]
        indexes = [models.Index(fields=['entry', 'id'], name='dyn_schedule_entry'),
                   models.Index(fields=['state', 'id'], name='dyn_schedule_state')]

    def __str__(self):
        return f'{self.entry} at {self.slot} ({self.state})'
