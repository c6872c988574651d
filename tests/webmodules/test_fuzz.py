"""Fuzzing a live server (issue #11): injection and deletion documents and query strings drawn by
hypothesis, a bounded number of each. Whatever arrives: never a 5xx, always the envelope; a refused
write changes nothing (the server's answers and every inventory table stay as they were) and an
accepted one is whole (RAM and database agree); a health request answers within 1 s throughout."""
import json
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import row_counts, table_dump
from tests.webmodules.conftest import ADMIN_DN
from tests.webmodules.helpers import CERN, MIT, MUON, TTBAR, ZEROBIAS

pytestmark = pytest.mark.e2e
AS_ADMIN = {'X-DN': ADMIN_DN, 'Content-Type': 'application/json'}
FUZZ = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# ---------------------------------------------------------------------------- strategies
def mostly(good, bad, percent=90):
    """`good` `percent` times in a hundred, else `bad`: documents that get far into the checks and
    into the inventory, with something wrong somewhere now and then."""
    return st.integers(0, 99).flatmap(lambda n: good if n < percent else bad)


weird = st.text(alphabet=st.characters(exclude_categories=()), max_size=12)   # control characters, surrogates, ...
printable = st.text(max_size=12)   # (no lone surrogates: a URL cannot carry them)
sites = mostly(st.sampled_from([MIT, CERN, 'T3_Fuzz_A', 'T3_Fuzz_B']), weird)
groups = mostly(st.sampled_from(['AnalysisOps', 'DataOps', 'FuzzGroup', None]), weird)
datasets = mostly(st.sampled_from([MUON, ZEROBIAS, TTBAR]) | st.builds('/Fuzz/N{}-v1/RAW'.format, st.integers(0, 99)),
                  weird)
blocks = mostly(st.sampled_from(['b1a7c0de-0000-4000-8000-000000000001', 'fz-1', 'fz-2']), weird)
lfns = mostly(mostly(st.builds('/store/fuzz/{}.root'.format, st.uuids()),
                     st.builds('/store/fuzz/{}.root'.format, st.integers(0, 9))), weird)   # new ones, or stored
sizes = mostly(st.integers(0, 10 ** 9), st.integers(-2 ** 70, 2 ** 70) | st.just(2 ** 63) | st.floats() | weird)
scalars = (st.integers(-2 ** 70, 2 ** 70) | st.booleans() | st.none() | st.floats(allow_nan=False) | weird
           | st.sampled_from(['valid', 'production', 'disk', 'ready', 'block', 'dataset', 'unknown']))
anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(weird, inner, max_size=3),
                        max_leaves=8)


def _name(value):
    """What makes an item the same as another (mostly unique lists: duplicates are tried, not always)."""
    return json.dumps(value.get('name'), default=str) if isinstance(value, dict) else json.dumps(value, default=str)


def item(required, optional):
    """Objects with some of their fields (of the right kind or not), now and then a stray field, or
    something else entirely."""
    return mostly(st.fixed_dictionaries(required, optional=optional),
                  st.fixed_dictionaries(required, optional=dict(optional, gruop=groups, stauts=scalars))
                  | st.dictionaries(weird, anything, max_size=3) | anything, percent=97)


def value(*good):
    return mostly(st.sampled_from(good), scalars, percent=95)


files = st.lists(mostly(item({'name': lfns, 'size': sizes},
                              {'adler32': st.text('0123abcdef', min_size=1, max_size=8), 'site': sites,
                               'md5': value('0123456789abcdef0123456789abcdef')}),
                         lfns), min_size=1, max_size=4, unique_by=_name)
block_items = st.lists(item({'name': blocks, 'files': files}, {'size': sizes, 'num_files': sizes}), min_size=1,
                       max_size=3, unique_by=_name)
