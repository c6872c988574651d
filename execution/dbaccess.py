"""The read-only database connection given to forked applications.

SQLite: the same file opened with mode=ro. MariaDB/MySQL: DYNAMO_DB_READONLY_URL, or an account
`<db>_ro` with SELECT only, created (with a fresh random password) at server start. If none can be
had, applications get no database at all rather than a writable one.
"""
import logging
import secrets

from django.conf import settings
from django.db import DatabaseError, connection

from dynamo_site.config import database_from_url

log = logging.getLogger('dynamo.server')
NO_DATABASE = {'ENGINE': 'django.db.backends.dummy'}


def readonly_settings():
    db = dict(settings.DATABASES['default'])
    db.pop('TEST', None)
    if connection.vendor == 'sqlite':
        db['NAME'] = f'file:{db["NAME"]}?mode=ro'
        db['OPTIONS'] = {'timeout': 30}
        return db
    if settings.DYNAMO_DB_READONLY_URL:
        ro = database_from_url(settings.DYNAMO_DB_READONLY_URL, str(settings.VAR_DIR))
        ro.pop('TEST', None)
        return ro
    user = f'{db["NAME"]}_ro'[:80]
    password = secrets.token_urlsafe(24)
    try:
        with connection.cursor() as c:
            for host in ('%', 'localhost'):
                c.execute('CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s', [user, host, password])
                c.execute('ALTER USER %s@%s IDENTIFIED BY %s', [user, host, password])
                c.execute(f"GRANT SELECT ON `{db['NAME']}`.* TO %s@%s", [user, host])
    except DatabaseError as exc:
        log.warning('cannot create the read-only account %s (%s): applications get no database access; '
                    'set DYNAMO_DB_READONLY_URL', user, exc)
        return NO_DATABASE
    db['USER'] = user
    db['PASSWORD'] = password
    return db
