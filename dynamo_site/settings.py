"""Django settings for Dynamo: one file, driven by DYNAMO_* environment variables.

A server configuration file (DYNAMO_CONFIG, or `runserver_dynamo --config`) can provide the same
values in its [server] and [web] sections; the environment overrides it. See .env.example.
"""
import os
from pathlib import Path

from dynamo_site import config

BASE_DIR = Path(__file__).resolve().parent.parent
INI = config.load_ini(os.environ.get('DYNAMO_CONFIG'))


def env(name, default=None):
    return config.get(name, INI, default)


# Importing settings writes nothing: the var directory and the secret key are made by the
# commands that need them (dynamo_site/bootstrap.py, called from manage.py), and any local user's
# `manage.py dynamo` reads none of the server's files
VAR_DIR = Path(env('DYNAMO_VAR_DIR', str(BASE_DIR / 'var')))


def _secret_key():
    key = env('DYNAMO_SECRET_KEY')
    if key:
        return key
    try:   # development default: generated once by bootstrap.ensure_secret_key, never committed
        return (VAR_DIR / 'secret_key').read_text().strip()
    except OSError:   # not made yet, or not readable by this user (a client of the socket)
        return ''


SECRET_KEY = _secret_key()
DEBUG = env('DYNAMO_DEBUG', '0').lower() in ('1', 'true', 'yes', 'on')
ALLOWED_HOSTS = config.split_list(env('DYNAMO_ALLOWED_HOSTS', '*'))

INSTALLED_APPS = [
    'django.contrib.admin',
    'django.contrib.auth',
    'django.contrib.contenttypes',
    'django.contrib.sessions',
    'django.contrib.messages',
    'django.contrib.staticfiles',
    'rest_framework',
    'accounts',
    'inventory',
    'execution',
    'webmodules',
    'transfers',
    'detox',
    'dealer',
    'fileops',
    'schedule',
    'usage',
]

MIDDLEWARE = [
    'webmodules.middleware.MetricsMiddleware',
    'django.middleware.security.SecurityMiddleware',
    'whitenoise.middleware.WhiteNoiseMiddleware',
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
    'django.contrib.auth.middleware.AuthenticationMiddleware',
    'django.contrib.messages.middleware.MessageMiddleware',
    'django.middleware.clickjacking.XFrameOptionsMiddleware',
]

ROOT_URLCONF = 'dynamo_site.urls'
WSGI_APPLICATION = 'dynamo_site.wsgi.application'

TEMPLATES = [{
    'BACKEND': 'django.template.backends.django.DjangoTemplates',
    'DIRS': [],
    'APP_DIRS': True,
    'OPTIONS': {'context_processors': [
        'django.template.context_processors.request',
        'django.contrib.auth.context_processors.auth',
        'django.contrib.messages.context_processors.messages',
    ]},
}]

DATABASES = {'default': config.database_from_url(env('DYNAMO_DB_URL'), str(VAR_DIR))}
# a secondary server: master_conf names the primary's database, where the cluster's change-set
# log, writer lease, write queue and server table live (docs/scaling.md). Every MariaDB server has
# the `primary` alias (a primary's points at its own database until a failover replaces it).
_primary_db, DYNAMO_MASTER = config.master_from_conf(env('DYNAMO_MASTER_CONF'), DATABASES['default'])
_primary_db = config.primary_alias(DATABASES['default'], _primary_db)
if _primary_db is not None:
    DATABASES['primary'] = _primary_db
# the cluster's tables (users, roles, applications, servers, requests, policies' records) are in
# the primary's database; only the inventory store is each server's own (execution/routers.py)
DATABASE_ROUTERS = ['execution.routers.ClusterRouter']
DYNAMO_CLUSTER_APPS = ['auth', 'contenttypes', 'admin', 'sessions', 'accounts', 'execution', 'webmodules',
                       'transfers', 'detox', 'dealer', 'fileops', 'schedule', 'usage']
