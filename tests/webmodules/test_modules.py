"""Web modules dropped into a DYNAMO_WEB_MODULE_PATHS directory, served by a real server: the seed's
mymod / mypkg examples, configuration, request parameters, errors, OpenAPI and the browsable API."""
import json
import re

import pytest

from tests.webmodules.helpers import (BROKEN, CERN, DEMO_DATASETS, ERRORS, MIT, MUON, MYMOD, MYPKG_ABC,
                                      MYPKG_INIT, OLDSTYLE)

pytestmark = pytest.mark.e2e

CONFIG = {'mymod': {'greeting': 'Hello $(DYN_WEBTEST_WHO), from $(DYN_WEBTEST_WHERE)!',
                    'nested': {'level': 'deep $(DYN_WEBTEST_WHO)'}, 'numbers': [1, 2], 'flag': True,
                    'items': ['$(DYN_WEBTEST_WHO)', 'plain']},
          'other': {'unset': '[$(DYN_WEBTEST_NOT_SET)]'}}
BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
CONFIG_ENV = {'DYN_WEBTEST_WHO': 'operators', 'DYN_WEBTEST_WHERE': 'the RAM image'}


@pytest.fixture
def web(make_web):
    return make_web(modules={'mymod.py': MYMOD, 'mypkg/__init__.py': MYPKG_INIT, 'mypkg/abc.py': MYPKG_ABC,
                             'errors.py': ERRORS, 'broken.py': BROKEN, 'oldstyle.py': OLDSTYLE},
                    config=CONFIG, env=CONFIG_ENV)


# ---------------------------------------------------------------------------- the seed's examples
def test_seed_mymod_file_answers_at_web_and_data(web):
    page = web.client.get('/web/mymod/myweb', headers={'Accept': 'text/html'})
    assert page.status == 200, page
    assert page.content_type.startswith('text/html')
    assert '<title>My web page · Dynamo</title>' in page.text
    assert '<p id="mymod-body">Hello operators, from the RAM image!</p>' in page.text
    # the page is computed from the RAM image, and wrapped in the site's navigation
    assert f'<li class="site">{CERN}</li><li class="site">{MIT}</li>' in page.text
    assert 'href="/web/inventory/datasets"' in page.text

    reply = web.client.get('/data/mymod/mydata')
    assert reply.status == 200, reply
    assert reply.content_type.startswith('application/json')
    assert reply.json['result'] == 'OK'
    assert reply.json['message'] == 'mymod says hi'
    assert reply.json['data']['num_datasets'] == len(DEMO_DATASETS)
    assert reply.json['data']['config_is_configuration'] is True


def test_seed_package_exports_from_init_and_its_helper_is_not_a_module(web):
    page = web.client.get('/web/mypkg/page')
    assert page.status == 200, page
    assert '<p id="pkg">2 sites in mypkg</p>' in page.text
    assert web.client.data('mypkg/info') == {'answer': 42, 'description': '2 sites in mypkg'}

    # abc.py is a helper of the package, not a web interface of its own
    for path in ('/data/abc/info', '/data/abc', '/data/mypkg/abc'):
        reply = web.client.get(path)
        assert reply.status == 404, (path, reply)
        assert reply.json['result'] == 'Not Found', (path, reply)
    assert web.client.get('/web/abc/page').status == 404


def test_an_html_page_is_served_as_html_whatever_the_order_of_the_bases(web):
    # modules ported from the original Dynamo declare `class Page(WebModule, HTMLMixin)`
    page = web.client.get('/web/oldstyle/page', headers={'Accept': 'text/html'})
    assert page.status == 200, page
    assert '<p id="old">old style page</p>' in page.text
    assert page.content_type.startswith('text/html'), page


def test_modules_see_the_configuration_with_environment_expansion(web):
    data = web.client.data('mymod/mydata')
    assert data['config'] == {'greeting': 'Hello operators, from the RAM image!',
                              'nested': {'level': 'deep operators'}, 'numbers': [1, 2], 'flag': True,
                              'items': ['operators', 'plain']}
    assert data['attribute_access'] == 'deep operators'


