"""HTTPS with client certificates on a real server: a test CA made with openssl, users and roles
managed with `manage.py user_auth`, and a module that reports the caller it is given."""
import html
import ssl

import pytest

from tests.conftest import manage
from tests.webmodules.conftest import ADMIN_DN, NOROLE_DN, OPERATOR_DN, UNKNOWN_DN
from tests.webmodules.helpers import DEMO_DATASETS, WHOAMI, Client, user_auth

pytestmark = pytest.mark.e2e


@pytest.fixture
def web(make_web, users):
    return make_web(modules={'who.py': WHOAMI}, https=True)


def whoami(client):
    reply = client.get('/data/who/whoami')
    assert reply.status == 200, reply
    return reply.json['data']


def test_the_server_speaks_https_only_with_its_certificate(web, certs):
    assert web.client.url.startswith('https://')
    # a client that does not trust the test CA refuses the server
    with pytest.raises(ssl.SSLError):
        Client(web.client.url, ca=None).get('/data/inventory/groups')


def test_a_known_user_is_identified_by_the_certificate_dn(web, certs):
    assert whoami(web.as_(certs.admin)) == {'name': 'jane', 'dn': ADMIN_DN, 'roles': [['admin', 'inventory']],
                                            'authenticated': True}
    assert whoami(web.as_(certs.operator)) == {'name': 'otto', 'dn': OPERATOR_DN,
                                               'roles': [['operator', 'application']], 'authenticated': True}
    assert whoami(web.as_(certs.norole)) == {'name': 'nora', 'dn': NOROLE_DN, 'roles': [], 'authenticated': True}
    page = web.as_(certs.admin).get('/web/inventory/datasets', headers={'Accept': 'text/html'})
    # the pages show who is calling, with the DN on hover
    assert page.status == 200 and f'<span class="caller" title="{html.escape(ADMIN_DN)}">jane</span>' in page.text, page


def test_without_a_certificate_the_caller_is_anonymous(web, certs):
    assert whoami(web.client) == {'name': None, 'dn': None, 'roles': [], 'authenticated': False}
    # public endpoints work
    assert sorted(d['name'] for d in web.client.data('inventory/datasets')) == DEMO_DATASETS
    page = web.client.get('/web/inventory/sites', headers={'Accept': 'text/html'})
    assert page.status == 200 and '<span class="caller" title="">anonymous</span>' in page.text, page
    # protected ones ask for authentication
    reply = web.client.post('/data/inventory/inject', json_body={'group': [{'name': 'anon'}]})
    assert reply.status == 401, reply
    assert reply.json['result'] == 'Unauthorized' and 'client certificate' in reply.json['message']
    for path in ('/data/who/known', '/data/who/admin', '/data/who/operator', '/data/inventory/delete'):
        reply = web.client.get(path)
        assert reply.status == 401 and reply.json['result'] == 'Unauthorized', (path, reply)
    assert 'anon' not in [g['name'] for g in web.client.data('inventory/groups')]


def test_an_unknown_certificate_is_refused(web, certs):
    unknown = web.as_(certs.unknown)
    for path in ('/data/who/whoami', '/data/inventory/datasets', '/data/inventory/inject'):
        reply = unknown.get(path)
        assert reply.status == 403, (path, reply)
        assert reply.json['result'] == 'Forbidden'
        assert 'unknown user' in reply.json['message'] and UNKNOWN_DN in reply.json['message'], reply
    page = unknown.get('/web/inventory/datasets', headers={'Accept': 'text/html'})
    assert page.status == 403 and 'unknown user' in page.text, page


def test_a_certificate_of_another_ca_is_rejected(web, certs):
    # same DN as the admin, but not issued by the configured CA: the TLS handshake fails
    with pytest.raises((ssl.SSLError, ConnectionError)):
        web.as_(certs.foreign).get('/data/who/whoami')
    # and the server is still fine
    assert whoami(web.as_(certs.admin))['name'] == 'jane'


def test_a_module_requiring_a_role_refuses_a_user_without_it(web, certs):
    # jane is admin on inventory, not operator on application
    reply = web.as_(certs.admin).get('/data/who/operator')
    assert reply.status == 403, reply
    assert reply.json['result'] == 'Forbidden'
    assert 'jane' in reply.json['message'] and 'operator on application' in reply.json['message']
    assert whoami_path(web.as_(certs.admin), '/data/who/admin')['name'] == 'jane'

    # otto is operator on application, not admin on inventory
    assert whoami_path(web.as_(certs.operator), '/data/who/operator')['name'] == 'otto'
    reply = web.as_(certs.operator).get('/data/who/admin')
    assert reply.status == 403 and 'admin on inventory' in reply.json['message'], reply

    # nora is known (must_authenticate is enough) but has no role at all
    assert whoami_path(web.as_(certs.norole), '/data/who/known')['name'] == 'nora'
    for path in ('/data/who/admin', '/data/who/operator'):
        assert web.as_(certs.norole).get(path).status == 403
    reply = web.as_(certs.norole).post('/data/inventory/inject', json_body={'group': [{'name': 'nora-group'}]})
    assert reply.status == 403 and reply.json['result'] == 'Forbidden', reply
    assert 'nora-group' not in [g['name'] for g in web.client.data('inventory/groups')]


def whoami_path(client, path):
    reply = client.get(path)
    assert reply.status == 200, reply
    return reply.json['data']


def test_grants_and_revocations_take_effect_on_the_running_server(web, certs):
    # a role on every target (no --target) covers the inventory
    assert web.as_(certs.norole).get('/data/who/admin').status == 403
    user_auth('--user', 'nora', '--role', 'admin')
    assert whoami_path(web.as_(certs.norole), '/data/who/admin')['roles'] == [['admin', None]]
    assert web.as_(certs.norole).get('/data/who/operator').status == 403   # admin is not operator

    # revoking jane's role: she is still known, but no longer admin
    out = user_auth('--user', 'jane', '--revoke', '--role', 'admin', '--target', 'inventory')
    assert 'Revoked 1' in out
    assert whoami(web.as_(certs.admin))['roles'] == []
    assert web.as_(certs.admin).get('/data/who/admin').status == 403

    # revoking her DN: her certificate no longer belongs to anyone
    user_auth('--user', 'jane', '--revoke', '--dn', ADMIN_DN)
    reply = web.as_(certs.admin).get('/data/who/whoami')
    assert reply.status == 403 and 'unknown user' in reply.json['message'], reply

    listing = user_auth('--list')
    assert 'nora' in listing and 'admin on *' in listing and NOROLE_DN in listing
    assert ADMIN_DN not in listing


def test_user_auth_refuses_a_dn_that_belongs_to_someone_else(users):
    r = manage('user_auth', '--user', 'mallory', '--dn', ADMIN_DN)
    assert r.returncode != 0
    assert 'already belongs to jane' in r.stderr
    listing = user_auth('--list')
    assert 'mallory' not in listing


def test_a_grid_dn_with_domain_components_identifies_its_user(make_web, certs):
    # CERN-style grid certificates: /DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=123456/CN=John Doe
    dn = '/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=123456/CN=John Doe'
    cert = certs.issue('grid', dn)
    user_auth('--user', 'jdoe', '--dn', dn, '--role', 'admin', '--target', 'inventory')
    web = make_web(modules={'who.py': WHOAMI}, https=True)
    reply = web.as_(cert).get('/data/who/whoami')
    assert reply.status == 200, reply
    assert reply.json['data']['name'] == 'jdoe' and reply.json['data']['dn'] == dn
