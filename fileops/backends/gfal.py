"""Storage operations through gfal2, for every protocol it has a plugin for (file, root, davs/https, mock).

The copy never overwrites a good file, verifies the checksum the inventory expects, and leaves nothing at
the destination when it fails; every failure is raised as a FileOpError. It must not decide what to
copy or touch the inventory: the task layer above does. One gfal2 context per thread and per process
(gfal2 contexts are not thread-safe and do not survive a fork).
"""
import errno
import logging
import os
import signal
import stat as statmod
import threading
import time
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

import gfal2

from ..checksums import DEFAULT_ALGORITHM, Accumulator, normalize_checksum
from .base import (CopyOutcome, CopyResult, DeleteOutcome, DeleteResult, ErrorKind, FileOpError, FileStat,
                   ListedFile, Side, classify, side_of_message)

log = logging.getLogger(__name__)

READ_CHUNK = 4 << 20
_NOT_SUPPORTED = (errno.ENOTSUP, errno.ENOSYS)

# XRootD's client reads these once per process, when it first starts. Its defaults retry a refused
# connection for 5 x 120 s, which would hold a worker for ten minutes on a stopped server, and then
# fail every request to that server at once for 30 minutes (the stream error window). The task layer
# retries on its own schedule, so we fail fast and dial again after 30 s, unless the operator set them.
XROOTD_CLIENT_DEFAULTS = {'XRD_CONNECTIONRETRY': '1', 'XRD_CONNECTIONWINDOW': '10',
                          'XRD_STREAMERRORWINDOW': '30', 'XRD_REQUESTTIMEOUT': '120'}
_process_env_lock = threading.Lock()


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return f'{parts.scheme}://{parts.netloc}'


