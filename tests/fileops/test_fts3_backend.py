"""The FTS3 backend against recorded FTS3 REST responses, served over HTTPS by a local stand-in server
that requires a client certificate (no FTS3 server can run here; fts3_responses/ holds the bodies)."""
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fileops.backends import ErrorKind, FileOpError, OpState, Side, TransferSpec
from fileops.backends.fts3 import Fts3Backend, parse_reason

RESPONSES = Path(__file__).parent / 'fts3_responses'
JOB = '5d3f0c1e-7a4b-11f1-b0a2-fa163e2c6a11'
DJOB = '9b81e6d2-7a4b-11f1-8f6e-fa163e2c6a11'


class RecordedFts3:
    """Answers each 'METHOD /path' with its recorded bodies in turn (the last one repeats) and keeps
    what it was sent. Unknown routes answer 404 like FTS3 does for an unknown job."""

    def __init__(self, ca, routes: dict[str, list[tuple[int, str]]]):
        self.routes = {key: list(value) for key, value in routes.items()}
        self.requests: list[dict] = []
        server_cert, server_key = ca.issue('fts3-server')
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(server_cert, server_key)
        context.load_verify_locations(cafile=str(ca.ca_pem))
        context.verify_mode = ssl.CERT_REQUIRED
        recorded = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                subject = dict(x[0] for x in self.connection.getpeercert()['subject'])
                recorded.requests.append({'method': self.command, 'path': self.path, 'body': body,
                                          'client': subject.get('commonName')})
                status, name = recorded.next_answer(f'{self.command} {self.path}')
                payload = (RESPONSES / name).read_bytes()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f'https://127.0.0.1:{self.httpd.server_address[1]}'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def next_answer(self, key: str) -> tuple[int, str]:
        answers = self.routes.get(key)
        if not answers:
            return 404, 'error_404.json'
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def client_proxy(test_ca, tmp_path):
    # a grid proxy is certificate and key in one file
    cert, key = test_ca.issue('dynamo-robot', client=True)
    proxy = tmp_path / 'x509up'
    proxy.write_text(cert.read_text() + key.read_text())
    return str(proxy)


@pytest.fixture
def fts3(test_ca, client_proxy):
    servers = []

    def start(routes):
        server = RecordedFts3(test_ca, routes)
        servers.append(server)
        return server, Fts3Backend(endpoint=server.url, x509_proxy=client_proxy, ca_dir=str(test_ca.ca_dir),
                                   retry=2)
    yield start
    for server in servers:
        server.close()


TRANSFERS = [TransferSpec(source=f'root://eoscms.cern.ch//eos/cms/store/mc/Run3/TTbar/AODSIM/v1/0000/file{i}.root',
                          destination=f'davs://webdav.t2-xx-a.example:2880/cms/store/mc/Run3/TTbar/AODSIM/v1/0000/file{i}.root',
                          size=2147483648 + i, checksum=('ADLER32', f'a1b2c3{i}'), metadata={'file': i})
             for i in range(3)]


def test_a_transfer_job_is_submitted_with_sizes_checksums_and_parameters(fts3):
    server, backend = fts3({'POST /jobs': [(200, 'submit_transfer.json')]})
    job_id = backend.submit_transfers(TRANSFERS, metadata={'issuer': 'dynamo', 'operation': 1042})
    assert job_id == JOB
    sent = server.requests[0]
    assert sent['client'] == 'dynamo-robot'
    # the checksum goes in the inventory's spelling: lowercase algorithm, 8 hex digits
    assert sent['body']['files'][1] == {
        'sources': [TRANSFERS[1].source], 'destinations': [TRANSFERS[1].destination],
        'filesize': 2147483649, 'checksum': 'adler32:0a1b2c31', 'metadata': {'file': 1}}
    assert sent['body']['params'] == {'verify_checksum': 'both', 'overwrite': False, 'retry': 2, 'priority': 3,
                                      'job_metadata': {'issuer': 'dynamo', 'operation': 1042}}


def test_polling_follows_a_job_from_submitted_to_its_outcome_per_file(fts3):
    # given
    _, backend = fts3({
        f'GET /jobs/{JOB}': [(200, 'transfer_job_submitted.json'), (200, 'transfer_job_active.json'),
                             (200, 'transfer_job_finisheddirty.json')],
        f'GET /jobs/{JOB}/files': [(200, 'transfer_files_submitted.json'), (200, 'transfer_files_active.json'),
                                   (200, 'transfer_files_finisheddirty.json')],
    })
    # when
    polls = [backend.poll(JOB) for _ in range(3)]
    # then
    assert [p.state for p in polls] == [OpState.NEW, OpState.ACTIVE, OpState.FAILED]
    assert [f.state for f in polls[0].files] == [OpState.NEW] * 3
    assert [f.state for f in polls[1].files] == [OpState.ACTIVE, OpState.QUEUED, OpState.NEW]
    done, mismatch, exists = polls[2].files
    assert done.state == OpState.DONE and done.error is None
    assert done.destination.endswith('/file0.root')
    assert mismatch.state == OpState.FAILED
    assert (mismatch.error.kind, mismatch.error.side, mismatch.error.retryable) == \
        (ErrorKind.CHECKSUM_MISMATCH, Side.SOURCE, False)
    assert (exists.error.kind, exists.error.code, exists.error.side) == (ErrorKind.EXISTS, 17, Side.DESTINATION)
    assert polls[2].service_state == 'FINISHEDDIRTY' and polls[2].state.final


