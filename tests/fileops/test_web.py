"""The web of the file operations on a real server: tasks by filters (/data/fileops/transfers and
deletions), the links now and over time, the pages; the consistency reports."""
import pytest
from django.utils import timezone

from fileops.models import ConsistencyEntry, ConsistencyReport, FileTask, LinkSample

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def task(kind, state, site, lfn, source='', **kw):
    return FileTask(kind=kind, state=state, site=site, source=source, lfn=lfn, dataset=lfn.rsplit('/', 1)[0],
                    block='b1', size=1000, created=timezone.now(), **kw)


@pytest.fixture
def web(start_server):
    now = timezone.now()
    FileTask.objects.bulk_create([
        task('transfer', 'queued', 'T2_W_B', '/store/w/A/f1.root', 'T2_W_A'),
        task('transfer', 'held', 'T2_W_B', '/store/w/A/f2.root', 'T2_W_A', reason='no source left: T2_W_A'),
        task('transfer', 'done', 'T2_W_C', '/store/w/B/f3.root', 'T2_W_A', finished=now),
        task('deletion', 'active', 'T2_W_A', '/store/w/A/f4.root')])
    for minutes in (3, 2, 1):
        LinkSample.objects.create(time=now - timezone.timedelta(minutes=minutes), kind='transfer', source='T2_W_A',
                                  site='T2_W_B', queued=10 * minutes, active=2, done=30, bytes=30_000, seconds=60)
    report = ConsistencyReport.objects.create(site='T2_W_B', state='applied', requested=now, inventory_files=100,
                                              listed_files=100, missing=1, orphans=1)
    ConsistencyEntry.objects.bulk_create([ConsistencyEntry(report=report, kind='missing', lfn='/store/w/A/f9.root'),
                                          ConsistencyEntry(report=report, kind='orphan', lfn='/store/dark/x.root',
                                                           size=5, mtime=1, action='delete')])
    server = start_server(env={'DYNAMO_FILEOPS_PROCESSES': '0'})
    server.report_id = report.id
    return server


def data(server, path):
    status, body = server.get(path)
    assert status == 200 and body['result'] == 'OK', (status, body)
    return body['data']


def test_tasks_by_site_state_dataset_and_kind(web):
    rows = data(web, '/data/fileops/transfers?site=T2_W_B')
    assert sorted((r['lfn'], r['state']) for r in rows) == [('/store/w/A/f1.root', 'queued'),
                                                          ('/store/w/A/f2.root', 'held')]
    held = data(web, '/data/fileops/transfers?state=held,failed')
    assert [r['reason'] for r in held] == ['no source left: T2_W_A']
    assert [r['lfn'] for r in data(web, '/data/fileops/transfers?dataset=/store/w/B')] == ['/store/w/B/f3.root']
    assert [r['lfn'] for r in data(web, '/data/fileops/deletions')] == ['/store/w/A/f4.root']
    assert len(data(web, '/data/fileops/transfers?lfn=/store/w/A/*')) == 2
    status, body = web.get('/data/fileops/transfers?state=stuck')
    assert status == 400 and "unknown state 'stuck'" in body['message']
    assert data(web, '/data/fileops/summary') == {'transfer': {'queued': 1, 'held': 1, 'done': 1},
                                                  'deletion': {'active': 1}}


def test_links_now_and_over_time_and_the_pages(web):
    links = data(web, '/data/fileops/links')
    assert {(r['kind'], r['source'], r['site'], r['queued'], r['held']) for r in links} == \
        {('transfer', 'T2_W_A', 'T2_W_B', 1, 1), ('deletion', '', 'T2_W_A', 0, 0)}
    history = data(web, '/data/fileops/history?hours=1&site=T2_W_B')
    assert [h['queued'] for h in history] == [30, 20, 10]
    assert {(h['rate'], h['throughput']) for h in history} == {(0.5, 500.0)}
    import urllib.request
    with urllib.request.urlopen(web.url + '/web/fileops') as reply:
        page = reply.read().decode()
    assert 'File operations' in page and 'fileops/fileops.js' in page
    with urllib.request.urlopen(web.url + '/static/fileops/fileops.js') as reply:
        assert b'lineChart' in reply.read()


def test_consistency_reports_and_their_files(web):
    reports = data(web, '/data/consistency/reports?site=T2_W_B')
    assert [(r['id'], r['state'], r['missing'], r['orphans']) for r in reports] == [(web.report_id, 'applied', 1, 1)]
    report = data(web, f'/data/consistency/report?id={web.report_id}&kind=orphan')
    assert report['files'] == [{'kind': 'orphan', 'lfn': '/store/dark/x.root', 'pfn': '', 'size': 5, 'mtime': 1,
                                'action': 'delete'}]
    status, body = web.get('/data/consistency/report?id=999999')
    assert status == 404
    import urllib.request
    with urllib.request.urlopen(web.url + '/web/consistency') as reply:
        assert 'Storage consistency' in reply.read().decode()


def test_every_answer_follows_the_schema_the_api_description_declares(web):
    from jsonschema import Draft202012Validator
    status, spec = web.get('/data/openapi.json')
    assert status == 200
    paths = [f'/data/fileops/{name}' for name in ('transfers', 'deletions', 'summary', 'links', 'history')]
    paths += ['/data/consistency/reports']
    queries = {path: '' for path in paths}
    queries['/data/consistency/report'] = f'?id={web.report_id}'
    for path, query in queries.items():
        op = spec['paths'][path]['get']
        assert 'x-undeclared' not in op, (path, op['x-undeclared'])
        status, body = web.get(path + query)
        assert status == 200 and body['data'], (path, body)
        schema = op['responses']['200']['content']['application/json']['schema']
        errors = [f'{list(e.absolute_path)}: {e.message}' for e in Draft202012Validator(schema).iter_errors(body)]
        assert errors == [], (path, errors[:5])
    # and the declaration is not vacuous: a task in an unknown state fails it
    schema = spec['paths']['/data/fileops/transfers']['get']['responses']['200']['content']['application/json']['schema']
    status, body = web.get('/data/fileops/transfers')
    body['data'][0]['state'] = 'stuck'
    assert list(Draft202012Validator(schema).iter_errors(body))
