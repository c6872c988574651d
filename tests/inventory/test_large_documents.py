"""Large injection documents (issue #11, 4): read a top-level item at a time from text, files or the
write queue's chunks; every statement far below MariaDB's max_allowed_packet (the write queue, the
change-set log); a configured maximum; progress; malformed and deeply nested JSON is the caller's
error, never a crash."""
import json
import os
import subprocess
import sys
import tracemalloc

import pytest

from inventory import injection, services
from inventory.injection import DocumentError, FileSource, TextSource, parse_document, read_document
from inventory.objects import Block, Dataset, File
from tests.conftest import ROOT, manage
from tests.support import demo_doc, demo_text, image, load_image, row_counts, table_dump


class Pieces:
    """A source that hands out its text `size` characters at a time."""

    def __init__(self, text, size):
        self.text, self.step, self.size = text, size, len(text)

    def pieces(self):
        for start in range(0, len(self.text), self.step):
            yield self.text[start:start + self.step]


def walked(doc, order=injection.INJECT_ORDER):
    out = {}
    for key, index, item in doc.walk(order):
        assert index == len(out.setdefault(key, []))
        out[key].append(item)
    return out


# ---------------------------------------------------------------------------- the reader
@pytest.mark.parametrize('step', [1, 2, 3, 7, 64, 1000, 10 ** 6])
def test_a_document_cut_into_pieces_anywhere_reads_as_json_would(step):
    # given
    text = json.dumps(demo_doc(), indent=1) + '\n'
    expected = {k: v for k, v in json.loads(text).items() if v}
    # when
    doc = read_document(Pieces(text, step))
    # then
    assert walked(doc) == expected
    assert doc.counts() == {k: len(json.loads(text).get(k, [])) for k in injection.TOP_KEYS}


MALFORMED = ['{"dataset": [{"name": "/X/Y/Z",}]}', '{"dataset": [{"name": "/X/Y/Z"} {"name": "/A"}]}',
             '{"site": [{"name": "T2_X"}]', '{"site": [{"name": "T2_X"]}', '{"site" [] }', '{"site": [],}',
             '{"site": [tru]}', '{"site": [1.]}', '{"site": ["unterminated]}', '{"site": []} trailing',
             '\n\n  {"dataset": [\n {"name": "/A/B/C", "blocks": [{"name": "b", "files": [nul]}]}]}', '', '   ',
             '{"site": [{"name": "T2_\\u12"}]}']


@pytest.mark.parametrize('text', MALFORMED)
@pytest.mark.parametrize('step', [1, 5, 10 ** 6])
def test_malformed_json_is_a_document_error_saying_where_json_would(text, step):
    # given: where json.loads finds the error
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    # when / then
    with pytest.raises(DocumentError) as refused:
        read_document(Pieces(text, step))
    assert str(refused.value).startswith('malformed JSON: ')
    assert f'line {expected.value.lineno} column {expected.value.colno}' in str(refused.value), expected.value


@pytest.mark.parametrize('text', [
    '[' * 100_000 + ']' * 100_000,
    '{"dataset": [' + '[' * 100_000 + ']' * 100_000 + ']}',
    '{"dataset": [{"name": "/A/B/C", "blocks": ' + '{"x": ' * 100_000 + '1' + '}' * 100_000 + '}]}',
])
def test_json_nested_100000_deep_is_a_document_error(text):
    with pytest.raises(DocumentError, match='nested too deeply'):
        parse_document(text)


def test_other_json_than_an_object_of_lists_is_refused_naming_the_shape():
    for text, message in (('[]', 'must be a JSON object'), ('"x"', 'must be a JSON object'),
                          ('{"site": {"name": "T2_X"}}', '"site" must be a list'),
                          ('{"site": [], "site": []}', 'gives "site" twice'),
                          ('{"group": [], "gruop": []}', "both 'group' and 'gruop'")):
        with pytest.raises(DocumentError, match=message):
            parse_document(text)


