"""The entry points of the single write path for the interfaces: a web module's write
(submit_write, run by the server loop as one change set) and a command's document
(submit_document: handed to the live primary, or, with none, applied here the same way)."""
import json
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from dynamo_site.cli import ProgressBar
from execution.cluster.forward import wait_forwarded
from execution.errors import WriterUnavailable
from execution.models import RequestState
from execution.runtime import RUNTIME
from execution.selectors import live_servers
from execution.services import requests
from execution.topology import TOPOLOGY
from inventory import injection, store
from inventory import services as inventory_services
from inventory.objects import ObjectError


class WriteJob:
    """A write computed by a web module: run by the server loop inside the write path."""

    def __init__(self, fn, origin):
        self._fn = fn
        self.origin = origin
        self.done = threading.Event()
        self.cancelled = False
        self.started = False   # the loop called fn: the caller then waits for it to end
        self._state = threading.Lock()
        self.result = None
        self.error = None
        self.forward = None    # id of the change request a secondary sent to the primary
        self.lease = None      # the writer lease it holds meanwhile

    def fn(self, inventory):
        with self._state:
            if self.cancelled:
                raise WriterUnavailable('the web caller stopped waiting for the write lock')
            self.started = True
        return self._fn(inventory)

    def cancel(self):
        """True if the job will never run (it had not started)."""
        with self._state:
            if not self.started:
                self.cancelled = True
            return self.cancelled


class _Nothing:
    seq = 0
    num_changes = 0


_NOTHING = _Nothing()


def submit_write(fn, *, origin, timeout):
    """Have the server loop run fn(inventory) as one change set; returns (fn's value, applied).
    Raises WriterUnavailable if the write lock could not be had in time (nothing is applied then);
    once the loop has started the write, waits for its end however long it takes (a large
    document)."""
    if not RUNTIME.executor_active:
        raise WriterUnavailable('no server loop is running to apply writes')
    job = WriteJob(fn, origin)
    RUNTIME.write_jobs.put(job)
    if RUNTIME.wake is not None:
        RUNTIME.wake.set()
    if not job.done.wait(timeout) and job.cancel():
        raise WriterUnavailable('the inventory write lock is busy (a write application is running); try again')
    job.done.wait()
    if job.error is not None:
        raise job.error
    if job.forward is not None:
        value, _ = job.result
        return value, wait_forwarded(RUNTIME, job.forward, timeout, lease=job.lease)
    if job.result[1] is None:   # a secondary's write that changed nothing
        return job.result[0], _NOTHING
    return job.result


@dataclass
class Outcome:
    ok: bool
    message: str
    result: dict
    report: str = ''


class DocumentTooLarge(ObjectError):
    """A document over DYNAMO_MAX_DOCUMENT_MB."""


def max_document_bytes():
    return settings.DYNAMO_MAX_DOCUMENT_MB << 20


def check_document_size(size):
    """Raises DocumentTooLarge for a document of `size` bytes over the configured maximum."""
    if size > max_document_bytes():
        raise DocumentTooLarge(f'the document is {size / 2 ** 20:.1f} MB, over the maximum of '
                               f'{settings.DYNAMO_MAX_DOCUMENT_MB} MB (DYNAMO_MAX_DOCUMENT_MB)')


_BAR_BYTES = 8 << 20   # documents from this size on show progress bars


