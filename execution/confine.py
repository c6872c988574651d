"""Confining an application process before its first line runs: who it runs as, what it can no
longer find, what it may consume. Called in the forked child only (and, for the capability check,
at server start); nothing here runs user code.

The rules (docs/applications.md, "Security model"): an application runs as an unprivileged OS user,
never as root and never as the server's own uid; it keeps no server credential in any object,
environment variable or file descriptor; it dies with its supervisor; it cannot gain privileges.
"""
import ctypes
import gc
import grp
import os
import pwd
import re
import resource
import signal
from dataclasses import dataclass

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
_CAP_CHOWN, _CAP_KILL, _CAP_SETGID, _CAP_SETUID = 0, 5, 6, 7
NEEDED_CAPABILITIES = {'CAP_CHOWN': _CAP_CHOWN, 'CAP_KILL': _CAP_KILL, 'CAP_SETGID': _CAP_SETGID,
                       'CAP_SETUID': _CAP_SETUID}
# environment variables of the server an application has no business seeing
_PRIVATE_ENV = re.compile(r'^DYNAMO_|PASSW|SECRET|TOKEN|_KEY$|CREDENTIAL|X509|^MYSQL|^PG', re.I)
_URL_WITH_PASSWORD = re.compile(r'://[^/\s:@]*:[^@\s/]+@')
_SECRET_KEYS = ('PASSWORD', 'password', 'passwd', 'readpassword')


def _prctl(option, value):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f'prctl({option}) failed')


@dataclass(frozen=True)
class Account:
    """The OS account an application runs as."""
    login: str
    uid: int
    gid: int
    groups: tuple
    home: str


def resolve_account(login):
    """The Account of `login`; raises LookupError naming the login when it is missing or is root."""
    try:
        entry = pwd.getpwnam(login)
    except KeyError:
        raise LookupError(f'no local user {login!r} to run the application as') from None
    if entry.pw_uid == 0:
        raise LookupError(f'applications never run as root (the account {login!r} is uid 0)')
    groups = tuple(sorted(set(os.getgrouplist(login, entry.pw_gid))))
    return Account(login, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)


def run_as_for(*, uid, app_user):
    """The login a local submission by `uid` runs as: the submitter's own, except for root and
    the server's own uid, whose applications run as the configured account `app_user`."""
    if uid == 0 or uid == os.geteuid():
        return app_user
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise LookupError(f'uid {uid} has no local account: its applications cannot run') from None


def switching_problem(app_user):
    """Why this process cannot run applications under other users ('' when it can)."""
    if os.geteuid() != 0:
        try:
            with open('/proc/self/status') as f:
                effective = next(int(line.split()[1], 16) for line in f if line.startswith('CapEff:'))
        except (OSError, StopIteration):
            effective = 0
        missing = [name for name, bit in NEEDED_CAPABILITIES.items() if not effective & (1 << bit)]
        if missing:
            return (f'the server runs as uid {os.geteuid()} without {", ".join(missing)}: it cannot run '
                    f'applications under their users (run it as root, or grant these capabilities; '
                    f'docs/applications.md)')
    try:
        account = resolve_account(app_user)
    except LookupError as exc:
        return f'DYNAMO_APP_USER: {exc}'
    if account.uid == os.geteuid():
        return f'DYNAMO_APP_USER {app_user!r} is the server\'s own account: applications must run as another'
    return ''


def die_with(parent):
    """End this process (SIGKILL) when `parent` ends; exits now if it already has."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(70)


def become_subreaper():
    """Orphaned descendants are reparented to this process, so none escapes its accounting."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def drop_privileges(account, *, parent):
    """Become `account` for good (real, effective and saved ids; its groups only), with no way
    back (no new privileges through set-uid binaries), then die with `parent` again (a change of
    credentials clears the parent-death signal)."""
    os.setgroups(list(account.groups))
    os.setresgid(account.gid, account.gid, account.gid)
    os.setresuid(account.uid, account.uid, account.uid)
    if os.getuid() != account.uid or os.geteuid() != account.uid or os.getegid() != account.gid:
        raise OSError('could not change to the application user')
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise OSError('the application could regain root')
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_DUMPABLE, 0)   # other processes of the same user cannot read this one's memory
    die_with(parent)


