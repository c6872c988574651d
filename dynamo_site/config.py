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
    'DYNAMO_FILE_CACHE_BLOCKS': ('server', 'file_cache_blocks'),
    'DYNAMO_APP_SOCKET': ('applications', 'socket'),
    'DYNAMO_WORK_DIR': ('applications', 'work_dir'),
    'DYNAMO_MAX_READONLY_APPS': ('applications', 'max_readonly'),
    'DYNAMO_APP_TIMEOUT_HOURS': ('applications', 'timeout_hours'),
    'DYNAMO_APP_MEMORY_LIMIT_MB': ('applications', 'memory_limit_mb'),
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
    'DYNAMO_ALLOWED_HOSTS': ('web', 'allowed_hosts'),
    'DYNAMO_DEBUG': ('web', 'debug'),
}


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
            'ENGINE': 'django.db.backends.mysql',
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


def split_list(value):
    return [item.strip() for item in (value or '').replace(os.pathsep, ',').split(',') if item.strip()]