def creat_context():
    """gfal2.creat_context() without its side effect on the calling thread: making a context blocks
    nearly every signal in that thread (51 of them, SIGTERM and SIGINT included) and leaves them
    blocked, so a worker that made one in its main thread no longer stopped on SIGTERM, and every
    process it started afterwards inherited the mask. Threads gfal2 starts meanwhile keep it."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        return gfal2.creat_context()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


class Gfal2Backend:
    """Copy, delete, stat, checksum and list files on any storage gfal2 speaks to.

    base_timeout + size / min_rate (bytes/s), at most max_timeout, bounds a copy unless the caller
    passes its own timeout. x509_proxy is the client credential for grid storage; ca_dir a directory of
    hashed CA certificates to trust for https/davs (it sets X509_CERT_DIR for the process, which is
    where gfal2's HTTP plugin looks). options are extra gfal2 settings {(group, key): value}.
    """

    def __init__(self, *, checksum_algorithm: str = DEFAULT_ALGORITHM, base_timeout: float = 120.0,
                 min_rate: float = 1 << 20, max_timeout: float = 6 * 3600.0, namespace_timeout: int = 60,
                 x509_proxy: str | None = None, ca_dir: str | None = None,
                 options: Mapping[tuple[str, str], str | int | bool] | None = None):
        self.checksum_algorithm = checksum_algorithm.lower()
        self.base_timeout = base_timeout
        self.min_rate = min_rate
        self.max_timeout = max_timeout
        self.namespace_timeout = namespace_timeout
        self.x509_proxy = x509_proxy
        self.ca_dir = ca_dir
        self.options = dict(options or {})
        self._local = threading.local()
        # endpoints (scheme://host:port) that answered "checksum not supported": plain WebDAV servers
        # such as nginx; their files are verified by reading them back. Shared by the threads.
        self._no_checksum: set[str] = set()

    # -- contexts ---------------------------------------------------------------------------------

    def _context(self):
        local = self._local
        if getattr(local, 'pid', None) != os.getpid():
            local.ctx = self._new_context()
            local.pid = os.getpid()
        return local.ctx

    def _new_context(self):
        with _process_env_lock:
            for key, value in XROOTD_CLIENT_DEFAULTS.items():
                os.environ.setdefault(key, value)
            if self.ca_dir:
                os.environ['X509_CERT_DIR'] = self.ca_dir
        ctx = creat_context()
        ctx.set_opt_integer('CORE', 'NAMESPACE_TIMEOUT', int(self.namespace_timeout))
        # the mock plugin sleeps 5 s per copy by default; a bookkeeping benchmark wants none
        ctx.set_opt_integer('MOCK PLUGIN', 'MIN_TRANSFER_TIME', 0)
        ctx.set_opt_integer('MOCK PLUGIN', 'MAX_TRANSFER_TIME', 0)
        # by default the HTTP plugin first asks each server for a bearer token (macaroon); our sites
        # authenticate with X.509, and the failed request costs a round trip per operation
        ctx.set_opt_boolean('HTTP PLUGIN', 'RETRIEVE_BEARER_TOKEN', False)
        if self.x509_proxy:
            ctx.set_opt_string('X509', 'CERT', self.x509_proxy)
            ctx.set_opt_string('X509', 'KEY', self.x509_proxy)
        for (group, key), value in self.options.items():
            if isinstance(value, bool):
                ctx.set_opt_boolean(group, key, value)
            elif isinstance(value, int):
                ctx.set_opt_integer(group, key, value)
            else:
                ctx.set_opt_string(group, key, str(value))
        return ctx

    def timeout_for(self, size: int) -> float:
        return min(self.max_timeout, self.base_timeout + max(size, 0) / self.min_rate)

    # -- single-file operations ---------------------------------------------------------------------

    def stat(self, pfn: str) -> FileStat:
        return self._stat(pfn, Side.STORAGE)

    def _stat(self, pfn: str, side: Side) -> FileStat:
        try:
            st = self._context().stat(pfn)
        except gfal2.GError as e:
            raise classify(e.code, e.message, side=side) from None
        return FileStat(pfn=pfn, size=int(st.st_size), mtime=int(st.st_mtime),
                        is_dir=statmod.S_ISDIR(st.st_mode))

    def delete(self, pfn: str) -> DeleteResult:
        try:
            self._context().unlink(pfn)
        except gfal2.GError as e:
            if e.code == errno.ENOENT:
                return DeleteResult(DeleteOutcome.ALREADY_ABSENT, pfn)
            raise classify(e.code, e.message, side=Side.STORAGE) from None
        return DeleteResult(DeleteOutcome.DELETED, pfn)

    def checksum(self, pfn: str, algorithm: str = DEFAULT_ALGORITHM) -> str:
        """The file's checksum as the storage computes it, else by reading the file through gfal2."""
        return self._checksum(pfn, algorithm.lower(), Side.STORAGE)

    def _checksum(self, pfn: str, algorithm: str, side: Side) -> str:
        if _endpoint(pfn) not in self._no_checksum:
            try:
                return normalize_checksum(algorithm, self._context().checksum(pfn, algorithm))[1]
            except gfal2.GError as e:
                if e.code not in _NOT_SUPPORTED:
                    raise classify(e.code, e.message, side=side) from None
                self._no_checksum.add(_endpoint(pfn))
        return self._read_checksum(pfn, algorithm, side)

    def _read_checksum(self, pfn: str, algorithm: str, side: Side) -> str:
        acc = Accumulator(algorithm)
        try:
            f = self._context().open(pfn, 'r')
            while chunk := f.read_bytes(READ_CHUNK):
                acc.update(chunk)
        except gfal2.GError as e:
            raise classify(e.code, e.message, side=side) from None
        return acc.hexdigest()

    def listdir(self, pfn: str) -> Iterator[ListedFile]:
        """Every file under the directory `pfn`, recursively, as (path, size, mtime); paths are PFNs.

        A missing top directory raises FileOpError(NO_SUCH_FILE): a consistency check must not read a
        misconfigured backend as an empty site.
        """
        ctx = self._context()
        pending = [pfn.rstrip('/')]
        while pending:
            directory = pending.pop()
            try:
                handle = ctx.opendir(directory)
                while True:
                    entry, st = handle.readpp()
                    if entry is None:
                        break
                    name = entry.d_name
                    if name in ('.', '..'):
                        continue
                    path = f'{directory}/{name}'
                    # XRootD leaves the file-type bits out for files; directories always carry S_IFDIR
                    if statmod.S_ISDIR(st.st_mode):
                        pending.append(path)
                    else:
                        yield ListedFile(path, int(st.st_size), int(st.st_mtime))
            except gfal2.GError as e:
                raise classify(e.code, f'{directory}: {e.message}', side=Side.STORAGE) from None

    # -- copy ---------------------------------------------------------------------------------------

    def copy(self, source_pfn: str, dest_pfn: str, *, size: int, checksum: tuple[str, str] | None = None,
             timeout: float | None = None) -> CopyResult:
        """Copy one file and verify it at the destination.

        `checksum` is the inventory's (algorithm, hex); without it the source's own checksum is the
        reference. An existing destination with the right size and checksum is left alone and counts as
        done (ALREADY_PRESENT); any other file there is removed first (replaced=True). gfal2 chooses a
        third-party copy when both ends allow it and streams through this process otherwise.
        """
        started = time.monotonic()
        if source_pfn == dest_pfn:
            # the "wrong destination" rule would delete the only copy
            raise FileOpError(code=errno.EINVAL, kind=ErrorKind.INVALID, side=Side.TRANSFER,
                              message=f'source and destination are the same file: {source_pfn}')
        if checksum is not None:
            algorithm, expected = normalize_checksum(*checksum)
        else:
            algorithm = self.checksum_algorithm
            expected = self._checksum(self._mock_source(source_pfn, size, None), algorithm, Side.SOURCE)
        source = self._mock_source(source_pfn, size, expected)

        replaced = False
        present = self._stat_or_none(dest_pfn)
        if present is not None:
            if present.is_dir:
                raise FileOpError(code=errno.EISDIR, kind=ErrorKind.INVALID, side=Side.DESTINATION,
                                  message=f'{dest_pfn} is a directory')
            if present.size == size and self._checksum(dest_pfn, algorithm, Side.DESTINATION) == expected:
                return CopyResult(CopyOutcome.ALREADY_PRESENT, source_pfn, dest_pfn, size, (algorithm, expected),
                                  time.monotonic() - started)
            log.info('replacing %s: %d bytes there, %d expected or checksum differs', dest_pfn, present.size, size)
            self._delete_destination(dest_pfn)
            replaced = True

        transfer_seconds, read_back = self._transfer(source, dest_pfn, algorithm, expected,
                                                     timeout if timeout is not None else self.timeout_for(size))
        return CopyResult(CopyOutcome.COPIED, source_pfn, dest_pfn, size, (algorithm, expected),
                          time.monotonic() - started, transfer_seconds, replaced, read_back)

    def _transfer(self, source: str, dest: str, algorithm: str, expected: str, timeout: float) -> tuple[float, bool]:
        ctx = self._context()
        transfer_seconds = 0.0
        # at most one retry per end learning that it cannot compute checksums
        for _ in range(3):
            verify_source = _endpoint(source) not in self._no_checksum
            verify_dest = _endpoint(dest) not in self._no_checksum
            params = ctx.transfer_parameters()
            params.create_parent = True
            params.overwrite = False  # a file there now was written by someone else since our stat
            params.timeout = max(1, int(timeout))
            params.set_checksum(_checksum_mode(verify_source, verify_dest), algorithm.upper(), expected)
            t0 = time.monotonic()
            try:
                ctx.filecopy(params, source, dest)
            except gfal2.GError as e:
                transfer_seconds += time.monotonic() - t0
                if e.code in _NOT_SUPPORTED and 'checksum' in e.message.lower():
                    end = side_of_message(e.message, Side.TRANSFER)
                    if end == Side.SOURCE:
                        self._no_checksum.add(_endpoint(source))
                        self._remove_partial(dest)
                        continue
                    if end == Side.DESTINATION:
                        # the bytes were written; gfal2 only could not ask the destination for a checksum
                        self._no_checksum.add(_endpoint(dest))
                        if self._stat_or_none(dest) is None:
                            continue
                        self._verify_by_reading(source, dest, algorithm, expected, verify_source)
                        return transfer_seconds, True
                error = classify(e.code, e.message, side=side_of_message(e.message, Side.TRANSFER))
                if error.kind != ErrorKind.EXISTS:
                    self._remove_partial(dest)
                if error.kind == ErrorKind.CHECKSUM_MISMATCH and not verify_source:
                    error = self._blame_source_if_bad(source, algorithm, expected, error)
                raise error from None
            transfer_seconds += time.monotonic() - t0
            if not verify_dest:
                self._verify_by_reading(source, dest, algorithm, expected, verify_source)
                return transfer_seconds, True
            return transfer_seconds, False
        raise FileOpError(code=errno.ENOTSUP, kind=ErrorKind.NOT_SUPPORTED, side=Side.TRANSFER,
                          message=f'checksum verification could not be arranged for {source} -> {dest}')

    def _verify_by_reading(self, source: str, dest: str, algorithm: str, expected: str,
                           source_verified: bool) -> None:
        actual = self._read_checksum(dest, algorithm, Side.DESTINATION)
        if actual == expected:
            return
        self._remove_partial(dest)
        error = FileOpError(code=errno.EIO, kind=ErrorKind.CHECKSUM_MISMATCH, side=Side.DESTINATION,
                            message=f'{algorithm} of {dest} is {actual}, expected {expected}')
        if not source_verified:
            error = self._blame_source_if_bad(source, algorithm, expected, error)
        raise error

    def _blame_source_if_bad(self, source: str, algorithm: str, expected: str, error: FileOpError) -> FileOpError:
        """A mismatch seen only at the destination: a bad source must not be retried forever, a
        damaged copy may be. Only on this failure path is the unverifiable source read in full."""
        try:
            actual = self._checksum(source, algorithm, Side.SOURCE)
        except FileOpError:
            return error
        if actual == expected:
            return error
        return FileOpError(code=error.code, kind=ErrorKind.CHECKSUM_MISMATCH, side=Side.SOURCE,
                           message=f'{algorithm} of {source} is {actual}, expected {expected}')

    def _stat_or_none(self, pfn: str) -> FileStat | None:
        """The destination's stat, None when there is no file."""
        try:
            return self._stat(pfn, Side.DESTINATION)
        except FileOpError as error:
            if error.code == errno.ENOENT:
                return None
            raise

    def _delete_destination(self, pfn: str) -> None:
        try:
            self._context().unlink(pfn)
        except gfal2.GError as e:
            if e.code != errno.ENOENT:
                raise classify(e.code, e.message, side=Side.DESTINATION) from None

    def _remove_partial(self, pfn: str) -> None:
        """Best effort after a failed copy: the failure reported is the copy's, not this cleanup's."""
        try:
            self._context().unlink(pfn)
        except gfal2.GError as e:
            if e.code != errno.ENOENT:
                log.warning('could not remove %s after a failed copy: [%d] %s', pfn, e.code, e.message)

    @staticmethod
    def _mock_source(pfn: str, size: int, expected: str | None) -> str:
        """gfal2's mock plugin takes a file's size and checksum from the URL query: give it ours."""
        if not pfn.startswith('mock://') or '?' in pfn:
            return pfn
        query = f'size={size}' + (f'&checksum={expected}' if expected else '')
        return f'{pfn}?{query}'


def _checksum_mode(source: bool, dest: bool):
    modes = gfal2.checksum_mode
    if source and dest:
        return modes.both
    if source:
        return modes.source
    if dest:
        return modes.target
    return modes.none
