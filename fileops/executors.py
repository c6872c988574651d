"""How a worker carries out one claimed task on storage: through gfal2 itself, or through the FTS3
server of the site. Each turns a Job into a services.Result; neither writes the database (the
worker reports the results) nor decides what to retry (the updater does).
"""
import errno
import json
import logging
import os
import threading
import time

from fileops.backends import (CopyOutcome, CopyResult, ErrorKind, FileOpError, OpState, Side, TransferSpec,
                              classify)
from fileops.checksums import Accumulator, normalize_checksum, parse_checksum
from fileops.models import TaskKind
from fileops.pfn import PfnError, resolve_pfn
from fileops.services import Result

log = logging.getLogger('dynamo.fileops')


class SiteDirectory:
    """PFNs of LFNs at sites, from the inventory store's site rows (backend, filename mapping),
    read again every `ttl` seconds; and the sites' file-operation settings."""

    def __init__(self, ttl=30.0):
        self.ttl = ttl
        self._sites = {}
        self._storage = {}
        self._read = 0.0
        self._lock = threading.Lock()

    def _refresh(self):
        from inventory.models import Site
        from fileops.models import SiteStorage
        with self._lock:
            if time.monotonic() - self._read < self.ttl:
                return
            self._sites = {name: (backend, json.loads(mapping or '{}'))
                           for name, backend, mapping in Site.objects.values_list('name', 'backend', 'filename_mapping')}
            self._storage = {row.site: row for row in SiteStorage.objects.all()}
            self._read = time.monotonic()

    def pfn(self, site, lfn):
        self._refresh()
        if site not in self._sites:
            raise PfnError(f'no site {site} in the inventory')
        backend, mapping = self._sites[site]
        return resolve_pfn(lfn, backend=backend, filename_mapping=mapping)

    def storage(self, site):
        self._refresh()
        return self._storage.get(site)


def failure(job, error, *, pfn='', source_pfn='', seconds=0.0):
    """The Result of a failed job: whether to retry, and whether the source is to blame for good."""
    source_bad = False
    # a file that appeared at the destination meanwhile (a copy of a worker thought lost, FTS3's
    # refusal to overwrite): the next attempt checks it, keeps it if good and replaces it if not
    retryable = error.retryable or error.kind == ErrorKind.EXISTS
    if job.kind == TaskKind.TRANSFER and not retryable:
        source_bad = error.side == Side.SOURCE or (error.kind == ErrorKind.NO_SUCH_FILE and
                                                   error.side != Side.DESTINATION)
    return Result(job.id, False, pfn=pfn, source_pfn=source_pfn, seconds=seconds, error_kind=str(error.kind),
                  reason=str(error), retryable=retryable, source_bad=source_bad)


def _pfn_failure(job, exc):
    return Result(job.id, False, error_kind=str(ErrorKind.INVALID), reason=f'no PFN: {exc}', retryable=False)