# a secondary without local persistency keeps no inventory in its own database
DYNAMO_LOCAL_STORE = env('DYNAMO_LOCAL_STORE', '1').lower() in ('1', 'true', 'yes', 'on')
DYNAMO_SYNC_INTERVAL = float(env('DYNAMO_SYNC_INTERVAL', '0.05'))   # seconds between polls of the primary's log
# seconds without a heartbeat from the primary before a secondary takes its place
DYNAMO_FAILOVER_TIMEOUT = float(env('DYNAMO_FAILOVER_TIMEOUT', '30'))
DEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'
# MariaDB 10.3+ (InnoDB, DYNAMIC rows) indexes up to 3072 bytes: utf8mb4 names of 512 characters fit
SILENCED_SYSTEM_CHECKS = ['mysql.W003']

AUTH_PASSWORD_VALIDATORS = [
    {'NAME': 'django.contrib.auth.password_validation.MinimumLengthValidator'},
]

LANGUAGE_CODE = 'en-us'
TIME_ZONE = 'UTC'
USE_I18N = True
USE_TZ = True

STATIC_URL = '/static/'
STATIC_ROOT = VAR_DIR / 'static'
WHITENOISE_USE_FINDERS = True        # serve admin and module assets without collectstatic
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    'DEFAULT_RENDERER_CLASSES': ['rest_framework.renderers.JSONRenderer',
                                 'rest_framework.renderers.BrowsableAPIRenderer'],
    'UNAUTHENTICATED_USER': None,
}

# Dynamo server
DYNAMO_BIND = env('DYNAMO_BIND', '127.0.0.1:8000')
DYNAMO_FILE_CACHE_BLOCKS = int(env('DYNAMO_FILE_CACHE_BLOCKS', '1000'))
DYNAMO_HEARTBEAT_TIMEOUT = 15.0          # seconds without heartbeat before a server counts as gone
DYNAMO_SERVER_PRUNE_HOURS = 24.0         # dead servers' rows are removed after this long
DYNAMO_LOG_LEVEL = env('DYNAMO_LOG_LEVEL', 'INFO').upper()

# Web
DYNAMO_WEB_MODULE_PATHS = env('DYNAMO_WEB_MODULE_PATHS', '')
DYNAMO_WEB_MODULES_CONFIG = env('DYNAMO_WEB_MODULES_CONFIG', '')
DYNAMO_WEB_SSL_CERT = env('DYNAMO_WEB_SSL_CERT')
DYNAMO_WEB_SSL_KEY = env('DYNAMO_WEB_SSL_KEY')
DYNAMO_WEB_SSL_CA = env('DYNAMO_WEB_SSL_CA')
DYNAMO_WEB_DN_HEADER = env('DYNAMO_WEB_DN_HEADER')                  # e.g. X-SSL-Client-S-DN
DYNAMO_WEB_TRUSTED_PROXIES = env('DYNAMO_WEB_TRUSTED_PROXIES', '127.0.0.1')
DYNAMO_WEB_WRITE_WAIT = float(env('DYNAMO_WEB_WRITE_WAIT', '30'))   # seconds a web write waits for the lock
# what one request may cost (docs/web.md, "Limits"): an injection document (beyond: 413 over the
# web, an error of dynamo_inject), the CPU seconds of one query, the web threads (all but two may
# run module calls at once)
DYNAMO_MAX_DOCUMENT_MB = int(env('DYNAMO_MAX_DOCUMENT_MB', '2048'))
DYNAMO_WEB_QUERY_SECONDS = float(env('DYNAMO_WEB_QUERY_SECONDS', '10'))
DYNAMO_WEB_THREADS = int(env('DYNAMO_WEB_THREADS', '16'))