def test_cancelling_a_job_reports_it_cancelled(fts3):
    server, backend = fts3({
        f'DELETE /jobs/{JOB}': [(200, 'transfer_job_canceled.json')],
        f'GET /jobs/{JOB}': [(200, 'transfer_job_canceled.json')],
        f'GET /jobs/{JOB}/files': [(200, 'transfer_files_canceled.json')],
    })
    cancelled = backend.cancel(JOB)
    assert cancelled.state == OpState.CANCELLED
    assert [f.state for f in backend.poll(JOB).files] == [OpState.DONE, OpState.CANCELLED, OpState.CANCELLED]
    assert server.requests[0]['method'] == 'DELETE'


def test_a_deletion_job_counts_an_already_missing_file_as_done(fts3):
    # given
    server, backend = fts3({
        'POST /jobs': [(200, 'submit_deletion.json')],
        f'GET /jobs/{DJOB}': [(200, 'deletion_job_finisheddirty.json')],
        f'GET /jobs/{DJOB}/files': [(200, 'deletion_files.json')],
        f'GET /jobs/{DJOB}/dm': [(200, 'deletion_dm.json')],
    })
    pfns = [f'davs://webdav.t2-xx-a.example:2880/cms/store/mc/Run3/TTbar/AODSIM/v1/0000/file{i}.root'
            for i in range(3)]
    # when
    job_id = backend.submit_deletions(pfns)
    status = backend.poll(job_id)
    # then
    assert server.requests[0]['body']['delete'] == pfns
    deleted, missing, refused = status.files
    assert deleted.state == OpState.DONE and missing.state == OpState.DONE
    assert refused.state == OpState.FAILED
    assert (refused.error.kind, refused.error.code, refused.error.retryable) == (ErrorKind.PERMISSION, 13, False)


def test_pending_jobs_are_listed_for_the_submission_limit(fts3):
    server, backend = fts3({'GET /jobs?state_in=SUBMITTED%2CREADY%2CACTIVE%2CSTAGING%2CDELETE%2CARCHIVING':
                            [(200, 'jobs_pending.json')]})
    assert backend.pending_jobs() == [JOB, 'c0de7e57-7a4c-11f1-9d2b-fa163e2c6a11']


def test_an_expired_delegation_is_a_permission_error(fts3):
    _, backend = fts3({'POST /jobs': [(419, 'error_419.json')]})
    with pytest.raises(FileOpError) as failure:
        backend.submit_transfers(TRANSFERS[:1])
    assert failure.value.kind == ErrorKind.PERMISSION
    assert 'delegated credentials expired' in failure.value.message


def test_an_unknown_job_is_a_no_such_file_error(fts3):
    _, backend = fts3({})
    with pytest.raises(FileOpError) as failure:
        backend.poll('0000dead-0000-0000-0000-000000000000')
    assert failure.value.kind == ErrorKind.NO_SUCH_FILE


def test_an_unreachable_server_is_a_retryable_connection_error(test_ca, client_proxy):
    from tests.storage_servers import free_port
    backend = Fts3Backend(endpoint=f'https://127.0.0.1:{free_port()}', x509_proxy=client_proxy,
                          ca_dir=str(test_ca.ca_dir))
    with pytest.raises(FileOpError) as failure:
        backend.poll(JOB)
    assert failure.value.kind == ErrorKind.CONNECTION and failure.value.retryable


def test_a_client_without_certificate_is_refused(fts3, test_ca):
    server, _ = fts3({'POST /jobs': [(200, 'submit_transfer.json')]})
    anonymous = Fts3Backend(endpoint=server.url, ca_dir=str(test_ca.ca_dir))
    with pytest.raises(FileOpError) as failure:
        anonymous.submit_transfers(TRANSFERS[:1])
    assert failure.value.kind in (ErrorKind.PERMISSION, ErrorKind.CONNECTION)
    assert server.requests == []


@pytest.mark.parametrize('reason, scope, kind, code, side', [
    ('SOURCE [2] Failed to stat file (No such file or directory)', 'SOURCE', ErrorKind.NO_SUCH_FILE, 2, Side.SOURCE),
    ('TRANSFER [110] Operation timed out', None, ErrorKind.TIMEOUT, 110, Side.TRANSFER),
    ('DESTINATION MAKE_PARENT [13] Permission denied', None, ErrorKind.PERMISSION, 13, Side.DESTINATION),
    ('TRANSFER [5] Could not connect to server', 'TRANSFER', ErrorKind.CONNECTION, 111, Side.TRANSFER),
    ('TRANSFER CHECKSUM MISMATCH Source and destination checksums do not match', 'TRANSFER',
     ErrorKind.CHECKSUM_MISMATCH, 0, Side.DESTINATION),
    ('GENERAL_FAILURE Something unexpected', None, ErrorKind.OTHER, 0, Side.TRANSFER),
])
def test_fts3_reasons_become_typed_errors(reason, scope, kind, code, side):
    error = parse_reason(reason, scope=scope)
    assert (error.kind, error.code, error.side) == (kind, code, side)
