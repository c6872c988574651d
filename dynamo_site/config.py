"""Reading DYNAMO_* settings: environment first, then the INI file named by DYNAMO_CONFIG.

Pure functions only; settings.py calls them once. Never import Django here.
"""
import configparser
import os
from urllib.parse import unquote, urlparse

# (environment variable, INI section, INI option)
_SOURCES = {
    'DYNAMO_DB_URL': ('server', 'db_url'),
    'DYNAMO_BIND': ('server', 'bind'),
    'DYNAMO_LOG_LEVEL': ('server', 'log_level'),
    'DYNAMO_LOG_FORMAT': ('server', 'log_format'),
    'DYNAMO_VAR_DIR': ('server', 'var_dir'),
    'DYNAMO_MASTER_CONF': ('server', 'master_conf'),
    'DYNAMO_LOCAL_STORE': ('server', 'local_store'),
    'DYNAMO_SYNC_INTERVAL': ('server', 'sync_interval'),
    'DYNAMO_FAILOVER_TIMEOUT': ('server', 'failover_timeout'),
    'DYNAMO_FILE_CACHE_BLOCKS': ('server', 'file_cache_blocks'),
    'DYNAMO_APP_SOCKET': ('applications', 'socket'),
    'DYNAMO_WORK_DIR': ('applications', 'work_dir'),
    'DYNAMO_MAX_READONLY_APPS': ('applications', 'max_readonly'),
    'DYNAMO_APP_TIMEOUT_HOURS': ('applications', 'timeout_hours'),
    'DYNAMO_APP_MEMORY_LIMIT_MB': ('applications', 'memory_limit_mb'),
    'DYNAMO_APP_USER': ('applications', 'user'),
    'DYNAMO_APP_MAX_PROCESSES': ('applications', 'max_processes'),
    'DYNAMO_APP_CPU_HOURS': ('applications', 'cpu_hours'),
    'DYNAMO_APP_OUTPUT_MB': ('applications', 'output_mb'),
    'DYNAMO_APP_CHANGES_MB': ('applications', 'changes_mb'),
    'DYNAMO_DB_READONLY_URL': ('server', 'db_readonly_url'),
    'DYNAMO_WEB_MODULES_CONFIG': ('web', 'modules_config'),
    'DYNAMO_WEB_MODULE_PATHS': ('web', 'module_paths'),
    'DYNAMO_SECRET_KEY': ('web', 'secret_key'),
    'DYNAMO_WEB_SSL_CERT': ('web', 'ssl_certificate'),
    'DYNAMO_WEB_SSL_KEY': ('web', 'ssl_key'),
    'DYNAMO_WEB_SSL_CA': ('web', 'ssl_client_ca'),
    'DYNAMO_WEB_DN_HEADER': ('web', 'dn_header'),
    'DYNAMO_WEB_TRUSTED_PROXIES': ('web', 'trusted_proxies'),
    'DYNAMO_WEB_WRITE_WAIT': ('web', 'write_wait'),
    'DYNAMO_MAX_DOCUMENT_MB': ('web', 'max_document_mb'),
    'DYNAMO_WEB_QUERY_SECONDS': ('web', 'query_seconds'),
    'DYNAMO_WEB_THREADS': ('web', 'threads'),
    'DYNAMO_DETOX_KEEP_CYCLES': ('detox', 'keep_cycles'),
    'DYNAMO_DETOX_PROVIDERS': ('detox', 'providers'),
    'DYNAMO_USAGE_KEEP_DAYS': ('usage', 'keep_days'),
    'DYNAMO_ALLOWED_HOSTS': ('web', 'allowed_hosts'),
    'DYNAMO_DEBUG': ('web', 'debug'),
    'DYNAMO_CELERY_BROKER': ('schedule', 'broker'),
    'DYNAMO_SCHEDULE_DEALER': ('schedule', 'dealer'),
    'DYNAMO_SCHEDULE_DETOX': ('schedule', 'detox'),
    'DYNAMO_SCHEDULE_TRACK_REQUESTS': ('schedule', 'track_requests'),
    'DYNAMO_SCHEDULE_UPDATER': ('schedule', 'updater'),
    'DYNAMO_SCHEDULE_USAGE': ('schedule', 'usage'),
    'DYNAMO_SCHEDULE_EXTRA': ('schedule', 'extra'),
    'DYNAMO_SCHEDULE_TICK': ('schedule', 'tick'),
    'DYNAMO_SCHEDULE_EMBEDDED': ('schedule', 'embedded'),
    'DYNAMO_SCHEDULE_USER': ('schedule', 'user'),
}


MYSQL_ENGINE = 'dynamo_site.mysql_backend'   # Django's, with run-time redirection of an alias (failover)


class ConfigError(Exception):
    pass


def load_ini(path):
    if not path:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path) as f:
            parser.read_file(f)
    except OSError as exc:
        raise ConfigError(f'cannot read configuration file {path}: {exc.strerror}') from None
    except configparser.Error as exc:
        raise ConfigError(f'configuration file {path} is not a valid INI file: {exc}') from None
    return parser