def test_a_document_is_checked_and_walked_holding_one_item_at_a_time():
    # given: 65 MB of JSON produced piece by piece, never as one string
    item = json.dumps({'name': '/Big/Dataset-v1/RAW', 'blocks': [{'name': 'b', 'files': [
        {'name': '/store/big/%09d/' + 'x' * 300 + '.root', 'size': 1, 'adler32': '0a1b2c3d'}] * 1}]})
    count = 150_000

    class Generated:
        size = 0

        def pieces(self):
            yield '{"dataset": ['
            for i in range(count):
                yield (',' if i else '') + item.replace('/Big/Dataset-v1/RAW', f'/Big/Dataset-v1/RAW{i}') \
                    .replace('%09d', f'{i:09d}')
            yield ']}'
    tracemalloc.start()
    try:
        # when
        doc = read_document(Generated())
        walked_items = sum(1 for _ in doc.walk(injection.INJECT_ORDER))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # then: everything was read; memory stayed far below the document's size (65 MB of text,
    # several times that as decoded objects)
    assert walked_items == count and doc.counts()['dataset'] == count
    size = len(item) * count
    assert size > 60e6
    assert peak < size / 2, f'peak {peak / 1e6:.0f} MB'


def test_an_lfn_given_twice_far_apart_is_found_with_its_first_place():
    doc = {'dataset': [{'name': f'/D/S{i}/RAW', 'blocks': [{'name': 'b', 'files': [
        {'name': f'/store/{i}.root', 'size': 1}]}]} for i in range(3000)]}
    doc['dataset'][2999]['blocks'][0]['files'].append({'name': '/store/17.root', 'size': 1})
    with pytest.raises(DocumentError, match=r"dataset '/D/S2999/RAW' \(item 2999\) block 0 file 1: file "
                                            r"'/store/17.root' is given twice \(also as dataset '/D/S17/RAW' "
                                            r"\(item 17\) block 0 file 0\)"):
        parse_document(json.dumps(doc))


@pytest.mark.django_db
def test_lists_in_any_order_are_applied_sites_and_groups_first(tmp_path):
    # given: the dataset replica first, then the dataset whose files are at the new site, the site last
    inv = load_image()
    text = ('{"datasetreplica": [{"dataset": "/New/Order-v1/RAW", "site": "T3_New", "gruop": "NewGroup"}],'
            ' "dataset": [{"name": "/New/Order-v1/RAW", "blocks": [{"name": "b1", "files": ['
            '{"name": "/store/order/1.root", "size": 5, "site": "T3_New"}]}]}],'
            ' "gruop": [{"name": "NewGroup"}], "site": [{"name": "T3_New"}]}')
    path = tmp_path / 'doc.json'
    path.write_text(text)
    # when
    doc = read_document(FileSource(str(path)))
    applied = services.apply_changeset(inventory=inv, origin='test', builder=lambda i: injection.inject(i, doc))
    # then
    assert (applied.result['sites'], applied.result['groups'], applied.result['files']) == (1, 1, 1)
    assert applied.result.warnings == ["'gruop' read as 'group'"]
    replica = inv.sites['T3_New'].find_dataset_replica('/New/Order-v1/RAW')
    assert replica.group.name == 'NewGroup'
    assert image(load_image()) == image(inv)


# ---------------------------------------------------------------------------- statement sizes
@pytest.mark.django_db(transaction=True)
def test_a_change_set_of_20_mb_is_logged_in_chunks_of_a_megabyte():
    # given: 40,000 new files of 500-character names: ~22 MB of change-set log
    inv = load_image()

    def build(i):
        i.update(Dataset('/Big/Log-v1/RAW'))
        i.update(Block('b1', '/Big/Log-v1/RAW'))
        for n in range(40_000):
            i.update(File('/store/big/log/' + 'x' * 460 + f'/{n:06d}.root', '/Big/Log-v1/RAW#b1', 1,
                          (('adler32', '0a1b2c3d'),)))
    # when
    applied = services.apply_changeset(inventory=inv, origin='test', builder=build)
    # then: logged (MariaDB refused the one INSERT of it with 1153 before), in chunks of about
    # 1 MiB, and read back whole
    from inventory.models import ChangeSetChunk
    sizes = [len(d) for d in ChangeSetChunk.objects.filter(changeset_id=applied.seq).values_list('data', flat=True)]
    assert sum(sizes) > 20e6 and len(sizes) > 20
    assert max(sizes) <= services.CHUNK_BYTES + 1000
    assert sum(1 for _ in services.read_changeset(applied.seq)) == applied.num_changes == 40_002
    assert row_counts()['dyn_files'] == 40_000


