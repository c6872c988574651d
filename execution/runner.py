"""Forking one application from the server's RAM image, and everything the child does.

The child gets the copy-on-write image, a read-only database connection, its own work area and
session; it runs the script as __main__ and ends with os._exit (it never returns into the server).
A write request streams its changes (only real changes, in call order) to a file in the work area,
closed by an end marker only when the script exits with 0.
"""
import io
import json
import os
import resource
import runpy
import selectors
import shlex
import signal
import sys
import threading
import traceback

# imported here, in the server, so that every forked child finds them loaded
import dynamo.core.executable  # noqa: F401
import dynamo.dataformat  # noqa: F401

CHANGES_FILE = 'changes.jsonl'
OUTPUT_FILE = 'output.log'
SCRIPT_FILE = 'exec.py'
APP_NICENESS = 10


class ChangeWriter:
    """Sink of the child's journal: one JSON line per operation; an end line marks completion."""

    def __init__(self, path):
        self.f = open(path, 'w', encoding='utf-8', buffering=1 << 20)
        self.count = 0

    def add(self, op, data):
        self.f.write(json.dumps((op, data), separators=(',', ':')))
        self.f.write('\n')
        self.count += 1

    def finish(self):
        self.f.write(json.dumps({'end': self.count}) + '\n')
        self.f.close()


class ChangeCounter:
    def __init__(self):
        self.updates = 0
        self.deletes = 0

    def add(self, op, data):
        if op == 'u':
            self.updates += 1
        else:
            self.deletes += 1


def read_changes(path):
    """Operations of a finished write request; raises ValueError if the stream is incomplete."""
    with open(path, encoding='utf-8') as f:
        count = 0
        for line in f:
            item = json.loads(line)
            if isinstance(item, dict):
                if item.get('end') != count:
                    raise ValueError(f'change stream says {item.get("end")} changes, {count} found')
                return
            count += 1
            yield item
    raise ValueError('the change stream has no end marker (the application did not finish cleanly)')


def fork_application(*, inventory, work_dir, args, write, readonly_db, memory_limit_mb,
                     interactive_fds=None):
    """Fork the child. Returns (pid, stdout read fd, stderr read fd); fds are None when interactive."""
    if interactive_fds is None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
    from dynamo_site.forkgate import GATE
    parent = os.getpid()
    with GATE.exclusive():   # no thread of the server is inside the database library now
        pid = os.fork()
        if pid == 0:
            GATE.reset_in_child()
    if pid:
        if interactive_fds is None:
            os.close(out_w)
            os.close(err_w)
            return pid, out_r, err_r
        return pid, None, None
    # ---- child: never returns
    code = 70
    try:
        _die_with(parent)
        if interactive_fds is None:
            _setup_process(os.open(os.devnull, os.O_RDONLY), out_w, err_w, memory_limit_mb)
        else:
            _setup_process(*interactive_fds, memory_limit_mb)
        _use_readonly_database(readonly_db)
        os.chdir(work_dir)
        code = _run(inventory, work_dir, args, write, interactive_fds is not None)
    except BaseException:
        try:
            traceback.print_exc()
        except BaseException:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


# the server's own settings an application has no business seeing
_PRIVATE_ENV = ('DYNAMO_DB_URL', 'DYNAMO_DB_READONLY_URL', 'DYNAMO_SECRET_KEY', 'DYNAMO_MASTER_CONF',
                'DYNAMO_ADMIN_PASSWORD', 'DYNAMO_WEB_SSL_KEY')


