"""The API description against a real server: the OpenAPI document validates (openapi-spec-validator),
every registered /data endpoint has a whole summary, its parameters, its methods and a response
schema that the real answers follow; the browsable API's breadcrumbs and descriptions; /api/, the
interactive page, calls an endpoint from the browser."""
import re

import pytest

from tests.conftest import AS_READER, make_reader, manage
from tests.webmodules.helpers import CERN, MIT, MUON
from tests.webmodules.test_browser import browser, tab  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e
BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'


@pytest.fixture
def web(make_web):
    make_reader()
    server = make_web(env={'DYNAMO_WEB_DN_HEADER': 'X-DN'})
    for args in (('dynamo_partitions', '--load', 'inventory/fixtures/partitions.txt'),
                 ('set_quota', '--site', MIT, '--partition', 'Default', '--volume', '10GB')):
        r = manage(*args, env=server.env)
        assert r.returncode == 0, r.stdout + r.stderr
    return server


def operations(spec):
    for path, methods in spec['paths'].items():
        for method, op in methods.items():
            yield path, method, op


def test_the_document_is_valid_openapi_and_describes_every_endpoint(web):
    from openapi_spec_validator import validate

    # given the document the server serves
    reply = web.client.get('/data/openapi.json')
    assert reply.status == 200 and reply.content_type.startswith('application/json'), reply
    spec = reply.json
    # then it is a valid OpenAPI 3.1 document
    assert spec['openapi'] == '3.1.0'
    validate(spec)

    # every endpoint of /data/ (the server's own index of its modules) is in it
    index = web.client.data('')
    assert {row['path'] for row in index} == set(spec['paths'])
    assert len(index) > 30
    for path, method, op in operations(spec):
        module = path.split('/')[2]
        # a whole first sentence (never cut mid-sentence), a unique id, a response schema
        assert op['summary'] and op['summary'][-1] in '.)', (path, op['summary'])
        assert op['operationId'] and op['tags'] == [module]
        schema = op['responses']['200']['content']['application/json']['schema']
        assert schema['required'] == ['result', 'message', 'data']
        assert 'x-undeclared' not in op, (path, method, op.get('x-undeclared'))
        assert op['responses']['200']['content']['application/json']['schema']['properties']['data'], path
    ids = [op['operationId'] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids))


def test_methods_bodies_and_roles_are_those_the_server_enforces(web):
    spec = web.client.get('/data/openapi.json').json
    paths = spec['paths']
    # reads are GET; writes and other state changes POST with a JSON body, never GET
    assert set(paths['/data/inventory/sites']) == {'get'}
    assert set(paths['/data/inventory/datasets']) == {'get', 'post'}        # also a form of long pattern lists
    assert 'application/x-www-form-urlencoded' in paths['/data/inventory/datasets']['post']['requestBody']['content']
    for path in ('/data/inventory/inject', '/data/inventory/delete', '/data/inventory/setquota',
                 '/data/applications/submit', '/data/applications/kill'):
        assert set(paths[path]) == {'post'}, path
        post = paths[path]['post']
        assert post['requestBody']['required'] is True
        assert 'application/json' in post['requestBody']['content']
        assert '401' in post['responses'] and '403' in post['responses']
        assert post['security'] == [{'certificate': []}]
        # and the server never runs it for a GET (anonymous: 401 first)
        assert web.client.get(path).status in (401, 405), path
    inject = paths['/data/inventory/inject']['post']
    assert inject['x-dynamo-roles'] == [{'role': 'admin', 'target': 'inventory'}]
    assert 'admin on inventory' in inject['description']
    body = inject['requestBody']['content']['application/json']['schema']
    assert {'site', 'group', 'dataset', 'datasetreplica'} <= set(body['properties'])
    submit = paths['/data/applications/submit']['post']
    assert submit['requestBody']['content']['application/json']['schema']['required'] == ['script']
    assert 'operator on application or admin on application' in submit['description']
    # parameters: names, types, required, descriptions
    params = {p['name']: p for p in paths['/data/inventory/blockreplicas']['get']['parameters']}
    assert set(params) == {'dataset', 'block', 'site', 'group', 'complete', 'updated_since', 'limit', 'offset'}
    assert params['limit']['schema']['type'] == 'integer' and params['updated_since']['schema']['type'] == 'integer'
    assert all(p['description'] for p in params.values())
    files = {p['name']: p for p in paths['/data/inventory/files']['get']['parameters']}
    assert files['block']['required'] is True
    assert paths['/data/inventory/sites']['get']['summary'] == ('Sites matching `site` (and partitions matching '
                                                               '`partition`): quota, usage (bytes present) and projected '
                                                               'usage (bytes once every transfer completes) per partition, '
                                                               'and totals.')


