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
import pickle
import selectors
import signal
import socket
import threading
import time
from dataclasses import dataclass

# imported here, in the server, so that every forked child finds them loaded
import dynamo.core.executable  # noqa: F401
import dynamo.dataformat  # noqa: F401
from dynamo_site.forkgate import GATE
from execution import appchild, confine, output
from execution.supervisor import STOP_SIGNALS, Limits, StopSignals, supervise

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


def _pipes(spec, interactive):
    """{name: (read fd, write fd)} of one application: its output (unless interactive), its
    change stream or result, and its supervisor's report."""
    pipes = {}
    if not interactive:
        pipes['out'] = os.pipe()
        pipes['err'] = os.pipe()
    if spec.write or spec.builtin_run:   # a write request's changes, or a cycle's result
        pipes['changes'] = os.pipe()
    pipes['report'] = os.pipe()
    return pipes


def _launched(pid, pipes):
    for _, w in pipes.values():
        os.close(w)
    return Launched(pid, pipes.get('out', (None,))[0], pipes.get('err', (None,))[0],
                    pipes.get('changes', (None,))[0], pipes['report'][0])


def _ends(pipes, interactive_fds):
    """The child's ends: (stdin, stdout, stderr), the change fd (or None), the report fd."""
    stdio = tuple(interactive_fds) if interactive_fds is not None else (
        os.open(os.devnull, os.O_RDONLY), pipes['out'][1], pipes['err'][1])
    return stdio, pipes['changes'][1] if 'changes' in pipes else None, pipes['report'][1]


def fork_application(*, inventory, spec, interactive_fds=None):
    """Fork the supervisor and, under it, the application. Returns Launched (server-side fds)."""
    pipes = _pipes(spec, interactive_fds is not None)
    server = os.getpid()
    pid, mask = _fork()
    if pid:
        return _launched(pid, pipes)
    # ---- the supervisor: never returns
    try:
        stop = StopSignals()
        stop.install(unblock=mask)
        confine.die_with(server)
        confine.become_subreaper()
        for r, _ in pipes.values():
            os.close(r)
        _supervise(inventory, spec, *_ends(pipes, interactive_fds), stop=stop)
    finally:
        os._exit(70)


def _fork():
    """os.fork() of the server, with the stop signals blocked in this thread across it: the child
    receives them only once it has handlers of its own. Returns (pid, the mask to restore)."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    with GATE.exclusive():   # no thread of the server is inside the database library now
        pid = os.fork()
        if pid == 0:
            GATE.reset_in_child()
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return pid, mask


def _supervise(inventory, spec, stdio, changes_fd, report_fd, *, stop):
    """In the supervisor: fork the application, keep only the report pipe, watch it to its end."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)   # appchild unblocks them
    app = os.fork()
    if app == 0:
        appchild.main(inventory=inventory, spec=spec, stdio=stdio, changes_fd=changes_fd,
                      supervisor=os.getppid())
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    for fd in appchild._open_fds():
        if fd != report_fd:
            try:
                os.close(fd)
            except OSError:
                pass
    supervise(app_pid=app, limits=spec.limits, report_fd=report_fd, stop=stop)


class Spare:
    """A supervisor forked ahead of need (warm), so that starting an application costs one fork
    of the image instead of two. It holds the image as it was at `version`: it is used only while
    the server's image is still at that version, and replaced when it is stale or old (its pages
    are the old ones: the server copies every page it writes meanwhile)."""
    MAX_AGE = 60.0

    def __init__(self, pid, channel, version):
        self.pid = pid
        self.channel = channel
        self.version = version
        self.born = time.monotonic()

    def usable(self, version):
        return self.version == version and time.monotonic() - self.born < self.MAX_AGE

    def launch(self, spec, interactive_fds=None):
        """Hand it an application; returns Launched. The spare is used up."""
        pipes = _pipes(spec, interactive_fds is not None)
        stdio, changes_fd, report_fd = _ends(pipes, interactive_fds)
        fds = list(stdio) + [report_fd] + ([changes_fd] if changes_fd is not None else [])
        try:
            socket.send_fds(self.channel, [pickle.dumps(spec)], fds)
        finally:
            self.channel.close()
            if interactive_fds is None:
                os.close(stdio[0])   # the /dev/null this side opened for the child's stdin
        return _launched(self.pid, pipes)

    def release(self):
        """Let it go unused (it exits when its channel closes)."""
        self.channel.close()


def fork_spare(*, inventory):
    """A Spare supervisor of the current image (call from the server's loop)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    server = os.getpid()
    pid, mask = _fork()
    if pid:
        theirs.close()
        return Spare(pid, ours, inventory.version)
    # ---- the spare: waits for one application, then is its supervisor; never returns
    try:
        stop = StopSignals()
        stop.install(unblock=mask)
        confine.die_with(server)
        confine.become_subreaper()
        keep = theirs.fileno()
        for fd in appchild._open_fds():   # nothing of the server's while it waits
            if fd != keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        message, fds, _, _ = socket.recv_fds(theirs, 1 << 20, 5)
        if not message:
            os._exit(0)
        spec = pickle.loads(message)
        stdio, report_fd = tuple(fds[:3]), fds[3]
        changes_fd = fds[4] if len(fds) > 4 else None
        theirs.close()
        _supervise(inventory, spec, stdio, changes_fd, report_fd, stop=stop)
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