documents = mostly(st.fixed_dictionaries({'dataset': st.lists(item({'name': datasets, 'blocks': block_items}, {
    'status': value('valid', 'production', 'unknown'), 'data_type': value('production', 'test', 'unknown'),
    'software_version': mostly(st.sampled_from(['CMSSW_13_3_0', ['CMSSW_13_3_0', 'el9']]), anything)}),
    min_size=1, max_size=3, unique_by=_name)},
    optional={
    'site': st.lists(item({'name': sites}, {'host': mostly(st.just('se.fuzz.example'), weird),
                                            'storage_type': value('disk', 'tape', 'unknown'),
                                            'status': value('ready', 'unknown')}), max_size=3, unique_by=_name),
    'group': st.lists(item({'name': groups}, {'olevel': value('block', 'dataset')}), max_size=2, unique_by=_name),
    'datasetreplica': st.lists(item({'dataset': datasets, 'site': sites}, {
        'group': groups, 'growing': mostly(st.booleans(), scalars),
        'blockreplicas': st.lists(item({'block': blocks}, {'group': groups, 'files': st.lists(lfns, max_size=3)}),
                                  max_size=3)}), max_size=3),
}), st.dictionaries(weird, anything, max_size=3) | anything)
bodies = mostly(documents.map(lambda d: json.dumps(d).encode()), st.binary(max_size=200) | st.sampled_from([
    b'', b'{', b'{"dataset": [', b'[' * 5000, b'{"dataset": [' + b'{"a":' * 3000, b'\xff\xfe{}', b'null']))

params = st.dictionaries(
    st.sampled_from(['dataset', 'block', 'site', 'node', 'group', 'gruop', 'partition', 'complete', 'updated_since',
                     'update_since', 'list_by', 'limit', 'offset', 'format', 'id', 'state']) | printable,
    st.lists(printable | st.integers(-10, 10 ** 30).map(str)
             | st.sampled_from(['*', '/*', 'T*x*y*', '#', '*#*', 'y', 'n', 'site', 'data_type', '%', ',,,']),
             min_size=1, max_size=3),
    max_size=4)
endpoints = st.sampled_from(['inventory/datasets', 'inventory/sites', 'inventory/groups', 'inventory/blockreplicas',
                             'inventory/stats', 'inventory', 'server/status', 'applications/list', 'nothing/here'])


# ---------------------------------------------------------------------------- the server and its watch
@pytest.fixture
def web(make_web, users):
    return make_web(env={'DYNAMO_WEB_DN_HEADER': 'X-DN'})


class HealthWatch:
    """Polls /data/server/status every 0.2 s; `slowest` answer, and any failure."""

    def __init__(self, client):
        self.client, self.slowest, self.failures = client, 0., []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                reply = self.client.get('/data/server/status')
                if reply.status != 200:
                    self.failures.append(reply)
            except OSError as exc:
                self.failures.append(exc)
            self.slowest = max(self.slowest, time.monotonic() - start)
            self.stop.wait(0.2)

    def check(self):
        self.stop.set()
        self.thread.join()
        assert not self.failures, self.failures
        assert self.slowest < 1, self.slowest


@pytest.fixture
def watch(web):
    w = HealthWatch(web.client)
    yield w
    w.check()


def view(web):
    """What a user sees of the inventory, and what the database holds."""
    c = web.client
    return (c.data('inventory/datasets'), c.data('inventory/sites'), c.data('inventory/groups'),
            c.data('inventory/blockreplicas', params={'dataset': '*'}), table_dump(), row_counts())


def assert_envelope(reply):
    assert reply.status < 500, reply
    assert reply.content_type.startswith('application/json'), reply
    assert isinstance(reply.json, dict) and {'result', 'message'} <= set(reply.json), reply
    assert (reply.json['result'] == 'OK') == (reply.status == 200), reply


def assert_ram_matches_database(web):
    from inventory import selectors, store
    inv, _ = store.load()
    assert web.client.data('inventory/datasets') == json.loads(json.dumps(selectors.datasets(inv)))
    assert web.client.data('inventory/sites') == json.loads(json.dumps(selectors.sites(inv)))
    assert web.client.data('inventory/blockreplicas', params={'dataset': '*'}) == \
        json.loads(json.dumps(selectors.block_replicas(inv, dataset='*')))


# ---------------------------------------------------------------------------- the tests
@FUZZ
@given(body=bodies, path=mostly(st.just('inventory/inject'), st.just('inventory/delete')))
def test_fuzzed_documents_never_fail_the_server_nor_write_partly(web, watch, body, path):
    before = view(web)
    reply = web.client.post('/data/' + path, body=body, headers=AS_ADMIN)
    assert_envelope(reply)
    if reply.status != 200:
        assert view(web) == before, reply
    elif reply.json['data'] and any(reply.json['data'].values()):
        assert_ram_matches_database(web)


@FUZZ
@given(endpoint=endpoints, query=params, post=st.booleans())
def test_fuzzed_queries_never_fail_the_server(web, watch, endpoint, query, post):
    if post:
        reply = web.client.post('/data/' + endpoint, form=query)
    else:
        reply = web.client.get('/data/' + endpoint, params=query)
    assert_envelope(reply)