def test_without_a_configuration_file_modules_get_an_empty_configuration(make_web):
    web = make_web(modules={'mymod.py': MYMOD})
    data = web.client.data('mymod/mydata')
    assert data['config'] is None and data['attribute_access'] is None
    assert 'no configuration' in web.client.get('/web/mymod/myweb').text


# ---------------------------------------------------------------------------- request parameters
def test_query_parameters_are_strings_and_repeated_keys_lists(web):
    reply = web.client.get('/data/mymod/mydata?one=1&many=a&many=b&arr[]=x&arr[]=y&single[]=z&empty=')
    assert reply.status == 200, reply
    assert reply.json['data']['request'] == {'one': '1', 'many': ['a', 'b'], 'arr': ['x', 'y'],
                                             'single': ['z'], 'empty': ''}
    assert reply.json['data']['input_data'] is None


def test_form_post_parameters_join_the_query_parameters(web):
    reply = web.client.post('/data/mymod/mydata?q=1', form={'name': 'value', 'multi': ['p', 'q'],
                                                            'tags[]': ['t1']})
    assert reply.status == 200, reply
    assert reply.json['data']['request'] == {'q': '1', 'name': 'value', 'multi': ['p', 'q'], 'tags': ['t1']}
    assert reply.json['data']['input_data'] is None


def test_json_post_body_arrives_as_input_data_not_in_request(web):
    body = {'dataset': [{'name': '/X/Y/Z'}], 'flag': True, 'n': 3}
    reply = web.client.post('/data/mymod/mydata?q=1', json_body=body)
    assert reply.status == 200, reply
    assert reply.json['data']['input_data'] == body
    assert reply.json['data']['request'] == {'q': '1'}

    # a JSON list body as well
    reply = web.client.post('/data/mymod/mydata', json_body=[1, 'two'])
    assert reply.json['data']['input_data'] == [1, 'two'] and reply.json['data']['request'] == {}


def test_a_malformed_json_body_is_a_bad_request(web):
    reply = web.client.post('/data/mymod/mydata', body=b'{"not": json', headers={'Content-Type': 'application/json'})
    assert reply.status == 400, reply
    assert reply.json['result'] == 'Bad Request'
    assert 'not valid JSON' in reply.json['message']


# ---------------------------------------------------------------------------- failures
def test_a_broken_module_is_logged_and_the_others_still_answer(web):
    log = web.log()
    assert re.search(r'web module broken .*failed to load', log), log[-3000:]
    assert 'SyntaxError' in log
    assert re.search(r'web modules: .*mymod.*\(failed: broken\)', log), log[-3000:]
    reply = web.client.get('/data/broken/x')
    assert reply.status == 404 and reply.json['result'] == 'Not Found', reply
    # every other module answers
    assert web.client.data('mymod/mydata')['num_datasets'] == 3
    assert web.client.data('mypkg/info')['answer'] == 42
    assert sorted(d['name'] for d in web.client.data('inventory/datasets')) == DEMO_DATASETS


def test_unknown_module_or_name_is_404_json(web):
    reply = web.client.get('/data/nosuchmodule/datasets')
    assert reply.status == 404, reply
    assert reply.json == {'result': 'Not Found', 'message': reply.json['message']}
    assert 'nosuchmodule' in reply.json['message']

    reply = web.client.get('/data/inventory/nosuchname')
    assert reply.status == 404 and reply.json['result'] == 'Not Found', reply
    assert '/data/inventory/nosuchname' in reply.json['message']
    assert 'data' not in reply.json

    # /web answers an HTML error page
    page = web.client.get('/web/nosuchmodule/page', headers={'Accept': 'text/html'})
    assert page.status == 404 and page.content_type.startswith('text/html'), page
    assert '404 Not Found' in page.text


def test_data_paths_with_a_trailing_slash_answer_json(web):
    # /data/applications names the module's '' command; typed with a trailing slash it must not turn
    # into an HTML page that a JSON client (or the pages' Dynamo.data()) cannot parse
    plain = web.client.get('/data/applications')
    assert plain.status == 200 and plain.json['result'] == 'OK', plain
    for path, status in (('/data/applications/', 200), ('/data/abc/', 404), ('/data/nosuchmodule/', 404)):
        reply = web.client.get(path)
        assert reply.content_type.startswith('application/json'), (path, reply)
        assert reply.status == status, (path, reply)