@pytest.mark.django_db(transaction=True)
def test_a_queued_document_of_20_mb_is_stored_in_chunks_and_read_back_a_chunk_at_a_time():
    from execution.models import ChangeRequestChunk, RequestKind
    from execution.services import requests
    # given
    text = json.dumps({'dataset': [{'name': f'/Q/Big{i}/RAW', 'blocks': [{'name': 'b', 'files': [
        {'name': f'/store/q/{i}/' + 'y' * 400 + f'/{j}.root', 'size': 1} for j in range(50)]}]}
        for i in range(1000)]})
    assert len(text) > 20e6
    # when
    request = requests.request_submit(kind=RequestKind.INJECT, origin='test', payload=text)
    # then: one INSERT per chunk (one INSERT of everything was refused by MariaDB with 1153)
    sizes = list(ChangeRequestChunk.objects.filter(request=request).values_list('data', flat=True))
    assert max(len(s) for s in sizes) <= requests.CHUNK_CHARS and ''.join(sizes) == text
    payload = requests.request_payload(request)
    assert len(payload) == len(text)
    assert max(len(p) for p in payload.pieces()) <= requests.CHUNK_CHARS
    doc = parse_document(payload)
    assert doc.counts()['dataset'] == 1000
    assert sum(1 for _ in doc.walk(injection.INJECT_ORDER)) == 1000
    # a change list (not a document) is still given whole
    changes = requests.request_submit(kind=RequestKind.CHANGES, origin='test', payload=json.dumps([['u', {'x': 1}]]))
    assert requests.request_payload(changes) == '[["u", {"x": 1}]]'


# ---------------------------------------------------------------------------- the command
def _campaign(path, files, tag):
    """A campaign document with file-level sites (bench/generate_injection.py)."""
    r = subprocess.run([sys.executable, str(ROOT / 'bench' / 'generate_injection.py'), '--files', str(files),
                        '--copies', '0', '--tag', tag, '--out', str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return path


@pytest.mark.e2e
def test_dynamo_inject_of_20_mb_with_file_level_sites_works_without_and_with_a_server(start_server, tmp_path):
    # given: two documents of 20 MB
    first, second = _campaign(tmp_path / 'a.json', 48_000, 'NoServer'), _campaign(tmp_path / 'b.json', 48_000, 'Served')
    assert os.path.getsize(first) > 20e6
    # when: no server (the command applies it; MariaDB refused the change-set log's insert)
    r = manage('dynamo_inject', str(first), timeout=600)
    # then
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'Created 10 datasets, 96 blocks, 48000 files' in r.stdout
    assert 'checking [' in r.stderr   # progress of a document this size
    # when: with a server (the queue's one INSERT of the document was refused with 1153 or 2006)
    server = start_server()
    r = manage('dynamo_inject', str(second), timeout=600)
    # then
    assert r.returncode == 0, r.stderr[-3000:] + server.log()[-3000:]
    assert 'Created 10 datasets, 96 blocks, 48000 files' in r.stdout
    assert 'sending [' in r.stderr and 'submitted request' in r.stderr
    status, body = server.get('/data/inventory/datasets?dataset=/*/BenchServed*/*')
    assert status == 200 and len(body['data']) == 10
    assert sum(d['num_files'] for d in body['data']) == 48_000
    assert row_counts()['dyn_files'] == 96_000


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_document_over_the_maximum_is_refused_by_the_command_and_changes_nothing(tmp_path):
    # given: a maximum of 1 MB and a document of 2 MB
    path = _campaign(tmp_path / 'big.json', 5000, 'TooBig')
    assert os.path.getsize(path) > 2 ** 21
    before = table_dump()
    for args, stdin in (((str(path),), None), (('-',), path.read_text())):
        # when
        r = manage('dynamo_inject', *args, input=stdin, env={'DYNAMO_MAX_DOCUMENT_MB': '1'})
        # then
        assert r.returncode == 1, r.stdout + r.stderr
        assert 'over the maximum of 1 MB (DYNAMO_MAX_DOCUMENT_MB)' in r.stderr and 'Traceback' not in r.stderr
    assert table_dump() == before
    # and within the maximum the same document goes in
    assert manage('dynamo_inject', str(path), env={'DYNAMO_MAX_DOCUMENT_MB': '3'}).returncode == 0


def test_text_and_file_sources_give_the_same_document(tmp_path):
    path = tmp_path / 'demo.json'
    path.write_text(demo_text())
    assert walked(read_document(FileSource(str(path)))) == walked(read_document(TextSource(demo_text())))


def test_a_file_that_is_not_utf8_is_a_document_error(tmp_path):
    path = tmp_path / 'latin1.json'
    path.write_bytes('{"site": [{"name": "T2_\xe9"}]}'.encode('latin-1'))
    with pytest.raises(DocumentError, match='not UTF-8'):
        read_document(FileSource(str(path)))

