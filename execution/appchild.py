"""What the application process does, from its fork to its exit: set up its standard streams,
confine itself (execution/confine.py), then run the script as __main__ from the bytes that were
checked at submission (never re-read from a file someone could change). A write request streams
its changes, in call order, into the pipe only its server holds the other end of, closed by an
end marker only when the script exits with 0. It ends with os._exit: it never returns into the server.
"""
import builtins
import hashlib
import io
import json
import linecache
import os
import re
import shlex
import signal
import sys
import traceback

from execution import confine
from execution.builtins import resolve as resolve_builtin

APP_NICENESS = 10


class ChangeWriter:
    """Sink of the child's journal: one JSON line per operation; an end line marks completion."""

    def __init__(self, fd):
        self.f = open(fd, 'w', encoding='utf-8', buffering=1 << 20)
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


def main(*, inventory, spec, stdio, changes_fd, supervisor):
    """The application process. `spec`: the Launch of runner.py; `stdio`: (in, out, err) fds."""
    code = 70
    try:
        os.setsid()
        confine.die_with(supervisor)
        os.nice(APP_NICENESS)   # applications are batch work: the server's web answers come first
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # forked with them blocked (runner._supervise): a kill that came meanwhile acts now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGTERM, signal.SIGINT, signal.SIGHUP))
        _streams(*stdio)
        keep = {0, 1, 2} | ({changes_fd} if changes_fd is not None else set())
        for fd in _open_fds():   # nothing of the server's: database sockets, listening sockets, pipes
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        source = _script(spec)
        account = spec.account
        os.chown(spec.work_dir, account.uid, account.gid)
        os.chmod(spec.work_dir, 0o700)
        os.chdir(spec.work_dir)
        confine.scrub_credentials(spec.readonly_db)
        confine.scrub_environment(account)
        limits = spec.limits
        # the per-user process limit is a backstop a little above the application's own limit,
        # so that the supervisor sees the limit passed (and says so) before forks start failing
        processes = confine.processes_of(account.uid) + limits.processes + 8 if limits.processes else 0
        confine.set_limits(memory_bytes=limits.memory_bytes, processes=processes, cpu_seconds=limits.cpu_seconds)
        confine.drop_privileges(account, parent=supervisor)
        code = _run(inventory, spec, source, changes_fd)
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


def _open_fds():
    try:
        return sorted(int(fd) for fd in os.listdir('/proc/self/fd') if int(fd) > 2)
    except OSError:
        return range(3, 65536)


def _streams(stdin_fd, stdout_fd, stderr_fd):
    os.dup2(stdin_fd, 0)
    os.dup2(stdout_fd, 1)
    os.dup2(stderr_fd, 2)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, 'r', closefd=False), encoding='utf-8')
    sys.stdout = io.TextIOWrapper(io.FileIO(1, 'w', closefd=False), encoding='utf-8',
                                  errors='backslashreplace', line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, 'w', closefd=False), encoding='utf-8',
                                  errors='backslashreplace', line_buffering=True)


def _script(spec):
    """The script's bytes, read (as root, before the work area changes hands) and checked against
    the checksum recorded at submission."""
    if spec.interactive or spec.builtin_run:
        return None
    with open(os.path.join(spec.work_dir, spec.script_file), 'rb') as f:
        source = f.read()
    if hashlib.sha256(source).hexdigest() != spec.checksum:
        raise RuntimeError('the script in the work area is not the one submitted')
    return source


def _run(inventory, spec, source, changes_fd):
    import dynamo.core.executable as executable
    from inventory.store import FileCatalog
    inventory.files = FileCatalog()
    sink = ChangeWriter(changes_fd) if spec.write else ChangeCounter()
    journal = inventory.begin(undo_limit=0, sink=sink.add)
    journal.portable_files = True
    executable.inventory = inventory
    executable.read_only = not spec.write
    executable.authorized = spec.write
    if spec.interactive:
        return _console(inventory)
    if spec.builtin_run:
        return _run_builtin(inventory, spec, changes_fd)
    name = spec.display_path
    sys.argv = [name] + shlex.split(spec.args)
    sys.path.insert(0, spec.work_dir)
    code = _exec_script(source, name)
    sys.stdout.flush()
    if code == 0 and spec.write:
        sink.finish()
    elif not spec.write and (sink.updates or sink.deletes):
        sys.stderr.write(f'[dynamo] read-only run: would apply {sink.updates} updates and '
                         f'{sink.deletes} deletes\n')
    return code