class StreamedCopy:
    """A copy between two XRootD servers read and written by this process through gfal2, instead of
    the third-party copy gfal2 chooses: XRootD's client looks at a third-party copy 2.5 s after
    starting it whatever its size, so files of a few MB move far faster streamed. The rules are the
    backend's (Gfal2Backend.copy): a good file at the destination is left alone, a wrong one replaced,
    the checksum verified at both ends, nothing left behind on failure."""
    CHUNK = 4 << 20

    def __init__(self, backend):
        self.backend = backend
        self._local = threading.local()

    def _context(self):
        from fileops.backends.gfal import creat_context
        local = self._local
        if getattr(local, 'pid', None) != os.getpid():
            local.ctx, local.pid = creat_context(), os.getpid()
        return local.ctx

    def copy(self, source, dest, *, size, checksum):
        started = time.monotonic()
        if source == dest:
            raise FileOpError(code=errno.EINVAL, kind=ErrorKind.INVALID, side=Side.TRANSFER,
                              message=f'source and destination are the same file: {source}')
        algorithm, expected = normalize_checksum(*checksum) if checksum else \
            ('adler32', self.backend.checksum(source, 'adler32'))
        replaced = False
        present = self._stat(dest)
        if present is not None:
            if present.size == size and self.backend.checksum(dest, algorithm) == expected:
                return CopyResult(CopyOutcome.ALREADY_PRESENT, source, dest, size, (algorithm, expected),
                                  time.monotonic() - started)
            self.backend.delete(dest)
            replaced = True
        t0 = time.monotonic()
        try:
            actual = self._stream(source, dest, algorithm)
            if actual != expected:
                raise FileOpError(code=errno.EIO, kind=ErrorKind.CHECKSUM_MISMATCH, side=Side.SOURCE,
                                  message=f'{algorithm} of {source} is {actual}, expected {expected}')
            written = self._stat(dest)
            there = self.backend.checksum(dest, algorithm) if written is not None else None
            if written is None or written.size != size or there != expected:
                raise FileOpError(code=errno.EIO, kind=ErrorKind.CHECKSUM_MISMATCH, side=Side.DESTINATION,
                                  message=f'{dest} holds {written.size if written else 0} bytes with {algorithm} '
                                          f'{there}, expected {size} with {expected}')
        except FileOpError:
            self._remove(dest)
            raise
        return CopyResult(CopyOutcome.COPIED, source, dest, size, (algorithm, expected), time.monotonic() - started,
                          time.monotonic() - t0, replaced)

    def _stream(self, source, dest, algorithm):
        import gfal2
        ctx = self._context()
        acc = Accumulator(algorithm)
        parent = dest.rsplit('/', 1)[0]
        try:
            ctx.mkdir_rec(parent, 0o755)
        except gfal2.GError as e:
            if e.code != errno.EEXIST:
                raise classify(e.code, e.message, side=Side.DESTINATION) from None
        side, reader, writer = Side.SOURCE, None, None
        try:
            reader = ctx.open(source, 'r')
            side = Side.DESTINATION
            writer = ctx.open(dest, 'w')
            while True:
                side = Side.SOURCE
                chunk = reader.read_bytes(self.CHUNK)
                if not chunk:
                    break
                acc.update(chunk)
                side = Side.DESTINATION
                writer.write(chunk)
        except gfal2.GError as e:
            raise classify(e.code, e.message, side=side) from None
        finally:
            # gfal2's files close when their last reference goes: now, not with the traceback
            reader = writer = None   # noqa: F841
        return acc.hexdigest()

    def _stat(self, pfn):
        try:
            return self.backend.stat(pfn)
        except FileOpError as error:
            if error.kind == ErrorKind.NO_SUCH_FILE:
                return None
            raise FileOpError(code=error.code, kind=error.kind, message=error.message, side=Side.DESTINATION) \
                from None

    def _remove(self, pfn):
        try:
            self.backend.delete(pfn)
        except FileOpError as error:
            log.warning('could not remove %s after a failed copy: %s', pfn, error)


class Gfal2Executor:
    """Copies and deletions through a Gfal2Backend, one job per call (call it from many threads).
    Copies of files smaller than `stream_below` bytes between two XRootD servers are streamed."""

    def __init__(self, backend, sites, *, stream_below=0):
        self.backend = backend
        self.sites = sites
        self.stream_below = stream_below
        self.streamed = StreamedCopy(backend) if stream_below > 0 else None

    def __call__(self, job):
        started = time.monotonic()
        try:
            pfn = self.sites.pfn(job.site, job.lfn)
            source_pfn = self.sites.pfn(job.source, job.lfn) if job.kind == TaskKind.TRANSFER else ''
        except PfnError as exc:
            return _pfn_failure(job, exc)
        try:
            if job.kind == TaskKind.DELETION:
                outcome = self.backend.delete(pfn).outcome
                return Result(job.id, True, str(outcome), time.monotonic() - started, pfn)
            checksum = parse_checksum(job.checksum) if job.checksum else None
            if self.streamed is not None and job.size < self.stream_below and \
                    source_pfn.startswith('root://') and pfn.startswith('root://'):
                result = self.streamed.copy(source_pfn, pfn, size=job.size, checksum=checksum)
            else:
                result = self.backend.copy(source_pfn, pfn, size=job.size, checksum=checksum)
        except FileOpError as error:
            return failure(job, error, pfn=pfn, source_pfn=source_pfn, seconds=time.monotonic() - started)
        return Result(job.id, True, str(result.outcome), result.seconds, pfn, source_pfn)


