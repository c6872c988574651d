"""What a web caller can do to the server (issue #11, 1, 4, 5, 6): every error is a 4xx in the
envelope, never a 500 or a page of HTML; bodies of any size up to DYNAMO_MAX_DOCUMENT_MB (413
beyond); the work of one request is bounded (patterns, pages, CPU time) and a few web threads are
kept for health checks whatever the other requests do."""
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from tests.conftest import ROOT, manage
from tests.support import row_counts
from tests.webmodules.conftest import ADMIN_DN
from tests.webmodules.helpers import MIT, MUON

pytestmark = pytest.mark.e2e
AS_ADMIN = {'X-DN': ADMIN_DN}

SLOW = '''\
"""Expensive module calls: CPU for `seconds` of thread time, or a sleep."""
import time

from dynamo.web.modules._base import WebModule


class Burn(WebModule):
    def run(self, caller, request, inventory):
        start = time.thread_time()
        while time.thread_time() - start < float(request.get('seconds', '1')):
            pass
        return 'burnt'


class Sleep(WebModule):
    def run(self, caller, request, inventory):
        time.sleep(float(request.get('seconds', '3')))
        return 'slept'


export_data = {'burn': Burn, 'sleep': Sleep}
'''


@pytest.fixture
def web(make_web, users):
    return make_web(modules={'slow.py': SLOW}, env={'DYNAMO_WEB_DN_HEADER': 'X-DN'})


def raw(web, head, body=b'', *, shut=True, timeout=30):
    """Send a request by hand (a body that does not match its headers); (status, envelope, seconds)."""
    url = urllib.parse.urlsplit(web.client.url)
    start = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as s:
        s.sendall(head.encode() + b'\r\n' + body)
        if shut:
            s.shutdown(socket.SHUT_WR)
        data = b''
        while True:
            piece = s.recv(65536)
            if not piece:
                break
            data += piece
    headers, _, payload = data.partition(b'\r\n\r\n')
    return int(headers.split()[1]), json.loads(payload), time.monotonic() - start


def post_head(path, length, dn=ADMIN_DN):
    return (f'POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-DN: {dn}\r\n'
            f'Content-Type: application/json\r\nContent-Length: {length}\r\n')


def envelope(reply, status, result):
    assert reply.status == status, reply
    assert reply.content_type.startswith('application/json'), reply
    assert set(reply.json) == {'result', 'message'} and reply.json['result'] == result, reply
    return reply.json['message']


# ---------------------------------------------------------------------------- errors in the envelope
def test_errors_of_the_rest_framework_and_of_django_keep_the_envelope(web):
    c = web.client
    assert 'PUT' in envelope(c.request('PUT', '/data/inventory/datasets'), 405, 'Method Not Allowed')
    assert 'DELETE' in envelope(c.request('DELETE', '/data/openapi.json'), 405, 'Method Not Allowed')
    assert 'Accept' in envelope(c.get('/data/inventory/datasets', headers={'Accept': 'text/csv'}), 406,
                                'Not Acceptable')
    envelope(c.get('/data/inventory/datasets?format=xml'), 404, 'Not Found')
    many = '&'.join(f'p{i}=1' for i in range(1100))
    assert 'more than 1000 parameters' in envelope(c.get('/data/inventory/datasets?' + many), 400, 'Bad Request')
    assert 'more than 1000 parameters' in envelope(
        c.post('/data/inventory/datasets', form={f'p{i}': '1' for i in range(1100)}), 400, 'Bad Request')


def test_json_nested_100000_deep_is_a_400_and_changes_nothing(web):
    before = row_counts()
    deep = ('[' * 100_000 + ']' * 100_000).encode()
    for path in ('/data/inventory/inject', '/data/inventory/datasets'):
        reply = web.client.post(path, body=deep, headers=dict(AS_ADMIN, **{'Content-Type': 'application/json'}))
        assert 'nested too deeply' in envelope(reply, 400, 'Bad Request'), path
    reply = web.client.post('/data/inventory/inject', headers=dict(AS_ADMIN, **{'Content-Type': 'application/json'}),
                            body=b'{"dataset": [' + b'{"a": ' * 100_000 + b'1' + b'}' * 100_000 + b']}')
    assert 'nested too deeply' in envelope(reply, 400, 'Bad Request')
    assert row_counts() == before
    assert web.client.get('/data/server/status').status == 200


def test_a_truncated_body_is_a_400_and_a_huge_content_length_a_413(web):
    before = row_counts()
    for path in ('/data/inventory/inject', '/data/inventory/datasets'):
        # the client sends part of the body and closes its side: answered at once
        status, body, seconds = raw(web, post_head(path, 1000), b'{"dataset": [')
        assert (status, body['result']) == (400, 'Bad Request'), body
        assert 'the request body ended' in body['message'] and 'of the 1000 bytes' in body['message']
        assert seconds < 2
        # a Content-Length of 10**20 bytes: refused before reading anything
        status, body, seconds = raw(web, post_head(path, 10 ** 20), b'{"dataset": [', shut=False)
        assert (status, body['result']) == (413, 'Request Entity Too Large'), body
        assert seconds < 2
    # the client sends part of the body and stalls: answered when the server's read times out
    status, body, seconds = raw(web, post_head('/data/inventory/inject', 1000), b'{"dataset"', shut=False)
    assert (status, body['result']) == (400, 'Bad Request') and 'the request body ended' in body['message']
    assert row_counts() == before
    assert 'web request failed' not in web.log()   # (the 500s were logged so)