def set_limits(*, memory_bytes, processes, cpu_seconds):
    """Per-process backstops of the whole-application limits the supervisor enforces: address
    space beyond the image, processes of this user beyond those it has now, CPU time; no cores."""
    if memory_bytes:
        with open('/proc/self/status') as f:
            vm = next((int(line.split()[1]) * 1024 for line in f if line.startswith('VmSize:')), 0)
        resource.setrlimit(resource.RLIMIT_AS, (vm + memory_bytes, vm + memory_bytes))
    if processes:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    if cpu_seconds:
        resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds) + 1, int(cpu_seconds) + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def processes_of(uid):
    count = 0
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                if os.stat(f'/proc/{name}').st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def scrub_environment(account):
    """Drop the server's private variables from the environment: from os.environ, from the copy
    the interpreter made at start (posix.environ) and from the process's initial environment block
    itself, which /proc/self/environ shows (it is zeroed in place)."""
    import posix
    for name in [n for n in os.environ if _PRIVATE_ENV.search(n)]:
        del os.environ[name]
    posix.environ.clear()
    _wipe_initial_environment()
    os.environ.update(HOME=account.home, USER=account.login, LOGNAME=account.login)


def _wipe_initial_environment():
    try:
        with open('/proc/self/stat', 'rb') as f:
            fields = f.read().rpartition(b')')[2].split()
        start, end = int(fields[47]), int(fields[48])   # env_start, env_end (stat fields 50, 51)
    except (OSError, IndexError, ValueError):
        return
    if 0 < start < end:
        ctypes.memset(start, 0, end - start)


def scrub_credentials(readonly_db):
    """Remove every server credential an application could reach from its objects: the database
    settings (all aliases, in place, so every connection wrapper sharing them loses them too),
    the secret key, master_conf, the INI file's values, the broker URL; the cluster's address
    book; then any dict of the not-frozen heap that holds a password. The read-only database of
    `readonly_db` is what the application keeps."""
    from django.conf import settings
    from django.db import connections

    from dynamo_site.mysql_backend.base import REDIRECTS
    from execution.topology import TOPOLOGY
    module = __import__('dynamo_site.settings', fromlist=['DATABASES'])
    for db in list(settings.DATABASES.values()) + [getattr(module, '_primary_db', None) or {}]:
        _blank(db)
        db.get('OPTIONS', {}).pop('read_default_file', None)
    REDIRECTS.clear()
    TOPOLOGY.master = None
    clean = {'SECRET_KEY': '', 'DYNAMO_MASTER': None, 'INI': None, 'DYNAMO_DB_READONLY_URL': None,
             'CELERY_BROKER_URL': '', 'DYNAMO_SECRET_KEY': None}
    for name, value in clean.items():
        if hasattr(module, name):
            setattr(module, name, value)
        settings.__dict__.pop(name, None)          # LazySettings caches what was read
        if hasattr(settings._wrapped, name):
            setattr(settings._wrapped, name, value)
    module._primary_db = None
    databases = {'default': dict(readonly_db)}
    # the server's connection objects stay referenced (closing them here would speak on sockets
    # this process no longer owns) but out of use: new ones come from the read-only settings
    from asgiref.local import Local
    _RETIRED.append(connections._connections)
    connections._connections = Local(connections.thread_critical)
    connections.__dict__.pop('settings', None)
    connections._settings = databases
    settings._wrapped.DATABASES = databases
    settings.__dict__.pop('DATABASES', None)
    module.DATABASES = databases
    for obj in gc.get_objects():   # (the frozen image is not in there, and is not touched)
        if type(obj) is dict and obj is not databases['default']:
            if any(k in obj for k in _SECRET_KEYS):
                _blank(obj)
            for key, value in list(obj.items()):
                if type(value) is str and _URL_WITH_PASSWORD.search(value):
                    obj[key] = _URL_WITH_PASSWORD.sub('://<removed>@', value)


_RETIRED = []


def _blank(d):
    for key in _SECRET_KEYS:
        if key in d:
            d[key] = ''


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
