"""Cross-process state of the execution layer: running servers and queued write requests."""
from django.db import models


class ServerState(models.TextChoices):
    STARTING = 'starting'
    LOADING = 'loading'
    ONLINE = 'online'
    STOPPING = 'stopping'
    ERROR = 'error'


class Server(models.Model):
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    bind = models.CharField(max_length=255, blank=True, default='')
    state = models.CharField(max_length=16, choices=ServerState.choices, default=ServerState.STARTING)
    seq = models.BigIntegerField(default=0, help_text='last change set in its RAM image')
    started = models.DateTimeField()
    heartbeat = models.DateTimeField()

    class Meta:
        db_table = 'dyn_servers'

    def __str__(self):
        return f'{self.hostname}:{self.pid} ({self.state})'


class RequestKind(models.TextChoices):
    CHANGES = 'changes'       # an ordered list of [op, object] (applications, web writes)
    INJECT = 'inject'         # an injection document
    DELETE = 'delete'         # an invalidation document


class RequestState(models.TextChoices):
    PENDING = 'pending'
    RUNNING = 'running'
    APPLIED = 'applied'
    FAILED = 'failed'


class ChangeRequest(models.Model):
    """A write waiting for the server that owns the RAM image (the single write path)."""
    kind = models.CharField(max_length=16, choices=RequestKind.choices)
    origin = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=RequestState.choices, default=RequestState.PENDING)
    created = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    seq = models.BigIntegerField(null=True, blank=True, help_text='change set it became')
    message = models.TextField(blank=True, default='')
    result = models.TextField(blank=True, default='', help_text='JSON summary')
    progress = models.IntegerField(default=0)
    total = models.IntegerField(default=0)

    class Meta:
        db_table = 'dyn_change_requests'
        indexes = [models.Index(fields=['state', 'id'], name='dyn_cr_state')]

    def __str__(self):
        return f'request {self.id} ({self.kind}, {self.state})'


class ChangeRequestChunk(models.Model):
    request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name='chunks')
    index = models.IntegerField()
    data = models.TextField()

    class Meta:
        db_table = 'dyn_change_request_chunks'
        constraints = [models.UniqueConstraint(fields=['request', 'index'], name='dyn_crc_index')]