def _document(files, tag, lfn_length=150):
    return {'dataset': [{'name': f'/Web/{tag}-v1/RAW', 'blocks': [
        {'name': f'b{b}', 'files': [{'name': f'/store/web/{tag}/{b}/' + 'f' * lfn_length + f'{i}.root', 'size': 10,
                                     'adler32': '0a1b2c3d', 'site': MIT} for i in range(files // 10)]}
        for b in range(10)]}]}


def test_an_injection_of_3_mb_goes_in(web):
    # given: over Django's 2.5 MB DATA_UPLOAD_MAX_MEMORY_SIZE (a 500 before)
    doc = _document(16_000, 'ThreeMB')
    body = json.dumps(doc).encode()
    assert len(body) > 3.1e6
    # when
    reply = web.client.post('/data/inventory/inject', body=body,
                            headers=dict(AS_ADMIN, **{'Content-Type': 'application/json'}))
    # then
    assert reply.status == 200, reply
    assert (reply.json['data']['files'], reply.json['data']['blocks']) == (16_000, 10)
    (d,) = web.client.data('inventory/datasets', params={'dataset': '/Web/ThreeMB-v1/RAW'})
    assert d['num_files'] == 16_000 and d['sites'] == [MIT]


def test_a_document_over_the_maximum_is_a_413_and_changes_nothing(make_web, users):
    web = make_web(env={'DYNAMO_WEB_DN_HEADER': 'X-DN', 'DYNAMO_MAX_DOCUMENT_MB': '1'})
    before = row_counts()
    big = json.dumps(_document(8000, 'TooBig')).encode()
    assert len(big) > 2 ** 20
    reply = web.client.post('/data/inventory/inject', body=big,
                            headers=dict(AS_ADMIN, **{'Content-Type': 'application/json'}))
    assert 'over the maximum of 1 MB (DYNAMO_MAX_DOCUMENT_MB)' in envelope(reply, 413, 'Request Entity Too Large')
    assert row_counts() == before
    small = json.dumps(_document(3000, 'Small')).encode()
    assert len(small) < 2 ** 20
    reply = web.client.post('/data/inventory/inject', body=small,
                            headers=dict(AS_ADMIN, **{'Content-Type': 'application/json'}))
    assert reply.status == 200 and reply.json['data']['files'] == 3000, reply


def test_a_web_write_that_has_started_is_answered_when_it_ends_not_with_a_503(make_web, users):
    # given: the write lock is waited for 0.2 s at most, and a document that takes longer to apply
    web = make_web(env={'DYNAMO_WEB_DN_HEADER': 'X-DN', 'DYNAMO_WEB_WRITE_WAIT': '0.2'})
    body = json.dumps(_document(20_000, 'Slow', lfn_length=300)).encode()
    # when
    start = time.monotonic()
    reply = web.client.post('/data/inventory/inject', body=body,
                            headers=dict(AS_ADMIN, **{'Content-Type': 'application/json'}))
    # then: the caller learns that it was applied (a 503 said "try again" while it was applied)
    assert time.monotonic() - start > 0.2
    assert reply.status == 200 and reply.json['data']['files'] == 20_000, reply


# ---------------------------------------------------------------------------- the work of one request
def test_a_thousand_patterns_are_refused_at_once(web):
    patterns = ','.join(f'T{i}*x*y*' for i in range(1000))
    start = time.monotonic()
    reply = web.client.get('/data/inventory/blockreplicas', params={'dataset': '*', 'site': patterns})
    assert time.monotonic() - start < 1
    assert '1000 site patterns; at most 100' in envelope(reply, 400, 'Bad Request')
    for params, message in (({'dataset': ','.join(['/*'] * 101)}, '101 dataset patterns; at most 100'),
                            ({'dataset': '/' + 'a' * 1999 + '*'}, 'of 2001 characters; at most 1024'),
                            ({'dataset': '/' + '*a' * 17}, 'has 17 "*"; at most 16'),
                            ({'dataset': '*', 'group': ','.join(['x'] * 150)}, '150 group patterns')):
        assert message in envelope(web.client.get('/data/inventory/blockreplicas', params=params), 400,
                                   'Bad Request'), params
    assert '101 dataset patterns' in envelope(
        web.client.get('/data/inventory/datasets', params={'dataset': ','.join(['/*'] * 101)}), 400, 'Bad Request')
    # within the limits, the same kind of query answers
    reply = web.client.get('/data/inventory/blockreplicas', params={'dataset': '*', 'site': ','.join(
        f'T{i}*x*y*' for i in range(99)) + ',T2_*'})
    assert reply.status == 200 and {r['site'] for b in reply.json['data'] for r in b['replicas']} == {MIT}, reply


def test_answers_are_paged_with_limit_and_offset(web):
    c = web.client
    names = [d['name'] for d in c.data('inventory/datasets')]
    assert len(names) == 3
    reply = c.get('/data/inventory/datasets', params={'limit': 2})
    assert [d['name'] for d in reply.json['data']] == names[:2] and reply.json['message'] == 'datasets 1-2 of 3'
    reply = c.get('/data/inventory/datasets', params={'limit': 2, 'offset': 2})
    assert [d['name'] for d in reply.json['data']] == names[2:] and reply.json['message'] == 'datasets 3-3 of 3'
    blocks = c.data('inventory/blockreplicas', params={'dataset': '*'})
    paged = []
    for offset in range(0, len(blocks), 3):
        paged += c.data('inventory/blockreplicas', params={'dataset': '*', 'limit': 3, 'offset': offset})
    assert paged == blocks
    assert c.data('inventory/blockreplicas', params={'dataset': '*', 'site': MIT, 'offset': 1}) == \
        c.data('inventory/blockreplicas', params={'dataset': '*', 'site': MIT})[1:]
    for params, message in (({'limit': '-1'}, 'expected a non-negative integer'),
                            ({'limit': 'ten'}, 'expected a non-negative integer'),
                            ({'offset': '1' * 5000}, 'expected a non-negative integer'),
                            ({'limit': '200001'}, 'at most 200000')):
        assert message in envelope(c.get('/data/inventory/datasets', params=params), 400, 'Bad Request'), params
    assert 'at most 50000' in envelope(c.get('/data/inventory/blockreplicas', params={'dataset': '*', 'limit': 50001}),
                                       400, 'Bad Request')


def test_an_answer_larger_than_one_page_asks_to_narrow_or_page(make_inventory, monkeypatch):
    from webmodules.base import InvalidRequest
    from webmodules.modules import inventory as module
    inv = make_inventory()
    monkeypatch.setitem(module.MAX_ROWS, 'blocks', 2)
    with pytest.raises(InvalidRequest, match='3 blocks match, more than the 2 one answer holds: narrow the patterns, '
                                             'or ask for them page by page with limit'):
        module.BlockReplicas({}).run(None, {'dataset': '*'}, inv)
    assert len(module.BlockReplicas({}).run(None, {'dataset': '*', 'limit': '2', 'offset': '2'}, inv)) == 1


def test_a_query_over_its_cpu_budget_is_stopped_with_a_400_saying_what_to_narrow(make_web, users, tmp_path):
    # given: 5,000 blocks, and queries allowed a millisecond of CPU
    path = tmp_path / 'blocks.json'
    r = subprocess.run([sys.executable, str(ROOT / 'bench' / 'generate_injection.py'), '--files', '5000',
                        '--files-per-block', '1', '--blocks-per-dataset', '50', '--copies', '1', '--tag', 'Budget',
                        '--out', str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert manage('dynamo_inject', str(path)).returncode == 0
    web = make_web(env={'DYNAMO_WEB_QUERY_SECONDS': '0.001'})
    # when
    for path in ('/data/inventory/blockreplicas?dataset=*&site=T*x*y*', '/data/inventory/stats?dataset=*'):
        reply = web.client.get(path)
        # then
        message = envelope(reply, 400, 'Bad Request')
        assert 'needed more than 0.001 s of CPU time and was stopped: narrow the patterns' in message, path
    assert web.client.get(f'/data/inventory/blockreplicas?dataset={MUON}').status == 200


# ---------------------------------------------------------------------------- threads for cheap requests
def _hammer(web, path, count):
    """`count` requests of `path` at once; returns their (status, Retry-After) as they end."""
    out = []

    def one():
        reply = web.client.get(path)
        out.append((reply.status, reply.headers.get('retry-after')))
    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    return threads, out


def _health(web, threads):
    """The slowest answer of /data/server/status and /metrics polled while `threads` run."""
    slowest = 0.
    while any(t.is_alive() for t in threads):
        for path in ('/data/server/status', '/metrics'):
            start = time.monotonic()
            reply = web.client.get(path, headers={'Accept': '*/*'})
            assert reply.status == 200, reply
            slowest = max(slowest, time.monotonic() - start)
        time.sleep(0.1)
    return slowest


@pytest.mark.parametrize('path', ['/data/slow/burn?seconds=1', '/data/slow/sleep?seconds=4'])
def test_health_answers_within_a_second_while_16_expensive_requests_run(web, path):
    # given: 16 requests that each hold a web thread (CPU, or waiting), as many as the threads
    threads, out = _hammer(web, path, 16)
    time.sleep(0.3)
    # when
    slowest = _health(web, threads)
    # then: health checks answer at once; the expensive requests run, up to all threads but two,
    # the others are told to come back
    assert slowest < 1, slowest
    assert len(out) == 16 and {s for s, _ in out} <= {200, 503}, out
    assert sum(s == 200 for s, _ in out) >= 14, out
    assert all(retry == '1' for s, retry in out if s == 503), out
