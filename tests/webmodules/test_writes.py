"""Writes through the web on a real HTTPS server: injection and deletion as admin, write-enabled
modules applied by the server loop (all or nothing), read-only modules that try to write, and
applications submitted, followed and killed through /data/applications."""
import json
import textwrap
import time

import pytest

from tests.conftest import manage
from tests.support import row_counts
from tests.webmodules.helpers import CERN, DEMO_DATASETS, FINAL, MIT, MUON, TTBAR, WRITERS, ZEROBIAS, wait_for

pytestmark = pytest.mark.e2e

NEW = '/WebInjected/Run2026B-v1/RAW'
NEW_DOC = {
    'group': [{'name': 'WebGroup'}],
    'dataset': [{'name': NEW, 'status': 'valid', 'data_type': 'production',
                 'blocks': [{'name': 'wb-0001', 'files': [{'name': '/store/web/0001.root', 'size': 1000},
                                                           {'name': '/store/web/0002.root', 'size': 2500}]}]}],
    'datasetreplica': [{'dataset': NEW, 'site': MIT, 'group': 'WebGroup'}],
}


@pytest.fixture
def web(make_web, users):
    return make_web(modules={'writers.py': WRITERS}, https=True)


@pytest.fixture
def admin(web, certs):
    return web.as_(certs.admin)