class Fts3Executor:
    """The jobs of one FTS3 endpoint as FTS3 jobs: submitted once (the job id is recorded at once,
    so that a worker taking over after a crash polls the same job rather than submitting again),
    then polled until each file is final. A file FTS3 refuses because the destination exists is
    checked with gfal2, which leaves a good file alone and replaces a wrong one."""

    def __init__(self, *, fts, gfal, sites, record_job, poll):
        self.fts = fts
        self.gfal = gfal
        self.sites = sites
        self.record_job = record_job      # record_job(job ids, FTS3 job id)
        self.poll = poll

    def run(self, jobs, deliver, stop):
        """Carry out `jobs` (all of one kind); deliver(Result) for each as it ends."""
        pending = {}                       # FTS3 job id -> {pfn: job}
        fresh, pfns = [], {}
        for job in jobs:
            try:
                pfns[job.id] = (self.sites.pfn(job.site, job.lfn),
                                self.sites.pfn(job.source, job.lfn) if job.kind == TaskKind.TRANSFER else '')
            except PfnError as exc:
                deliver(_pfn_failure(job, exc))
                continue
            if job.external_id:
                pending.setdefault(job.external_id, {})[pfns[job.id][0]] = job
            else:
                fresh.append(job)
        if fresh:
            try:
                job_id = self._submit(fresh, pfns)
            except FileOpError as error:
                for job in fresh:
                    deliver(failure(job, error, pfn=pfns[job.id][0], source_pfn=pfns[job.id][1]))
            else:
                self.record_job([j.id for j in fresh], job_id)
                pending[job_id] = {pfns[j.id][0]: j for j in fresh}
        while pending and not stop.is_set():
            for job_id in list(pending):
                try:
                    status = self.fts.poll(job_id)
                except FileOpError as error:
                    if error.kind == ErrorKind.NO_SUCH_FILE:     # FTS3 forgot the job
                        for pfn, job in pending.pop(job_id).items():
                            deliver(failure(job, error, pfn=pfn, source_pfn=pfns[job.id][1]))
                    else:
                        log.warning('FTS3 job %s: %s', job_id, error)
                    continue
                files = pending[job_id]
                for state in status.files:
                    pfn = state.destination if state.destination else state.source
                    job = files.get(pfn)
                    if job is None or not state.state.final:
                        continue
                    del files[pfn]
                    deliver(self._result(job, state, pfns[job.id]))
                if status.state.final and files:
                    # the job ended without a word on these files
                    for pfn, job in list(files.items()):
                        deliver(failure(job, FileOpError(code=0, kind=ErrorKind.OTHER, side=Side.TRANSFER,
                                                         message=f'FTS3 job {job_id} ended {status.service_state}: '
                                                                 f'{status.reason}'),
                                        pfn=pfn, source_pfn=pfns[job.id][1]))
                    files.clear()
                if not files:
                    del pending[job_id]
            if pending:
                stop.wait(self.poll)

    def _submit(self, jobs, pfns):
        metadata = {'issuer': 'dynamo'}
        if jobs[0].kind == TaskKind.DELETION:
            return self.fts.submit_deletions([pfns[j.id][0] for j in jobs], metadata=metadata)
        specs = [TransferSpec(source=pfns[j.id][1], destination=pfns[j.id][0], size=j.size,
                              checksum=parse_checksum(j.checksum) if j.checksum else None, metadata={'task': j.id})
                 for j in jobs]
        return self.fts.submit_transfers(specs, metadata=metadata)

    def _result(self, job, state, job_pfns):
        pfn, source_pfn = job_pfns
        if state.state == OpState.DONE:
            return Result(job.id, True, 'deleted' if job.kind == TaskKind.DELETION else 'copied', 0.0, pfn, source_pfn)
        error = state.error or FileOpError(code=0, kind=ErrorKind.CANCELLED if state.state == OpState.CANCELLED
                                           else ErrorKind.OTHER, side=Side.TRANSFER,
                                           message=f'FTS3 file {state.service_state}')
        if error.kind == ErrorKind.EXISTS and job.kind == TaskKind.TRANSFER and self.gfal is not None:
            return self.gfal(job)
        return failure(job, error, pfn=pfn, source_pfn=source_pfn)