def test_a_missing_parameter_is_400_json_naming_it(web):
    reply = web.client.get('/data/errors/needs')
    assert reply.status == 400, reply
    assert reply.json['result'] == 'Bad Request'
    assert '"color"' in reply.json['message']

    reply = web.client.get('/data/inventory/blockreplicas')
    assert reply.status == 400, reply
    assert 'dataset or block' in reply.json['message']

    reply = web.client.get('/data/errors/needs?color=green')
    assert reply.status == 400 and '"color"' in reply.json['message'] and 'green' in reply.json['message'], reply
    assert web.client.data('errors/needs?color=red') == 'red'

    reply = web.client.get('/data/inventory/stats?list_by=planet')
    assert reply.status == 400 and 'list_by' in reply.json['message'], reply


def test_an_exception_in_a_module_is_500_json_without_traceback(web):
    reply = web.client.get('/data/errors/crash')
    assert reply.status == 500, reply
    assert reply.json['result'] == 'Internal Server Error'
    assert 'Traceback' not in reply.text and 'SECRET-VALUE-42' not in reply.text
    assert 'ZeroDivisionError' not in reply.text and 'File "' not in reply.text
    # the traceback goes to the server log instead
    assert 'SECRET-VALUE-42' in web.log() and 'ZeroDivisionError' in web.log()

    page = web.client.get('/web/errors/crash', headers={'Accept': 'text/html'})
    assert page.status == 500, page
    assert 'Traceback' not in page.text and 'SECRET-PAGE-VALUE' not in page.text

    # the server keeps serving
    assert web.client.data('mymod/mydata')['num_datasets'] == 3


# ---------------------------------------------------------------------------- descriptions
def test_openapi_lists_the_data_endpoints(web):
    reply = web.client.get('/data/openapi.json')
    assert reply.status == 200, reply
    spec = reply.json
    assert spec['openapi'].startswith('3.')
    paths = spec['paths']
    for path in ('/data/mymod/mydata', '/data/mypkg/info', '/data/errors/needs', '/data/inventory/datasets',
                 '/data/inventory/sites', '/data/inventory/inject', '/data/inventory/delete',
                 '/data/applications/submit', '/data/applications/output'):
        assert path in paths, path
        # writes and submissions are POST only; reads GET (and POST where a module takes a form too)
        writes = ('/data/inventory/inject', '/data/inventory/delete', '/data/applications/submit')
        assert set(paths[path]) == {'post'} if path in writes else 'get' in paths[path], (path, set(paths[path]))
    # only /data endpoints, nothing of the broken module or of the package's helper
    assert not any(p.startswith('/data/broken') or p.startswith('/data/abc') or p.startswith('/web')
                   for p in paths), sorted(paths)
    mydata = paths['/data/mymod/mydata']['get']
    assert mydata['summary'].startswith('JSON of mymod')
    assert mydata['tags'] == ['mymod']
    assert '401' not in mydata['responses']
    inject = paths['/data/inventory/inject']['post']
    assert '401' in inject['responses'] and 'admin on inventory' in inject['description']
    operation_ids = [op['operationId'] for ops in paths.values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_browsable_api_renders_for_html_clients(web):
    reply = web.client.get('/data/inventory/datasets?dataset=/SingleMuon/*', headers={'Accept': BROWSER_ACCEPT})
    assert reply.status == 200, reply
    assert reply.content_type.startswith('text/html')
    assert '<html' in reply.text.lower()
    # the view's name and the module's documentation, and the envelope itself
    assert '/data/inventory/datasets' in reply.text
    assert 'Datasets matching' in reply.text
    assert '&quot;result&quot;: &quot;OK&quot;' in reply.text or '"result": "OK"' in reply.text
    assert MUON in reply.text

    # errors render as HTML too, with their status
    reply = web.client.get('/data/inventory/nosuchname', headers={'Accept': BROWSER_ACCEPT})
    assert reply.status == 404 and reply.content_type.startswith('text/html'), reply

    # and ?format=json still gives JSON to a browser
    reply = web.client.get('/data/mymod/mydata?format=json', headers={'Accept': BROWSER_ACCEPT})
    assert reply.status == 200 and reply.content_type.startswith('application/json'), reply
    assert json.loads(reply.text)['data']['num_datasets'] == 3
