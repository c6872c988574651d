"""The storage backend contract: result types, the one error type with its classes, and the Protocols
that the gfal2 (synchronous) and FTS3 (asynchronous) backends implement.

No storage library is imported here; the classification of errno-like codes lives here so that both
backends (and the task layer above them) agree on what is worth retrying.
"""
import errno
import re
from dataclasses import dataclass, field
from enum import StrEnum
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol


class ErrorKind(StrEnum):
    CHECKSUM_MISMATCH = 'checksum_mismatch'
    NO_SUCH_FILE = 'no_such_file'
    PERMISSION = 'permission'
    TIMEOUT = 'timeout'
    CONNECTION = 'connection'
    NO_SPACE = 'no_space'
    EXISTS = 'exists'
    CANCELLED = 'cancelled'
    NOT_SUPPORTED = 'not_supported'
    INVALID = 'invalid'
    OTHER = 'other'


class Side(StrEnum):
    """Which end a failure belongs to: a copy has three, a stat or a deletion only STORAGE."""
    SOURCE = 'source'
    DESTINATION = 'destination'
    TRANSFER = 'transfer'
    STORAGE = 'storage'


# Kinds worth trying again later with the same inputs: the storage or the network may come back,
# space may be freed. A missing source, a refused permission or a bad argument stays as it is.
_RETRYABLE = {ErrorKind.TIMEOUT, ErrorKind.CONNECTION, ErrorKind.NO_SPACE, ErrorKind.OTHER,
              ErrorKind.CANCELLED}

_ERRNO_KIND = {
    errno.ENOENT: ErrorKind.NO_SUCH_FILE,
    errno.EACCES: ErrorKind.PERMISSION, errno.EPERM: ErrorKind.PERMISSION,
    errno.ETIMEDOUT: ErrorKind.TIMEOUT, errno.ETIME: ErrorKind.TIMEOUT,
    errno.ECONNREFUSED: ErrorKind.CONNECTION, errno.EHOSTDOWN: ErrorKind.CONNECTION,
    errno.EHOSTUNREACH: ErrorKind.CONNECTION, errno.ENETUNREACH: ErrorKind.CONNECTION,
    errno.ECONNRESET: ErrorKind.CONNECTION, errno.ECONNABORTED: ErrorKind.CONNECTION,
    errno.EPIPE: ErrorKind.CONNECTION, errno.EAGAIN: ErrorKind.CONNECTION,
    errno.ENOSPC: ErrorKind.NO_SPACE, errno.EDQUOT: ErrorKind.NO_SPACE,
    errno.EEXIST: ErrorKind.EXISTS,
    errno.ECANCELED: ErrorKind.CANCELLED,
    errno.ENOTSUP: ErrorKind.NOT_SUPPORTED, errno.ENOSYS: ErrorKind.NOT_SUPPORTED,
    errno.EPROTONOSUPPORT: ErrorKind.NOT_SUPPORTED,
    errno.EINVAL: ErrorKind.INVALID, errno.ENAMETOOLONG: ErrorKind.INVALID,
    errno.EISDIR: ErrorKind.INVALID, errno.ENOTDIR: ErrorKind.INVALID,
}
# gfal2 and XRootD report checksum failures with several codes (EIO, EDOM, EILSEQ) and say so in words
_CHECKSUM_WORDS = re.compile(r'checksum.*(mismatch|do not match|differ|error)|checksum mismatch', re.I)
_TIMEOUT_WORDS = re.compile(r'timed? ?out|timeout', re.I)


class FileOpError(Exception):
    """A failed storage operation: an errno-like `code`, its `kind`, the storage's `message`, the
    `side` it happened on and whether the same operation is worth `retryable` later."""

    def __init__(self, *, code: int, kind: ErrorKind, message: str, side: Side = Side.STORAGE,
                 retryable: bool | None = None):
        super().__init__(message)
        self.code = code
        self.kind = ErrorKind(kind)
        self.message = message
        self.side = Side(side)
        self.retryable = self._default_retryable() if retryable is None else retryable

    def _default_retryable(self) -> bool:
        if self.kind == ErrorKind.CHECKSUM_MISMATCH:
            # a source that does not match the inventory stays bad; a damaged copy may go well next time
            return self.side != Side.SOURCE
        return self.kind in _RETRYABLE

    def __str__(self) -> str:
        return f'{self.side} {self.kind} [{self.code}] {self.message}'

    def __repr__(self) -> str:
        return (f'FileOpError(code={self.code}, kind={self.kind.value!r}, side={self.side.value!r}, '
                f'retryable={self.retryable}, message={self.message!r})')

    def __eq__(self, other):
        if not isinstance(other, FileOpError):
            return NotImplemented
        return (self.code, self.kind, self.message, self.side, self.retryable) == \
            (other.code, other.kind, other.message, other.side, other.retryable)

    __hash__ = Exception.__hash__


