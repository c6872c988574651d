"""Transfers and deletions through an FTS3 server's REST API, for sites whose files move through one.

Plain HTTPS from the standard library, with the site's X.509 proxy as client certificate. It submits,
polls and cancels jobs and maps FTS3's states and failure reasons to ours; it never waits for a job to
finish (the task layer polls) and never delegates credentials (done out of band, see docs/fileops.md).
"""
import errno
import json
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence

from ..checksums import normalize_checksum
from .base import (ErrorKind, FileOpError, FileState, JobStatus, OpState, Side, TransferSpec, classify,
                   side_of_message)

# FTS3 file states (t_file.file_state and t_dm.file_state) in ours. Anything unknown is "waiting".
FILE_STATES = {
    'FINISHED': OpState.DONE,
    'FAILED': OpState.FAILED,
    'CANCELED': OpState.CANCELLED,
    'SUBMITTED': OpState.NEW,
    'ACTIVE': OpState.ACTIVE, 'STARTED': OpState.ACTIVE, 'ARCHIVING': OpState.ACTIVE,
    'READY': OpState.QUEUED, 'STAGING': OpState.QUEUED, 'ON_HOLD': OpState.QUEUED,
    'ON_HOLD_STAGING': OpState.QUEUED, 'DELETE': OpState.QUEUED, 'NOT_USED': OpState.QUEUED,
}
JOB_STATES = {
    'FINISHED': OpState.DONE,
    'FINISHEDDIRTY': OpState.FAILED,  # over, some files failed: the files say which
    'FAILED': OpState.FAILED,
    'CANCELED': OpState.CANCELLED,
    'SUBMITTED': OpState.NEW,
    'ACTIVE': OpState.ACTIVE, 'STARTED': OpState.ACTIVE, 'ARCHIVING': OpState.ACTIVE,
}
PENDING_JOB_STATES = ('SUBMITTED', 'READY', 'ACTIVE', 'STAGING', 'DELETE', 'ARCHIVING')

# FTS3 reasons read "SCOPE [PHASE] [errno] message", e.g. "DESTINATION OVERWRITE [17] Destination file
# exists and overwrite is not enabled"; some carry no errno ("TRANSFER CHECKSUM MISMATCH ...")
_REASON = re.compile(r'^\s*(?P<scope>SOURCE|DESTINATION|TRANSFER|DELETION|STAGING|GENERAL_FAILURE)?'
                     r'(?P<phase>(?:\s+[A-Z_]+)*?)\s*(?:\[(?P<code>\d+)\])?\s*(?P<message>.*)$', re.S)
_SCOPES = {'SOURCE': Side.SOURCE, 'DESTINATION': Side.DESTINATION, 'TRANSFER': Side.TRANSFER,
           'DELETION': Side.STORAGE, 'STAGING': Side.SOURCE}
# words -> errno, for reasons whose code is missing or is a catch-all
_WORDS = [
    (re.compile(r'no such file|not found|does not exist', re.I), errno.ENOENT),
    (re.compile(r'permission denied|not authori[sz]ed|forbidden', re.I), errno.EACCES),
    (re.compile(r'connection refused|could not connect', re.I), errno.ECONNREFUSED),
    (re.compile(r'timed? ?out|timeout|expired', re.I), errno.ETIMEDOUT),
    (re.compile(r'file exists|overwrite is not enabled', re.I), errno.EEXIST),
    (re.compile(r'no space|quota', re.I), errno.ENOSPC),
]


def parse_reason(reason: str, *, scope: str | None = None) -> FileOpError:
    """A FTS3 failure reason as a FileOpError; the file's error_scope, when given, names the side."""
    match = _REASON.match(reason or '')
    word_scope = match.group('scope') if match else None
    side = _SCOPES.get((scope or word_scope or '').upper(), Side.TRANSFER)
    code = int(match.group('code')) if match and match.group('code') else 0
    if code in (0, errno.EIO, errno.ENOMSG) or code not in errno.errorcode:
        for words, word_code in _WORDS:
            if words.search(reason or ''):
                code = word_code
                break
    error = classify(code, (reason or '').strip(), side=side)
    if error.kind == ErrorKind.CHECKSUM_MISMATCH and side == Side.TRANSFER:
        # "User defined checksum and source checksum do not match": the source is the bad one
        error = classify(code, error.message, side=side_of_message(error.message, Side.TRANSFER))
    return error