def _run_builtin(inventory, spec, result_fd):
    """A built-in cycle: its run function on the (private, read-only) image; the result goes to
    the server on the pipe, for its commit."""
    try:
        result = resolve_builtin(spec.builtin_run)(inventory, json.loads(spec.args or '{}'))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    with open(result_fd, 'w', encoding='utf-8') as f:
        json.dump(result, f, separators=(',', ':'))
    return 0


def _exec_script(source, name):
    """Run the script as __main__; its exit code. Tracebacks name the script as submitted."""
    # tracebacks show the script's lines even where its user cannot read the file it came from
    linecache.cache[name] = (len(source), None, source.decode('utf-8', 'replace').splitlines(True), name)
    try:
        code = compile(source, name, 'exec')
        exec(code, {'__name__': '__main__', '__file__': name, '__builtins__': builtins})
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
        while tb is not None and tb.tb_frame.f_code.co_filename != name:
            tb = tb.tb_next   # hide the runner's own frames
        traceback.print_exception(type(exc), exc, tb or exc.__traceback__)
        return 1


_CONSOLE_HELP = """The inventory (read-only here: changes stay in this console's private copy).

  inventory.datasets   {name: Dataset}     inventory.sites       {name: Site}
  inventory.groups     {name: Group}       inventory.partitions  {name: Partition}

  inventory.find_dataset(name)   find_site(name)   find_group(name)   find_partition(name)
  inventory.find_block(dataset, name)              inventory.find_file(lfn)
  inventory.update(obj)          embed a clone of obj, or copy its values into the existing one
  inventory.delete(obj)          remove the object with obj's identifier (and what depends on it)

  dataset.blocks, dataset.replicas, dataset.size, dataset.status, dataset.find_replica(site)
  site.dataset_replicas(), site.partitions[partition].quota / .usage() / .occupancy_fraction()
  replica.block_replicas, replica.size(physical=True), replica.is_complete(), replica.group

Tab completes names, attributes and keys: inventory.datasets['/Single<Tab>.
The object API in full: docs/objects.md; help(obj) for anything else.
"""
_KEY = re.compile(r'^(?P<expr>[A-Za-z_][\w.]*)\[(?P<quote>[\'"])(?P<prefix>[^\'"]*)$')


class _Completer:
    """Names and attributes (rlcompleter), and the keys of a dict inside `expr['...` (the
    expression is resolved by attribute lookups only: nothing is evaluated)."""

    def __init__(self, namespace):
        import rlcompleter
        self.namespace = namespace
        self.names = rlcompleter.Completer(namespace)
        self.matches = []

    def complete(self, text, state):
        if state == 0:
            match = _KEY.match(text)
            self.matches = self._keys(**match.groupdict()) if match else []
            if not match:
                self.matches = [m for m in (self.names.complete(text, i) for i in range(200)) if m is not None]
        return self.matches[state] if state < len(self.matches) else None

    def _keys(self, expr, quote, prefix, limit=200):
        head, *rest = expr.split('.')
        obj = self.namespace.get(head)
        for attribute in rest:
            if attribute.startswith('_'):
                return []
            obj = getattr(obj, attribute, None)
        if not isinstance(obj, dict):
            return []
        keys = sorted(k for k in obj if isinstance(k, str) and k.startswith(prefix))[:limit]
        return [f'{expr}[{quote}{k}{quote}]' for k in keys]


def _console(inventory):
    import code
    import pydoc
    namespace = {'inventory': inventory, '__name__': '__console__'}

    def console_help(*args):
        if args and args[0] is inventory:
            sys.stdout.write(_CONSOLE_HELP)
        else:
            pydoc.help(*args)
    namespace['help'] = console_help
    try:
        import readline   # line editing and completion on the real terminal
        readline.set_completer_delims(' \t\n')
        readline.set_completer(_Completer(namespace).complete)
        readline.parse_and_bind('tab: complete')
    except ImportError:
        pass
    banner = (f'Dynamo interactive console (read-only): `inventory` holds {len(inventory.datasets)} '
              f'datasets at {len(inventory.sites)} sites. help(inventory) shows what it offers; Tab completes. '
              f'Ctrl-D exits.')
    console = code.InteractiveConsole(namespace)
    try:
        console.interact(banner=banner, exitmsg='')
    except SystemExit:
        pass
    return 0
