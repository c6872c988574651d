"""Cross-process state of the execution layer: running servers, queued write requests,
applications and their authorizations. All of it lives in the cluster's database (the primary's;
a server's own when it is the primary): execution/routers.py sends every query there."""
from django.db import models


class ServerState(models.TextChoices):
    STARTING = 'starting'
    LOADING = 'loading'
    ONLINE = 'online'
    WAITING = 'waiting'        # a secondary waiting for its primary
    SYNCING = 'syncing'        # a secondary copying the primary's store or catching up
    STOPPING = 'stopping'
    ERROR = 'error'
    GONE = 'gone'              # a primary replaced by failover (its heartbeat stopped)
    DEAD = 'dead'              # its heartbeat is older than the failover timeout, or its process is gone


class Server(models.Model):
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    bind = models.CharField(max_length=255, blank=True, default='')
    state = models.CharField(max_length=16, choices=ServerState.choices, default=ServerState.STARTING)
    seq = models.BigIntegerField(default=0, help_text='last change set in its RAM image')
    role = models.CharField(max_length=16, default='primary', help_text='primary or secondary')
    digest = models.CharField(max_length=64, blank=True, default='')
    detail = models.CharField(max_length=255, blank=True, default='', help_text='what it is doing or waiting for')
    epoch = models.IntegerField(default=0, help_text='the cluster epoch it works under')
    db_address = models.CharField(max_length=512, blank=True, default='',
                                  help_text="JSON of its own database (host, port, db): peers reach it there")

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
    lease = models.CharField(max_length=255, blank=True, default='',
                             help_text='the writer lease its sender holds (applied while the lease is held)')

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


class AppState(models.TextChoices):
    NEW = 'new'
    ASSIGNED = 'assigned'
    RUN = 'run'
    DONE = 'done'
    FAILED = 'failed'
    KILLED = 'killed'
    NOTFOUND = 'notfound'
    AUTHFAILED = 'authfailed'


FINAL_APP_STATES = (AppState.DONE, AppState.FAILED, AppState.KILLED, AppState.NOTFOUND,
                    AppState.AUTHFAILED)


class Application(models.Model):
    """One run of a script (or an interactive console) forked from a server's RAM image."""
    title = models.CharField(max_length=255)
    user = models.ForeignKey('auth.User', on_delete=models.PROTECT, related_name='applications')
    script_path = models.CharField(max_length=1024, blank=True, default='', help_text='as submitted')
    args = models.TextField(blank=True, default='')
    checksum = models.CharField(max_length=64, blank=True, default='', help_text='SHA-256 of the script')
    write_request = models.BooleanField(default=False)
    interactive = models.BooleanField(default=False)
    run_as = models.CharField(max_length=64, blank=True, default='',
                              help_text='the OS account it runs as (the submitter, or DYNAMO_APP_USER)')
    builtin = models.CharField(max_length=64, blank=True, default='',
                               help_text='a built-in cycle (settings.DYNAMO_BUILTIN_APPLICATIONS) instead of a script')
    result = models.TextField(blank=True, default='', help_text="JSON: what a built-in cycle's commit reported")
    state = models.CharField(max_length=16, choices=AppState.choices, default=AppState.NEW)
    exit_code = models.IntegerField(null=True, blank=True)
    message = models.TextField(blank=True, default='')
    timeout = models.FloatField(help_text='hours; 0 = no limit')
    server = models.ForeignKey(Server, on_delete=models.SET_NULL, null=True, blank=True, db_constraint=False)
    hostname = models.CharField(max_length=255, blank=True, default='')
    pid = models.IntegerField(null=True, blank=True)
    work_dir = models.CharField(max_length=1024, blank=True, default='')
    seq = models.BigIntegerField(null=True, blank=True, help_text='change set it produced')
    num_changes = models.IntegerField(null=True, blank=True)
    created = models.DateTimeField()
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    output = models.TextField(blank=True, default='', help_text='stdout and stderr (the last MiB)')

    class Meta:
        db_table = 'dyn_applications'
        indexes = [models.Index(fields=['state', 'id'], name='dyn_app_state')]

    def __str__(self):
        return f'application {self.id} ({self.title}, {self.state})'


class ExecAuthorization(models.Model):
    """Binds a title to the SHA-256 of a script, for one user or (user empty) for everyone."""
    title = models.CharField(max_length=255)
    user = models.ForeignKey('auth.User', on_delete=models.CASCADE, null=True, blank=True,
                             help_text='empty = every user')
    checksum = models.CharField(max_length=64)
    path = models.CharField(max_length=1024, blank=True, default='', help_text='file authorized')
    created = models.DateTimeField()

    class Meta:
        db_table = 'dyn_exec_authorizations'
        constraints = [models.UniqueConstraint(fields=['title', 'user'], name='dyn_execauth_title_user')]

    def __str__(self):
        return f'{self.title} for {self.user or "everyone"}'