class Fts3Backend:
    """One FTS3 REST endpoint (https://fts3.example:8446).

    verify_checksum is FTS3's mode ('both', 'source', 'target', 'none', or a boolean); overwrite=False
    leaves an existing destination alone: FTS3 then fails the file with EEXIST, reported as
    ErrorKind.EXISTS for the caller to check the file (Gfal2Backend.copy does exactly that).
    """

    def __init__(self, *, endpoint: str, x509_proxy: str | None = None, ca_dir: str | None = None,
                 ca_file: str | None = None, verify_checksum: str | bool = 'both', overwrite: bool = False,
                 retry: int = 0, priority: int = 3, http_timeout: float = 60.0):
        self.endpoint = endpoint.rstrip('/')
        self.verify_checksum = verify_checksum
        self.overwrite = overwrite
        self.retry = retry
        self.priority = priority
        self.http_timeout = http_timeout
        context = ssl.create_default_context(cafile=ca_file, capath=ca_dir)
        if x509_proxy:
            # a grid proxy holds certificate, key and chain in one file
            context.load_cert_chain(certfile=x509_proxy, keyfile=x509_proxy)
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))

    # -- submission -----------------------------------------------------------------------------------

    def submit_transfers(self, transfers: Sequence[TransferSpec], *, metadata: Mapping | None = None) -> str:
        """Submit one job copying these files; returns FTS3's job id."""
        files = []
        for t in transfers:
            entry = {'sources': [t.source] if isinstance(t.source, str) else list(t.source),
                     'destinations': [t.destination], 'filesize': t.size}
            if t.checksum:
                algorithm, value = normalize_checksum(*t.checksum)
                entry['checksum'] = f'{algorithm}:{value}'
            if t.metadata is not None:
                entry['metadata'] = t.metadata
            files.append(entry)
        return self._submit({'files': files, 'params': self._params(metadata)})

    def submit_deletions(self, pfns: Iterable[str], *, metadata: Mapping | None = None) -> str:
        """Submit one job deleting these files; returns FTS3's job id."""
        return self._submit({'delete': list(pfns), 'params': self._params(metadata)})

    def _params(self, metadata: Mapping | None) -> dict:
        params = {'verify_checksum': self.verify_checksum, 'overwrite': self.overwrite, 'retry': self.retry,
                  'priority': self.priority}
        if metadata is not None:
            params['job_metadata'] = dict(metadata)
        return params

    def _submit(self, body: dict) -> str:
        answer = self._request('POST', '/jobs', body)
        try:
            return answer['job_id']
        except (TypeError, KeyError):
            raise FileOpError(code=errno.EPROTO, kind=ErrorKind.OTHER, message=f'FTS3 answered {answer!r} to a submission')

    # -- state ------------------------------------------------------------------------------------------

    def poll(self, job_id: str) -> JobStatus:
        """The job's state and each file's, in our terms. A deletion of a file that was already gone is
        DONE, as the gfal2 backend counts it."""
        job = self._request('GET', f'/jobs/{_quote(job_id)}')
        files = self._request('GET', f'/jobs/{_quote(job_id)}/files')
        if files:
            states = tuple(self._transfer_state(f) for f in files)
        else:
            states = tuple(self._deletion_state(d) for d in self._request('GET', f'/jobs/{_quote(job_id)}/dm'))
        return self._job_status(job, states)

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel what of the job has not finished; returns the job as FTS3 left it."""
        job = self._request('DELETE', f'/jobs/{_quote(job_id)}')
        return self._job_status(job, ())

    def pending_jobs(self, *, states: Sequence[str] = PENDING_JOB_STATES) -> list[str]:
        """Ids of our jobs in these FTS3 states (the server limits the list to the caller's own)."""
        jobs = self._request('GET', '/jobs?' + urllib.parse.urlencode({'state_in': ','.join(states)}))
        return [j['job_id'] for j in jobs]

    def _job_status(self, job: Mapping, files: tuple[FileState, ...]) -> JobStatus:
        word = str(job.get('job_state') or '')
        return JobStatus(job_id=job.get('job_id', ''), state=JOB_STATES.get(word, OpState.QUEUED), files=files,
                         service_state=word, reason=job.get('reason') or '')

    @staticmethod
    def _transfer_state(f: Mapping) -> FileState:
        word = str(f.get('file_state') or '')
        state = FILE_STATES.get(word, OpState.QUEUED)
        error = None
        if state == OpState.FAILED:
            error = parse_reason(f.get('reason') or '', scope=f.get('error_scope'))
        return FileState(source=f.get('source_surl') or '', destination=f.get('dest_surl') or '', state=state,
                         error=error, file_id=f.get('file_id'), service_state=word)

    @staticmethod
    def _deletion_state(d: Mapping) -> FileState:
        word = str(d.get('file_state') or '')
        state = FILE_STATES.get(word, OpState.QUEUED)
        error = None
        if state == OpState.FAILED:
            error = parse_reason(d.get('reason') or '', scope='DELETION')
            if error.kind == ErrorKind.NO_SUCH_FILE:
                state, error = OpState.DONE, None
        return FileState(source=d.get('source_surl') or '', destination='', state=state, error=error,
                         file_id=d.get('file_id'), service_state=word)

    # -- HTTP -----------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                         headers={'Accept': 'application/json', 'Content-Type': 'application/json'})
        try:
            with self._opener.open(request, timeout=self.http_timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as e:
            raise _http_error(e) from None
        except (socket.timeout, TimeoutError) as e:
            raise FileOpError(code=errno.ETIMEDOUT, kind=ErrorKind.TIMEOUT, message=f'FTS3 {method} {path}: {e}')
        except urllib.error.URLError as e:
            reason = e.reason
            code = getattr(reason, 'errno', None) or errno.ECONNREFUSED
            if isinstance(reason, ssl.SSLError):
                raise FileOpError(code=errno.EACCES, kind=ErrorKind.PERMISSION,
                                  message=f'FTS3 {method} {path}: TLS: {reason}') from None
            raise classify(code, f'FTS3 {method} {path}: {reason}') from None
        except ssl.SSLError as e:   # TLS 1.3: a refused client certificate is told after the request went
            raise FileOpError(code=errno.EACCES, kind=ErrorKind.PERMISSION,
                              message=f'FTS3 {method} {path}: TLS: {e}') from None
        except OSError as e:        # the connection reset or closed while the answer was read
            raise classify(e.errno or errno.ECONNRESET, f'FTS3 {method} {path}: {e}') from None
        return json.loads(payload) if payload else None


def _http_error(e: urllib.error.HTTPError) -> FileOpError:
    try:
        detail = json.loads(e.read() or b'{}').get('message', '')
    except (ValueError, AttributeError):
        detail = ''
    message = f'FTS3 HTTP {e.code}: {detail or e.reason}'
    if e.code in (401, 403, 419):  # 419: the delegated proxy expired and must be delegated again
        return FileOpError(code=errno.EACCES, kind=ErrorKind.PERMISSION, message=message)
    if e.code == 404:
        return FileOpError(code=errno.ENOENT, kind=ErrorKind.NO_SUCH_FILE, message=message)
    if e.code == 400:
        return FileOpError(code=errno.EINVAL, kind=ErrorKind.INVALID, message=message)
    return FileOpError(code=errno.EAGAIN if e.code == 503 else errno.EIO, kind=ErrorKind.OTHER, message=message,
                       retryable=True)


def _quote(job_id: str) -> str:
    return urllib.parse.quote(job_id, safe='')