def test_real_answers_follow_the_declared_response_schemas(web):
    from jsonschema import Draft202012Validator

    # (a copy request, so that the request polls answer a record)
    copied = web.client.post('/data/request/copy', form={'item': MUON, 'site': CERN}, headers=AS_READER)
    assert copied.status == 200, copied
    spec = web.client.get('/data/openapi.json').json
    checked = []
    for path, method, op in operations(spec):
        if method != 'get' or (path.split('/')[2] not in ('inventory', 'server', 'schedule', 'request')
                               and path != '/data/dealer/cycles'):
            continue
        params = {p['name']: p['example'] for p in op['parameters'] if 'example' in p}
        if any(p['required'] and p['name'] not in params for p in op['parameters']):
            continue
        if path == '/data/inventory/files':
            params = {'block': MUON + '#' + web.client.data(f'inventory/blockreplicas?dataset={MUON}')[0]['block']}
        reply = web.client.get(path, params=params)
        assert reply.status == 200, (path, params, reply)
        schema = op['responses']['200']['content']['application/json']['schema']
        errors = sorted(Draft202012Validator(schema).iter_errors(reply.json), key=str)
        assert errors == [], (path, [f'{list(e.absolute_path)}: {e.message}' for e in errors[:5]])
        checked.append(path)
    assert {'/data/inventory/datasets', '/data/inventory/sites', '/data/inventory/blockreplicas',
            '/data/inventory/quotas', '/data/inventory/stats', '/data/inventory/groups', '/data/inventory/files',
            '/data/inventory/history', '/data/server/status', '/data/schedule', '/data/schedule/runs',
            '/data/dealer/cycles', '/data/request/pollcopy', '/data/request/polldelete'} <= set(checked), checked

    copy = spec['paths']['/data/request/copy']['post']['responses']['200']['content']['application/json']['schema']
    assert not list(Draft202012Validator(copy).iter_errors(copied.json)), copied.json
    # the schemas are not vacuous: a wrong answer fails them
    sites = spec['paths']['/data/inventory/sites']['get']['responses']['200']['content']['application/json']['schema']
    answer = web.client.get('/data/inventory/sites').json
    answer['data'][0]['partitions'][0]['quota'] = 'ten'
    assert list(Draft202012Validator(sites).iter_errors(answer))


def test_the_browsable_api_has_working_breadcrumbs_and_a_rendered_description(web):
    reply = web.client.get('/data/inventory/datasets?dataset=/SingleMuon/*', headers={'Accept': BROWSER_ACCEPT})
    assert reply.status == 200 and reply.content_type.startswith('text/html'), reply
    crumbs = re.findall(r'<ul class="breadcrumb">(.*?)</ul>', reply.text, re.S)[0]
    links = re.findall(r'href="([^"]+)"', crumbs)
    assert links == ['/data/', '/data/inventory/', '/data/inventory/datasets']
    assert '/data//' not in reply.text
    for link in links:   # every breadcrumb leads to a page of the browsable API
        page = web.client.get(link, headers={'Accept': BROWSER_ACCEPT})
        assert page.status == 200 and page.content_type.startswith('text/html'), (link, page)
    assert web.client.data('inventory/')[0]['path'].startswith('/data/inventory/')
    # the description is HTML (paragraphs, the parameter table), not an escaped literal
    assert '&lt;pre&gt;' not in reply.text and '&lt;p&gt;' not in reply.text
    assert '<p>Datasets matching `dataset`' in reply.text
    assert '<code>dataset</code>' in reply.text and 'GET or POST' in reply.text


def test_the_api_page_shows_every_endpoint_and_calls_one(web, tab):
    t = tab(web.client.url)
    page = t.goto('/api/')
    page.wait_for_selector('.opblock-tag-section')
    assert page.title() == 'Data API · Dynamo'
    assert page.locator('header nav a[aria-current="page"]').inner_text() == 'API'
    # every path is listed (Swagger UI renders the document the server serves)
    spec = web.client.get('/data/openapi.json').json
    shown = set(page.locator('.opblock-summary-path').evaluate_all('els => els.map(e => e.dataset.path)'))
    assert shown == set(spec['paths'])
    # a write is shown as a POST with its lock (a certificate is needed)
    inject = page.locator('.opblock-post', has=page.locator('[data-path="/data/inventory/inject"]'))
    assert inject.count() == 1 and inject.locator('.authorization__btn').count() == 1

    # when: open /data/inventory/sites, try it out with site=T1_*, execute
    op = page.locator('.opblock-get', has=page.locator('[data-path="/data/inventory/sites"]'))
    op.locator('.opblock-summary').click()
    op.locator('button.try-out__btn').click()
    op.locator('tr[data-param-name="site"] input').fill('T1_*')
    op.locator('button.execute').click()
    # then: the server's real answer is shown
    op.locator('.responses-table .response .microlight, .live-responses-table .microlight').first.wait_for()
    body = op.locator('.live-responses-table').inner_text()
    assert '"result": "OK"' in body and CERN in body and MIT not in body
    assert t.page_problems() == []

