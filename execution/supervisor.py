"""The supervisor of one application: a process of the server's (root, never running user code)
between the server and the application. Every process the application starts stays its
descendant (it is a subreaper), so it can account for the whole tree: private memory, number of
processes and CPU time. It ends the tree when a limit is passed, when asked to (timeout, kill), when
the server dies, or when the application's main process ends, and tells the server how the
application ended with one JSON line on a pipe.
"""
import json
import os
import resource
import signal
import time
from dataclasses import dataclass

_TICK = os.sysconf('SC_CLK_TCK')
STOP_GRACE = 5.0


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 0        # private memory of the whole tree (0 = none)
    processes: int = 0           # processes in the tree at once
    cpu_seconds: float = 0.      # CPU time of the whole tree

    def describe(self):
        parts = []
        if self.memory_bytes:
            parts.append(f'{self.memory_bytes >> 20} MB of memory')
        if self.processes:
            parts.append(f'{self.processes} processes')
        if self.cpu_seconds:
            parts.append(f'{self.cpu_seconds:g} s of CPU')
        return ', '.join(parts) or 'none'


def _stat(pid):
    """(ppid, utime + stime in seconds) of a process; None if it is gone."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            fields = f.read().rpartition(b')')[2].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _private_memory(pid):
    try:
        with open(f'/proc/{pid}/smaps_rollup', 'rb') as f:
            total = 0
            for line in f:
                if line.startswith((b'Private_Dirty:', b'Private_Clean:')):
                    total += int(line.split()[1]) * 1024
            return total
    except OSError:
        return 0


def _signal_descendant(pid, sig, tree):
    try:
        fd = os.pidfd_open(pid)
    except OSError:          # gone already
        return
    try:
        info = _stat(pid)
        if info is not None and info[0] in tree:
            signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)


class Tree:
    """The descendants of this process, read from /proc."""

    def __init__(self):
        self.me = os.getpid()
        self.reaped = {}          # pid -> wait status of every child reaped so far

    def reap(self):
        """Reap every ended child (its own, and orphans reparented to this subreaper)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reaped[pid] = status

    def members(self):
        children = {}
        cpu = {}
        for name in os.listdir('/proc'):
            if name.isdigit():
                info = _stat(int(name))
                if info is not None:
                    children.setdefault(info[0], []).append(int(name))
                    cpu[int(name)] = info[1]
        found, todo = [], list(children.get(self.me, ()))
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, ()))
        return found, sum(cpu.get(p, 0.) for p in found)

    def signal_all(self, sig):
        """Signal every descendant; returns the pids listed. A pid is signalled through a pidfd
        opened on it and only if, once the pidfd holds it, its parent is this process or one of the
        tree: between the listing and the signal a descendant may end and its pid be given to a
        process of anyone else's (pids wrap around), which must never be stopped or killed."""
        members, _ = self.members()
        tree = set(members) | {self.me}
        for pid in members:
            _signal_descendant(pid, sig, tree)
        return members

    def kill_all(self, rounds=50):
        """Stop, then kill every descendant (a fork bomb cannot outrun it: stopped processes fork
        nothing), until none is left."""
        for _ in range(rounds):
            if not self.signal_all(signal.SIGSTOP):
                return
            self.signal_all(signal.SIGKILL)
            self.reap()
            time.sleep(0.01)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class StopSignals:
    """The stop signals of a supervisor, caught from its first moment: the server forks it with
    them blocked, and it unblocks them once these handlers are in place, so that a kill that comes
    before the application is watched is kept for it, never lost to a handler of the server's."""

    def __init__(self):
        self.signal = None
        self.at = None
        self.app_pid = None

    def install(self, unblock=None):
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        if unblock is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, unblock)

    def _on_signal(self, sig, _frame):
        if sig == signal.SIGINT:
            if self.app_pid is not None:
                try:
                    os.killpg(self.app_pid, signal.SIGINT)   # an interactive Ctrl-C goes to the application
                except (ProcessLookupError, PermissionError):
                    pass
            return
        if self.signal is None:
            self.signal, self.at = sig, time.monotonic()


def supervise(*, app_pid, limits, report_fd, stop, interval=0.3):
    """Watch the application `app_pid` (a child of this process) until it ends; report; exit.
    `stop`: the StopSignals installed when this process began."""
    stop.app_pid = app_pid
    tree = Tree()
    outcome = {}
    peak = {'memory': 0, 'processes': 0}
    last_check = 0.
    while True:
        tree.reap()
        app_status = tree.reaped.get(app_pid)
        if app_status is not None:
            break
        if stop.signal is not None:
            if 'stopped' not in outcome:
                outcome['stopped'] = stop.signal
                tree.signal_all(signal.SIGTERM)
            elif time.monotonic() - stop.at > STOP_GRACE:
                tree.kill_all()
        now = time.monotonic()
        if now - last_check >= interval and 'limit' not in outcome:
            last_check = now
            reason = _over_limit(tree, limits, peak)
            if reason:
                outcome['limit'] = reason
                tree.kill_all()
        time.sleep(0.02)
    tree.kill_all()   # nothing the application started outlives it
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    outcome.update(peak_memory=peak['memory'], peak_processes=peak['processes'],
                   cpu_seconds=round(used.ru_utime + used.ru_stime, 3))
    if os.WIFEXITED(app_status):
        outcome['exit_code'] = os.WEXITSTATUS(app_status)
    else:
        outcome['signal'] = os.WTERMSIG(app_status)
    os.write(report_fd, (json.dumps(outcome) + '\n').encode())
    os._exit(0)


def _over_limit(tree, limits, peak):
    members, cpu_live = tree.members()
    peak['processes'] = max(peak['processes'], len(members))
    if limits.processes and len(members) > limits.processes:
        return f'more than {limits.processes} processes ({len(members)})'
    if limits.memory_bytes:
        memory = sum(_private_memory(pid) for pid in members)
        peak['memory'] = max(peak['memory'], memory)
        if memory > limits.memory_bytes:
            return (f'memory limit of {limits.memory_bytes >> 20} MB exceeded ({memory >> 20} MB in '
                    f'{len(members)} processes)')
    if limits.cpu_seconds:
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = cpu_live + used.ru_utime + used.ru_stime
        if cpu > limits.cpu_seconds:
            return f'CPU time limit of {limits.cpu_seconds:g} s exceeded ({cpu:.0f} s)'
    return ''