def submit_document(*, kind, text=None, path=None, timeout=600, out=None, err=None):
    """Check an injection/invalidation document (`text`, or the file at `path`, read a piece at a
    time), then apply it: queued on the live primary as chunks of the write queue, or, with no
    server, applied here the same way. Returns Outcome."""
    try:
        if path is not None:
            source = injection.FileSource(path)
            check_document_size(source.size)
        else:
            source = injection.TextSource(text)
            check_document_size(len(text.encode('utf-8', 'surrogatepass')))
        bar = ProgressBar('checking', source.size, stream=err, min_total=_BAR_BYTES)
        doc = injection.read_document(source, progress=bar.update)
        bar.done()
    except ObjectError as exc:
        return Outcome(False, str(exc), {})
    total = injection.count_items(doc)
    servers = [s for s in live_servers() if s.role == 'primary']
    if not servers and TOPOLOGY.is_secondary:
        return Outcome(False, f'no primary server is running in the cluster ({TOPOLOGY.describe_primary()}): '
                              f'start it (a secondary\'s store only follows the primary\'s)', {})
    if servers:
        return _queue(kind, source, servers[0], timeout, err)
    # no server: apply here through the same write path
    load_bar = ProgressBar('loading inventory', 7, stream=err, min_total=0 if total >= 1000 else 1 << 60)
    steps = []
    inventory, seq = store.load(progress=lambda what, count, t: (steps.append(what), load_bar.update(len(steps))))
    load_bar.done()
    inventory.seq = seq
    bar = ProgressBar('injecting' if kind == 'inject' else 'deleting', total, stream=err)
    action = injection.inject if kind == 'inject' else injection.invalidate
    try:
        applied = inventory_services.apply_changeset(
            inventory=inventory, origin=f'{kind}:{_origin()}',
            builder=lambda inv: action(inv, doc, progress=bar.update))
    except ObjectError as exc:
        return Outcome(False, str(exc), {})
    bar.done()
    result = inventory_services.summarize(applied)
    return Outcome(True, 'applied', result, _report(kind, result))


def _queue(kind, source, server, timeout, err):
    """The document as chunks of the write queue for the primary; waits for it to be applied."""
    bar = ProgressBar('sending', source.size, stream=err, min_total=_BAR_BYTES)
    request = requests.request_submit(kind=kind, origin=_origin(), pieces=source.pieces(), on_chunk=bar.update)
    bar.done()
    if err is not None:
        err.write(f'submitted request {request.id} to the server at {server.bind} ({server.hostname}, '
                  f'pid {server.pid})\n')
    start = time.monotonic()
    shown = [0.]

    def waiting(_):
        now = time.monotonic()
        if err is not None and source.size >= _BAR_BYTES and now - shown[0] >= 1:
            shown[0] = now
            err.write(f'\rwaiting for the server to apply request {request.id}: {now - start:5.0f}s')
            err.flush()
    request = requests.request_wait(request_id=request.id, timeout=timeout, on_poll=waiting)
    if shown[0] and err is not None:
        err.write('\n')
    if request.state == RequestState.APPLIED:
        result = json.loads(request.result or '{}')
        return Outcome(True, request.message, result, _report(kind, result))
    if request.state == RequestState.FAILED:
        return Outcome(False, request.message, {})
    return Outcome(False, f'request {request.id} still {request.state} after {timeout} s '
                          f'(it stays queued; the server will apply it)', {})


def _origin():
    import getpass
    import socket
    return f'{getpass.getuser()}@{socket.gethostname()}'


_KINDS = ('datasets', 'blocks', 'files', 'sites', 'groups', 'datasetreplicas', 'blockreplicas')


def _count(n, kind):
    return f'{n} {kind[:-1] if n == 1 else kind}'


def _report(kind, result):
    verb = 'created' if kind == 'inject' else 'deleted'
    counts = ', '.join(_count(result[k], k) for k in _KINDS if result.get(k))
    if not result.get('num_changes'):
        return f'Nothing {verb}: everything in the document already exists.' if kind == 'inject' \
            else 'Nothing deleted.'
    lines = [f'{verb.capitalize()} {counts} (change set {result.get("seq")}, '
             f'{result.get("num_changes")} changes, {result.get("elapsed")} s).']
    lines += [f'  warning: {w}' for w in result.get('warnings') or ()]
    names = result.get('names') or []
    lines += [f'  {verb} {n}' for n in names]
    shown = len(names)
    total = sum(result.get(k, 0) for k in _KINDS)
    if total > shown:
        lines.append(f'  ... and {total - shown} more')
    return '\n'.join(lines)
