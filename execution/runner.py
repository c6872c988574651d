"""Forking one application from the server's RAM image, and the server's side of its life:
capturing its output (bounded), spooling its changes from the pipe only the server holds, and
reading how it ended.

Two processes are forked: a supervisor (execution/supervisor.py), which stays the server's and
accounts for the application's whole process tree, and under it the application itself
(execution/appchild.py), which confines itself and runs the script. The server only ever talks
to the supervisor.
"""
import json
import os
import selectors
import threading
from dataclasses import dataclass

# imported here, in the server, so that every forked child finds them loaded
import dynamo.core.executable  # noqa: F401
import dynamo.dataformat  # noqa: F401
from dynamo_site.forkgate import GATE
from execution import appchild, confine, output
from execution.supervisor import Limits, supervise

SCRIPT_FILE = 'exec.py'
CHANGES_FILE = 'changes.jsonl'


@dataclass(frozen=True)
class Launch:
    """What an application process needs to know (read in the forked child)."""
    app_id: int
    work_dir: str
    private_dir: str              # the server's own directory of this application (0700)
    script_file: str
    display_path: str             # the name tracebacks and sys.argv[0] give the script
    checksum: str
    args: str
    write: bool
    interactive: bool
    account: confine.Account
    readonly_db: dict
    limits: Limits
    builtin_run: str = ''         # a built-in cycle's run function ('module:function') instead of a script


@dataclass
class Launched:
    pid: int                      # the supervisor's
    out_fd: int | None
    err_fd: int | None
    changes_fd: int | None
    report_fd: int


def fork_application(*, inventory, spec, interactive_fds=None):
    """Fork the supervisor and, under it, the application. Returns Launched (server-side fds)."""
    pipes = {}
    if interactive_fds is None:
        pipes['out'] = os.pipe()
        pipes['err'] = os.pipe()
    if spec.write or spec.builtin_run:   # a write request's changes, or a cycle's result
        pipes['changes'] = os.pipe()
    pipes['report'] = os.pipe()
    server = os.getpid()
    with GATE.exclusive():   # no thread of the server is inside the database library now
        pid = os.fork()
        if pid == 0:
            GATE.reset_in_child()
    if pid:
        for name, (r, w) in pipes.items():
            os.close(w)
        return Launched(pid, pipes.get('out', (None,))[0], pipes.get('err', (None,))[0],
                        pipes.get('changes', (None,))[0], pipes['report'][0])
    # ---- the supervisor: never returns
    try:
        confine.die_with(server)
        confine.become_subreaper()
        for r, _ in pipes.values():
            os.close(r)
        stdio = interactive_fds if interactive_fds is not None else (
            os.open(os.devnull, os.O_RDONLY), pipes['out'][1], pipes['err'][1])
        changes_fd = pipes['changes'][1] if 'changes' in pipes else None
        app = os.fork()
        if app == 0:
            appchild.main(inventory=inventory, spec=spec, stdio=stdio, changes_fd=changes_fd,
                          supervisor=os.getppid())
        report_fd = pipes['report'][1]
        for fd in set(stdio) | ({changes_fd} if changes_fd is not None else set()):
            os.close(fd)
        for fd in appchild._open_fds():
            if fd != report_fd:
                try:
                    os.close(fd)
                except OSError:
                    pass
        supervise(app_pid=app, limits=spec.limits, report_fd=report_fd)
    finally:
        os._exit(70)


def read_report(fd):
    """How the application ended, as its supervisor said (an empty dict if it said nothing)."""
    data = b''
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
    except OSError:
        pass
    finally:
        os.close(fd)
    try:
        return json.loads(data.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}


def read_result(path):
    """A built-in cycle's result (the one JSON document its run function returned)."""
    with open(path, encoding='utf-8') as f:
        return json.loads(f.read())


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


class ChangeSpool(threading.Thread):
    """Drains a write application's change pipe into a file of the server's private directory
    (the application cannot reach it), so the application never blocks on a full pipe."""

    def __init__(self, app_id, fd, path, limit_bytes):
        super().__init__(name=f'changes-{app_id}', daemon=True)
        self.fd = fd
        self.path = path
        self.limit = limit_bytes
        self.size = 0
        self.overflow = False

    def run(self):
        with open(self.path, 'wb') as out:
            while data := os.read(self.fd, 1 << 20):
                self.size += len(data)
                if self.limit and self.size > self.limit:
                    self.overflow = True   # the scheduler fails the application; the rest is read and dropped
                    continue
                out.write(data)
        os.close(self.fd)


class OutputRelay(threading.Thread):
    """Reads an application's stdout and stderr pipes into its bounded output log, and hands each
    piece to `publish(stream, text)` for live clients (which never block it)."""

    def __init__(self, app_id, out_fd, err_fd, directory, limit_bytes, publish):
        super().__init__(name=f'relay-{app_id}', daemon=True)
        self.fds = {out_fd: 'out', err_fd: 'err'}
        self.log = output.BoundedLog(directory, limit_bytes)
        self.publish = publish

    def run(self):
        sel = selectors.DefaultSelector()
        for fd in self.fds:
            sel.register(fd, selectors.EVENT_READ)
        open_fds = set(self.fds)
        try:
            while open_fds:
                for key, _ in sel.select():
                    data = os.read(key.fd, 65536)
                    if not data:
                        sel.unregister(key.fd)
                        os.close(key.fd)
                        open_fds.discard(key.fd)
                        continue
                    self.log.write(data)
                    self.publish(self.fds[key.fd], data.decode('utf-8', 'replace'))
        finally:
            self.log.close()
            sel.close()