def classify(code: int, message: str, *, side: Side = Side.STORAGE) -> FileOpError:
    """A storage client's (errno, message) as a FileOpError; the words win over a generic code."""
    if _CHECKSUM_WORDS.search(message) and code not in (errno.ENOTSUP, errno.ENOSYS):
        kind = ErrorKind.CHECKSUM_MISMATCH
    elif code in _ERRNO_KIND:
        kind = _ERRNO_KIND[code]
    elif _TIMEOUT_WORDS.search(message):
        kind = ErrorKind.TIMEOUT
    else:
        kind = ErrorKind.OTHER
    return FileOpError(code=code, kind=kind, message=message, side=side)


def side_of_message(message: str, default: Side) -> Side:
    """gfal2 names the failing end in its messages ('(destination)', 'source checksum', ...)."""
    lowered = message.lower()
    if 'destination' in lowered or 'target' in lowered:
        return Side.DESTINATION
    if 'source' in lowered:
        return Side.SOURCE
    return default


class CopyOutcome(StrEnum):
    COPIED = 'copied'
    ALREADY_PRESENT = 'already_present'  # the destination had the file with the right size and checksum


class DeleteOutcome(StrEnum):
    DELETED = 'deleted'
    ALREADY_ABSENT = 'already_absent'


@dataclass(frozen=True, slots=True)
class CopyResult:
    outcome: CopyOutcome
    source: str
    destination: str
    size: int
    checksum: tuple[str, str]          # (algorithm, hex) verified at the destination
    seconds: float                     # wall time of the whole copy() call
    transfer_seconds: float = 0.0      # of which inside the storage client's copy
    replaced: bool = False             # a wrong file was at the destination and was removed first
    verified_by_reading: bool = False  # the destination cannot checksum: it was read back


@dataclass(frozen=True, slots=True)
class DeleteResult:
    outcome: DeleteOutcome
    pfn: str


@dataclass(frozen=True, slots=True)
class FileStat:
    pfn: str
    size: int
    mtime: int
    is_dir: bool = False


class ListedFile(NamedTuple):
    """One file under a listed directory: unpacks as (path, size, mtime)."""
    path: str
    size: int
    mtime: int


class StorageBackend(Protocol):
    """Synchronous operations on storage, one file at a time; every failure raises FileOpError."""

    def copy(self, source_pfn: str, dest_pfn: str, *, size: int, checksum: tuple[str, str] | None = None,
             timeout: float | None = None) -> CopyResult: ...

    def delete(self, pfn: str) -> DeleteResult: ...

    def stat(self, pfn: str) -> FileStat: ...

    def checksum(self, pfn: str, algorithm: str = 'adler32') -> str: ...

    def listdir(self, pfn: str) -> Iterator[ListedFile]: ...


class OpState(StrEnum):
    """Our states of a file operation handed to an asynchronous service (FTS3)."""
    NEW = 'new'              # accepted, not yet scheduled
    QUEUED = 'queued'        # scheduled, waiting (ready, staging, on hold)
    ACTIVE = 'active'
    DONE = 'done'
    FAILED = 'failed'
    CANCELLED = 'cancelled'

    @property
    def final(self) -> bool:
        return self in (OpState.DONE, OpState.FAILED, OpState.CANCELLED)


@dataclass(frozen=True, slots=True)
class TransferSpec:
    """One file to copy in an asynchronous job."""
    source: str | Sequence[str]
    destination: str
    size: int
    checksum: tuple[str, str] | None = None
    metadata: dict | None = None


@dataclass(frozen=True, slots=True)
class FileState:
    source: str
    destination: str
    state: OpState
    error: FileOpError | None = None
    file_id: int | None = None
    service_state: str = ''      # the service's own word (FINISHED, SUBMITTED, ...)


@dataclass(frozen=True, slots=True)
class JobStatus:
    job_id: str
    state: OpState
    files: tuple[FileState, ...] = field(default_factory=tuple)
    service_state: str = ''
    reason: str = ''