def get(name, ini=None, default=None, environ=os.environ):
    """Value of a DYNAMO_* setting: the environment wins over the INI file, which wins over default."""
    value = environ.get(name)
    if value not in (None, ''):
        return value
    if ini is not None and name in _SOURCES:
        section, option = _SOURCES[name]
        if ini.has_option(section, option):
            return ini.get(section, option)
    return default


def database_from_url(url, var_dir):
    """Django DATABASES['default'] for sqlite:///PATH (or unset) and mysql://USER[:PASS]@HOST[:PORT]/DB."""
    if not url:
        url = f'sqlite:///{os.path.join(var_dir, "dynamo.sqlite3")}'
    parsed = urlparse(url)
    if parsed.scheme == 'sqlite':
        path = url[len('sqlite:///'):] if url.startswith('sqlite:///') else parsed.path
        if not path.startswith('/'):
            path = os.path.abspath(path)
        return {
            'ENGINE': 'dynamo_site.sqlite_backend',   # Django's, made safe for a forking server
            'NAME': path,
            # rollback journal, not WAL: applications open the file read-only (mode=ro), which
            # SQLite cannot do reliably for a WAL database another process writes
            'OPTIONS': {'timeout': 30, 'transaction_mode': 'IMMEDIATE',
                        'init_command': 'PRAGMA journal_mode=DELETE;'},
            'TEST': {'NAME': path.replace('.sqlite3', '') + '-test.sqlite3'},
        }
    if parsed.scheme in ('mysql', 'mariadb'):
        name = parsed.path.lstrip('/')
        if not name:
            raise ConfigError(f'DYNAMO_DB_URL {url!r} names no database (mysql://USER[:PASS]@HOST[:PORT]/DB)')
        return {
            'ENGINE': MYSQL_ENGINE,
            'NAME': name,
            'USER': unquote(parsed.username or 'root'),
            'PASSWORD': unquote(parsed.password or ''),
            'HOST': parsed.hostname or '127.0.0.1',
            'PORT': str(parsed.port or 3306),
            'OPTIONS': {
                'charset': 'utf8mb4',
                'init_command': "SET sql_mode='STRICT_TRANS_TABLES', default_storage_engine=INNODB",
                'connect_timeout': 5,
            },
            'CONN_MAX_AGE': 600,           # the server's worker threads keep their connections
            'CONN_HEALTH_CHECKS': True,
            'TEST': {'CHARSET': 'utf8mb4', 'COLLATION': 'utf8mb4_bin'},
        }
    raise ConfigError(f'DYNAMO_DB_URL {url!r}: unsupported scheme (use sqlite:///PATH or mysql://USER@HOST/DB)')


_MASTER_KEYS = {'host', 'port', 'user', 'password', 'readuser', 'readpassword', 'db', 'option_file'}


def master_from_conf(text, local):
    """(primary's Django database, parsed master_conf) from the JSON of `[server] master_conf`, e.g.
    {"host": "primary-dynamo.dynamo.net", "user": "dynamosrv", "readuser": "dynamoread"}; optional
    "port", "password", "db" (default: the local database's name) and "option_file" (a MySQL
    option file with the credentials). None when the value is empty: this server is a primary."""
    if not text or not text.strip():
        return None, None
    import json
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f'master_conf is not valid JSON: {exc.msg} at column {exc.colno}') from None
    if not isinstance(conf, dict) or not conf.get('host'):
        raise ConfigError('master_conf must be a JSON object with at least "host"')
    unknown = set(conf) - _MASTER_KEYS
    if unknown:
        raise ConfigError(f'master_conf: unknown keys {sorted(unknown)} (known: {sorted(_MASTER_KEYS)})')
    if local['ENGINE'] != MYSQL_ENGINE:
        raise ConfigError('a secondary server (master_conf set) needs a MariaDB/MySQL database of its own '
                          '(DYNAMO_DB_URL=mysql://...)')
    options = dict(local['OPTIONS'])
    if conf.get('option_file'):
        options['read_default_file'] = conf['option_file']
    db = {
        'ENGINE': MYSQL_ENGINE,
        'NAME': conf.get('db') or local['NAME'],
        'USER': conf.get('user') or local['USER'],
        'PASSWORD': conf.get('password', ''),
        'HOST': conf['host'],
        'PORT': str(conf.get('port') or 3306),
        'OPTIONS': options,
        'CONN_MAX_AGE': 0,     # web threads reconnect per request: the primary can change (failover)
        'TEST': {'MIRROR': 'default'},
    }
    return db, conf


def primary_alias(local, master_db):
    """The `primary` alias of a MariaDB/MySQL server: the configured primary's database for a
    secondary; for a primary, its own (a failover may later point it elsewhere); None on SQLite."""
    if master_db is not None:
        return master_db
    if local['ENGINE'] != MYSQL_ENGINE:
        return None
    return dict(local, CONN_MAX_AGE=0, TEST={'MIRROR': 'default'})


def split_list(value):
    return [item.strip() for item in (value or '').replace(os.pathsep, ',').split(',') if item.strip()]
