"""The settings of the file operations, with their defaults, read in one place.

Each is a DYNAMO_* setting (docs/fileops.md lists them). A value in django.conf.settings wins; until
dynamo_site/settings.py defines them, the environment (or the server's INI file) is read the way
settings.py reads its own, through dynamo_site.config.get.
"""
from dataclasses import dataclass

from django.conf import settings

from dynamo_site import config


def _value(name, default, kind):
    value = getattr(settings, name, None)
    if value is None:
        value = config.get(name, getattr(settings, 'INI', None), None)
    if value is None or value == '':
        return default
    if kind is bool:
        return value if isinstance(value, bool) else str(value).lower() in ('1', 'true', 'yes', 'on')
    return kind(value)


@dataclass(frozen=True)
class FileopsConf:
    workers: str              # 'embedded' (runserver_dynamo starts a pool) or 'celery'; 'auto': celery
                              # when a broker is set (DYNAMO_CELERY_BROKER), else embedded
    processes: int            # worker processes of the embedded pool
    threads: int              # storage operations at once in one worker process
    batch: int                # tasks one claim takes
    lease: float              # seconds a claim lasts without a heartbeat from its worker
    poll: float               # seconds an idle embedded worker waits before looking again
    idle_exit: float          # seconds without work after which an embedded worker ends (the pool
                              # starts workers again when work comes)
    max_attempts: int         # failures before a task is held
    retry_seconds: float      # backoff after the first failure, doubling after each
    retry_max_seconds: float
    link_active: int          # tasks active at once on one link (source -> destination)
    site_active: int          # tasks active at once involving one site (default; SiteStorage.max_active)
    keep_days: float          # finished tasks are kept this long (the web's history, consistency)
    ca_dir: str               # CA certificates for https/davs storage (X509_CERT_DIR); '' = the system's
    fts_poll: float           # seconds between polls of an FTS3 job
    stream_below: int         # bytes: smaller files between two XRootD servers are streamed by the
                              # worker instead of a third-party copy (0: never)
    pass_limit: int           # records and tasks one updater pass handles at most, per step
    consistency_roots: str    # LFN roots listed by a consistency check, comma-separated
    consistency_safety_days: float
    consistency_threshold: float

    def backoff(self, attempts):
        """Seconds to wait before the next attempt after `attempts` failures."""
        return min(self.retry_max_seconds, self.retry_seconds * 2 ** max(0, attempts - 1))


def conf():
    workers = _value('DYNAMO_FILEOPS_WORKERS', 'auto', str).lower()
    if workers == 'auto':
        workers = 'celery' if getattr(settings, 'CELERY_BROKER_URL', '') else 'embedded'
    return FileopsConf(
        workers=workers,
        processes=_value('DYNAMO_FILEOPS_PROCESSES', 2, int),
        threads=_value('DYNAMO_FILEOPS_THREADS', 16, int),
        batch=_value('DYNAMO_FILEOPS_BATCH', 64, int),
        lease=_value('DYNAMO_FILEOPS_LEASE', 120.0, float),
        poll=_value('DYNAMO_FILEOPS_POLL', 1.0, float),
        idle_exit=_value('DYNAMO_FILEOPS_IDLE_EXIT', 300.0, float),
        max_attempts=_value('DYNAMO_FILEOPS_MAX_ATTEMPTS', 5, int),
        retry_seconds=_value('DYNAMO_FILEOPS_RETRY_SECONDS', 60.0, float),
        retry_max_seconds=_value('DYNAMO_FILEOPS_RETRY_MAX_SECONDS', 3600.0, float),
        link_active=_value('DYNAMO_FILEOPS_LINK_ACTIVE', 64, int),
        site_active=_value('DYNAMO_FILEOPS_SITE_ACTIVE', 128, int),
        keep_days=_value('DYNAMO_FILEOPS_KEEP_DAYS', 7.0, float),
        ca_dir=_value('DYNAMO_FILEOPS_CA_DIR', '', str),
        fts_poll=_value('DYNAMO_FILEOPS_FTS_POLL', 30.0, float),
        stream_below=_value('DYNAMO_FILEOPS_STREAM_BELOW', 0, int),
        pass_limit=_value('DYNAMO_FILEOPS_PASS_LIMIT', 200_000, int),
        consistency_roots=_value('DYNAMO_CONSISTENCY_ROOTS', '/store', str),
        consistency_safety_days=_value('DYNAMO_CONSISTENCY_SAFETY_DAYS', 28.0, float),
        consistency_threshold=_value('DYNAMO_CONSISTENCY_THRESHOLD', 0.01, float),
    )