def run_app(web, tmp_path, name, source):
    script = tmp_path / name
    script.write_text(textwrap.dedent(source))
    r = manage('dynamo', str(script), env=web.env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def state(web):
    """What a user sees: the datasets on /data and the inventory tables' row counts."""
    return web.client.datasets(), web.client.data('inventory/groups'), row_counts()


# ---------------------------------------------------------------------------- inject / delete
def test_web_inject_is_visible_on_data_in_the_database_and_to_applications(web, admin, tmp_path):
    before = row_counts()
    reply = admin.post('/data/inventory/inject', json_body=NEW_DOC)
    assert reply.status == 200, reply
    assert reply.json['result'] == 'OK' and reply.json['message'] == 'Data injected'
    assert reply.json['data']['datasets'] == 1 and reply.json['data']['files'] == 2, reply

    d = web.client.datasets()[NEW]
    assert (d['size'], d['num_files'], d['num_blocks'], d['status'], d['sites']) == (3500, 2, 1, 'valid', [MIT])
    assert 'WebGroup' in [g['name'] for g in web.client.data('inventory/groups')]

    after = row_counts()
    assert after['dyn_datasets'] == before['dyn_datasets'] + 1
    assert after['dyn_blocks'] == before['dyn_blocks'] + 1
    assert after['dyn_files'] == before['dyn_files'] + 2
    assert after['dyn_dataset_replicas'] == before['dyn_dataset_replicas'] + 1
    assert after['seq'] == before['seq'] + 1

    out = run_app(web, tmp_path, 'see.py', f'''\
        from dynamo.core.executable import inventory
        d = inventory.datasets[{NEW!r}]
        print('app sees', d.name, d.size, sorted(r.site.name for r in d.replicas), d.replicas[0].group.name)
        ''')
    assert f"app sees {NEW} 3500 ['{MIT}'] WebGroup" in out

    # the same document again: nothing new, nothing changes
    reply = admin.post('/data/inventory/inject', json_body=NEW_DOC)
    assert reply.status == 200 and reply.json['message'] == 'Nothing new to inject', reply
    assert row_counts() == after


def test_web_inject_refuses_a_form_post_and_changes_nothing(web, admin):
    # a cross-site form would carry the user's certificate: writes take JSON bodies only
    before = state(web)
    reply = admin.post('/data/inventory/inject', form={'data': json.dumps(NEW_DOC)})
    assert reply.status == 405 and reply.json['result'] == 'Method Not Allowed', reply
    assert 'JSON body' in reply.json['message']
    assert state(web) == before
    assert NEW not in web.client.datasets()


def test_a_failing_inject_changes_nothing_and_is_400(web, admin):
    before = state(web)
    # valid items first, then a replica of a dataset that does not exist: all or nothing
    doc = dict(NEW_DOC, datasetreplica=NEW_DOC['datasetreplica'] + [{'dataset': '/No/Such/DATASET', 'site': MIT}])
    reply = admin.post('/data/inventory/inject', json_body=doc)
    assert reply.status == 400, reply
    assert reply.json['result'] == 'Bad Request'
    assert '/No/Such/DATASET' in reply.json['message']
    assert state(web) == before
    assert NEW not in web.client.datasets()

    # a malformed document is refused before anything is tried
    reply = admin.post('/data/inventory/inject', json_body={'datasets': []})
    assert reply.status == 400 and 'datasets' in reply.json['message'], reply
    reply = admin.post('/data/inventory/inject', json_body=None)
    assert reply.status in (400, 405) and reply.json['result'] in ('Bad Request', 'Method Not Allowed'), reply
    assert state(web) == before


def test_web_delete_removes_what_the_document_names(web, admin, tmp_path):
    before = row_counts()
    reply = admin.post('/data/inventory/delete', json_body={'dataset': [{'name': ZEROBIAS}],
                                                            'datasetreplica': [{'dataset': MUON, 'site': MIT}]})
    assert reply.status == 200, reply
    assert reply.json['message'] == 'Data deleted'
    datasets = web.client.datasets()
    assert ZEROBIAS not in datasets
    assert datasets[MUON]['sites'] == [CERN]
    after = row_counts()
    assert after['dyn_datasets'] == before['dyn_datasets'] - 1
    assert after['dyn_dataset_replicas'] == before['dyn_dataset_replicas'] - 2
    assert after['seq'] == before['seq'] + 1
    out = run_app(web, tmp_path, 'gone.py', f'''\
        from dynamo.core.executable import inventory
        print('zerobias present:', {ZEROBIAS!r} in inventory.datasets)
        print('muon at', sorted(r.site.name for r in inventory.datasets[{MUON!r}].replicas))
        ''')
    assert 'zerobias present: False' in out and f"muon at ['{CERN}']" in out

    # deleting something that does not exist: refused, nothing changes
    current = state(web)
    reply = admin.post('/data/inventory/delete', json_body={'datasetreplica': [{'dataset': TTBAR, 'site': MIT},
                                                                               {'dataset': ZEROBIAS, 'site': MIT}]})
    assert reply.status == 400, reply
    assert state(web) == current


def test_a_get_request_does_not_write(web, admin):
    # a link or an <img src> followed by an admin's browser (which presents the certificate by itself)
    # must not delete data: writes need POST
    before = state(web)
    doc = json.dumps({'dataset': [{'name': ZEROBIAS}]})
    reply = admin.get('/data/inventory/delete', params={'data': doc})
    assert reply.status in (400, 405), reply
    assert state(web) == before
    assert ZEROBIAS in web.client.datasets()


def test_inject_and_delete_need_the_admin_role(web, certs):
    before = state(web)
    for cert in (certs.norole, certs.operator):
        for path in ('/data/inventory/inject', '/data/inventory/delete'):
            reply = web.as_(cert).post(path, json_body={'dataset': [{'name': ZEROBIAS}]})
            assert reply.status == 403, (path, reply)
    reply = web.client.post('/data/inventory/delete', json_body={'dataset': [{'name': ZEROBIAS}]})
    assert reply.status == 401, reply
    assert state(web) == before


# ---------------------------------------------------------------------------- write-enabled modules
def test_a_write_enabled_module_changes_ram_and_database(web, admin):
    before = row_counts()
    reply = admin.post(f'/data/writers/invalidate?dataset={TTBAR}', json_body={})
    assert reply.status == 200, reply
    assert reply.json['data'] == {'status': 'invalid'}
    assert 'change set' in reply.json['message']
    assert web.client.datasets()[TTBAR]['status'] == 'invalid'
    assert row_counts()['seq'] == before['seq'] + 1
    from inventory.models import Dataset
    from inventory.objects import DatasetStatus
    assert DatasetStatus(Dataset.objects.get(name=TTBAR).status).label == 'invalid'


@pytest.mark.parametrize('name, status', [('refuse', 400), ('crash', 500)])
def test_a_write_enabled_module_that_fails_after_updating_changes_nothing(web, admin, name, status):
    before = state(web)
    reply = admin.post(f'/data/writers/{name}', json_body={})
    assert reply.status == status, reply
    if status == 400:
        assert reply.json['result'] == 'Bad Request' and 'changed my mind' in reply.json['message']
    else:
        assert 'crashed after updating' not in reply.text
    assert state(web) == before
    d = web.client.datasets()[MUON]
    assert d['status'] == 'valid' and d['sites'] == [CERN, MIT]
    # and the server still applies the next write
    reply = admin.post(f'/data/writers/invalidate?dataset={ZEROBIAS}', json_body={})
    assert reply.status == 200, reply
    assert web.client.datasets()[ZEROBIAS]['status'] == 'invalid'


def test_a_read_only_module_cannot_change_the_inventory(web, certs):
    before = state(web)
    reply = web.client.get('/data/writers/sneaky_update')
    assert reply.status == 403, reply
    assert reply.json['result'] == 'Forbidden' and 'read-only' in reply.json['message']
    reply = web.as_(certs.admin).get('/data/writers/sneaky_delete')
    assert reply.status == 403 and 'read-only' in reply.json['message'], reply
    assert state(web) == before
    d = web.client.datasets()[MUON]
    assert d['status'] == 'valid' and d['sites'] == [CERN, MIT]


def test_write_modules_are_refused_without_a_server_loop_role_or_certificate(web, certs):
    before = state(web)
    assert web.client.post(f'/data/writers/invalidate?dataset={TTBAR}').status == 401
    assert web.as_(certs.norole).post(f'/data/writers/invalidate?dataset={TTBAR}').status == 403
    assert state(web) == before


# ---------------------------------------------------------------------------- applications
def app_state(client, app_id):
    """The record of an application as `client` (its owner or an operator) sees it."""
    reply = client.get(f'/data/applications/poll?id={app_id}')
    assert reply.status == 200, reply
    return reply.json['data']


def wait_app(client, app_id, states=FINAL, timeout=60):
    def reached():
        rec = app_state(client, app_id)
        return rec if rec['state'] in states and (rec['state'] not in FINAL or rec['finished']) else None
    return wait_for(reached, timeout, f'application {app_id} in {states}')


def test_an_operator_submits_a_script_and_reads_its_output(web, certs):
    operator = web.as_(certs.operator)
    script = ('from dynamo.core.executable import inventory\n'
              'print("hello from the web,", len(inventory.datasets), "datasets")\n')
    reply = operator.post('/data/applications/submit', json_body={'script': script, 'title': 'WebHello'})
    assert reply.status == 200, reply
    app_id = reply.json['data']['id']
    assert reply.json['message'] == f'application {app_id} submitted'
    rec = wait_app(operator, app_id)
    assert (rec['state'], rec['exit_code'], rec['user'], rec['title']) == ('done', 0, 'otto', 'WebHello'), rec
    out = operator.data(f'applications/output?id={app_id}')
    assert out['state'] == 'done'
    assert f'hello from the web, {len(DEMO_DATASETS)} datasets' in out['output']
    listed = web.client.data('applications/list?user=otto')
    assert [a['id'] for a in listed] == [app_id]


def test_an_operator_kills_a_running_application(web, certs):
    operator = web.as_(certs.operator)
    script = 'import time\nprint("started", flush=True)\ntime.sleep(120)\nprint("not reached")\n'
    reply = operator.post('/data/applications/submit', json_body={'script': script, 'title': 'Sleeper'})
    assert reply.status == 200, reply
    app_id = reply.json['data']['id']
    wait_for(lambda: 'started' in operator.data(f'applications/output?id={app_id}')['output'], 30,
             'output of the sleeper')
    assert app_state(operator, app_id)['state'] == 'run'

    # anonymous and other users cannot kill it
    assert web.client.post('/data/applications/kill', json_body={'id': app_id}).status == 401
    reply = web.as_(certs.norole).post('/data/applications/kill', json_body={'id': app_id})
    assert reply.status == 403, reply
    assert app_state(operator, app_id)['state'] == 'run'

    reply = operator.post('/data/applications/kill', json_body={'id': app_id})
    assert reply.status == 200, reply
    assert reply.json['data'] == {'id': app_id, 'result': 'killed'}
    start = time.monotonic()
    rec = wait_app(operator, app_id, timeout=30)
    assert rec['state'] == 'killed', rec
    assert time.monotonic() - start < 30
    assert 'not reached' not in operator.data(f'applications/output?id={app_id}')['output']
    # killing it again: nothing to do
    reply = operator.post('/data/applications/kill', json_body={'id': app_id})
    assert reply.status == 200 and reply.json['data']['result'] == 'noaction', reply


def test_submit_is_refused_to_anonymous_and_to_users_without_the_role(web, certs):
    body = {'script': 'print("should not run")'}
    reply = web.client.post('/data/applications/submit', json_body=body)
    assert reply.status == 401 and reply.json['result'] == 'Unauthorized', reply
    for cert in (certs.admin, certs.norole):   # admin on inventory is not a role on application
        reply = web.as_(cert).post('/data/applications/submit', json_body=body)
        assert reply.status == 403 and reply.json['result'] == 'Forbidden', reply
    assert web.client.data('applications/list') == []
    reply = web.as_(certs.operator).post('/data/applications/submit', json_body={'title': 'no script'})
    assert reply.status == 400 and '"script"' in reply.json['message'], reply
    assert web.client.data('applications/list') == []
