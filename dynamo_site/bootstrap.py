"""Files a server needs before it can run: the var directory and the development secret key.

Called by manage.py for the commands that serve or create databases (never at settings import),
so that any local user can run the client commands without touching the server's files.
"""
import os
import secrets
from pathlib import Path

from dynamo_site import config

# commands that run the server or create its database (everything else only reads)
COMMANDS = {'runserver_dynamo', 'migrate', 'dynamo_demo', 'createsuperuser', 'runserver', 'collectstatic'}


def var_dir():
    ini = config.load_ini(os.environ.get('DYNAMO_CONFIG'))
    return Path(config.get('DYNAMO_VAR_DIR', ini, str(Path(__file__).resolve().parent.parent / 'var')))


def prepare(command):
    """Make the var directory and, without DYNAMO_SECRET_KEY, the secret key file (mode 0600)."""
    if command not in COMMANDS:
        return
    base = var_dir()
    base.mkdir(parents=True, exist_ok=True)
    ini = config.load_ini(os.environ.get('DYNAMO_CONFIG'))
    if config.get('DYNAMO_SECRET_KEY', ini):
        return
    path = base / 'secret_key'
    if path.exists():
        return
    # written aside and linked into place: a process starting at the same moment (a second server, a
    # migrate) finds either no key or the whole key, and both keep the one that was linked first
    temp = base / f'.secret_key.{os.getpid()}'
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(secrets.token_urlsafe(50))
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temp)