def _setup_process(stdin_fd, stdout_fd, stderr_fd, memory_limit_mb):
    os.setsid()
    os.nice(APP_NICENESS)   # applications are batch work: the server's web answers come first
    for name in _PRIVATE_ENV:
        os.environ.pop(name, None)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.dup2(stdin_fd, 0)
    os.dup2(stdout_fd, 1)
    os.dup2(stderr_fd, 2)
    # nothing of the server's (database sockets, listening sockets, pipes of other children)
    os.closerange(3, _max_fd())
    sys.stdin = io.TextIOWrapper(io.FileIO(0, 'r', closefd=False), encoding='utf-8')
    sys.stdout = io.TextIOWrapper(io.FileIO(1, 'w', closefd=False), encoding='utf-8',
                                  errors='backslashreplace', line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, 'w', closefd=False), encoding='utf-8',
                                  errors='backslashreplace', line_buffering=True)
    if memory_limit_mb:
        with open('/proc/self/status') as f:
            vm = next((int(line.split()[1]) * 1024 for line in f if line.startswith('VmSize:')), 0)
        limit = vm + memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _die_with(parent):
    """The child ends when the server does (a crashed server leaves no application writing on)."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:   # the server died before the line above
        os._exit(70)


def _max_fd():
    try:
        return max(int(fd) for fd in os.listdir('/proc/self/fd')) + 1
    except (OSError, ValueError):
        return 65536


def _use_readonly_database(db_settings):
    """Point Django at a read-only connection; the server's connections are unusable here."""
    from asgiref.local import Local
    from django.db import connections
    _KEEP.append(connections._connections)   # never garbage-collected: closing would hit the server's
    connections._connections = Local(connections.thread_critical)
    connections.__dict__.pop('settings', None)
    connections._settings = {'default': dict(db_settings)}
    from django.conf import settings
    settings.DATABASES = connections.settings


_KEEP = []


def _run(inventory, work_dir, args, write, interactive):
    import dynamo.core.executable as executable
    from inventory.store import FileCatalog
    inventory.files = FileCatalog()
    sink = ChangeWriter(os.path.join(work_dir, CHANGES_FILE)) if write else ChangeCounter()
    journal = inventory.begin(undo_limit=0, sink=sink.add)
    journal.portable_files = True
    executable.inventory = inventory
    executable.read_only = not write
    executable.authorized = write
    if interactive:
        return _console(inventory)
    script = os.path.join(work_dir, SCRIPT_FILE)
    sys.argv = [script] + shlex.split(args)
    sys.path.insert(0, work_dir)
    code = _exec_script(script)
    sys.stdout.flush()
    if code == 0 and write:
        sink.finish()
    elif not write and (sink.updates or sink.deletes):
        sys.stderr.write(f'[dynamo] read-only run: would apply {sink.updates} updates and '
                         f'{sink.deletes} deletes\n')
    return code


def _exec_script(script):
    try:
        runpy.run_path(script, run_name='__main__')
        return 0
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code & 0xff
        sys.stderr.write(f'{exc.code}\n')
        return 1
    except KeyboardInterrupt:
        sys.stderr.write('interrupted\n')
        return 2
    except BaseException as exc:
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next   # hide the runner's own frames
        traceback.print_exception(type(exc), exc, tb or exc.__traceback__)
        return 1


def _console(inventory):
    import code
    try:
        import readline  # noqa: F401  (line editing on the real terminal)
    except ImportError:
        pass
    banner = (f'Dynamo interactive console (read-only): `inventory` holds {len(inventory.datasets)} '
              f'datasets at {len(inventory.sites)} sites. Ctrl-D exits.')
    console = code.InteractiveConsole({'inventory': inventory, '__name__': '__console__'})
    try:
        console.interact(banner=banner, exitmsg='')
    except SystemExit:
        pass
    return 0


class OutputRelay(threading.Thread):
    """Reads a child's stdout and stderr pipes; appends them to the work area's output file and
    hands each piece to `publish(stream, text)` for live clients."""

    def __init__(self, app_id, out_fd, err_fd, path, publish):
        super().__init__(name=f'relay-{app_id}', daemon=True)
        self.fds = {out_fd: 'out', err_fd: 'err'}
        self.path = path
        self.publish = publish

    def run(self):
        sel = selectors.DefaultSelector()
        for fd in self.fds:
            sel.register(fd, selectors.EVENT_READ)
        open_fds = set(self.fds)
        with open(self.path, 'ab') as out:
            while open_fds:
                for key, _ in sel.select():
                    data = os.read(key.fd, 65536)
                    if not data:
                        sel.unregister(key.fd)
                        os.close(key.fd)
                        open_fds.discard(key.fd)
                        continue
                    out.write(data)
                    out.flush()
                    self.publish(self.fds[key.fd], data.decode('utf-8', 'replace'))
        sel.close()