# Applications
# unset: var/servers/<bind address>/dynamo.sock and .../apps (execution.topology.server_paths)
DYNAMO_APP_SOCKET = env('DYNAMO_APP_SOCKET')
DYNAMO_WORK_DIR = env('DYNAMO_WORK_DIR')
DYNAMO_MAX_READONLY_APPS = int(env('DYNAMO_MAX_READONLY_APPS', '8'))
DYNAMO_APP_TIMEOUT_HOURS = float(env('DYNAMO_APP_TIMEOUT_HOURS', '2'))
# the OS account of web submissions, scheduled cycles and root's own applications
DYNAMO_APP_USER = env('DYNAMO_APP_USER', 'nobody')
# limits of one application with all its processes (docs/applications.md)
DYNAMO_APP_MEMORY_LIMIT_MB = int(env('DYNAMO_APP_MEMORY_LIMIT_MB', '4096'))   # private memory beyond the image
DYNAMO_APP_MAX_PROCESSES = int(env('DYNAMO_APP_MAX_PROCESSES', '64'))
DYNAMO_APP_CPU_HOURS = float(env('DYNAMO_APP_CPU_HOURS', '4'))
DYNAMO_APP_OUTPUT_MB = int(env('DYNAMO_APP_OUTPUT_MB', '64'))                 # output kept: head and tail
DYNAMO_APP_CHANGES_MB = int(env('DYNAMO_APP_CHANGES_MB', '4096'))             # a write request's change stream
DYNAMO_DB_READONLY_URL = env('DYNAMO_DB_READONLY_URL')

# Detox (docs/policies.md): how many cycles keep their decision rows, and the attribute providers
# (JSON file) of scheduled and command-line cycles
DYNAMO_DETOX_KEEP_CYCLES = int(env('DYNAMO_DETOX_KEEP_CYCLES', '20'))
DYNAMO_DETOX_PROVIDERS = env('DYNAMO_DETOX_PROVIDERS', '')
DYNAMO_USAGE_KEEP_DAYS = float(env('DYNAMO_USAGE_KEEP_DAYS', '400'))   # days of usage history kept

# Schedule of the periodic cycles (docs/schedule.md): [schedule] section of the INI file or
# DYNAMO_SCHEDULE_*; run by `celery -A dynamo_site beat` + `worker` when DYNAMO_CELERY_BROKER is
# set, else by runserver_dynamo itself (embedded: the first run needs no broker)
from schedule import definition as _schedule  # noqa: E402  (pure: the entries' grammar)
try:
    DYNAMO_SCHEDULE = _schedule.parse_schedule(_schedule.collect(
        {name: env(f'DYNAMO_SCHEDULE_{name.upper()}', default) for name, default in _schedule.DEFAULTS.items()},
        env('DYNAMO_SCHEDULE_EXTRA', '')))
except _schedule.ScheduleError as _exc:
    raise config.ConfigError(str(_exc)) from None
DYNAMO_SCHEDULE_TICK = float(env('DYNAMO_SCHEDULE_TICK', '30'))       # seconds between looks at the schedule
DYNAMO_SCHEDULE_EMBEDDED = env('DYNAMO_SCHEDULE_EMBEDDED', 'auto').lower()   # auto (= no broker), yes, no
DYNAMO_SCHEDULE_USER = env('DYNAMO_SCHEDULE_USER', 'dynamo-schedule')   # submits the scheduled cycles
CELERY_BROKER_URL = env('DYNAMO_CELERY_BROKER', '')
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = _schedule.beat_schedule(DYNAMO_SCHEDULE, DYNAMO_SCHEDULE_TICK)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / 'celerybeat-schedule')
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {'plain': {'format': '%(asctime)s %(levelname)s %(name)s %(message)s'},
                   'json': {'()': 'dynamo_site.logformat.JSONFormatter'}},
    'handlers': {'console': {'class': 'logging.StreamHandler',
                             'formatter': 'json' if env('DYNAMO_LOG_FORMAT', 'plain') == 'json' else 'plain'}},
    'root': {'handlers': ['console'], 'level': 'WARNING'},
    'loggers': {
        'dynamo': {'handlers': ['console'], 'level': DYNAMO_LOG_LEVEL, 'propagate': False},
        'cheroot': {'handlers': ['console'], 'level': 'WARNING', 'propagate': False},
    },
}
