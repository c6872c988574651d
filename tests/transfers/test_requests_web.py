"""Copy and deletion requests through the web of a real server, as the original client sends them
(form-encoded POST with item[]/site[]) and as JSON; identity by the trusted proxy's DN header."""
import pytest

from accounts.services import user_grant
from tests.dealer.conftest import ELE_MINI, HOT, MUON_AOD, MUON_MINI, build
from tests.support import apply, load_image
from tests.webmodules.helpers import Client
from transfers.models import CopyRequest

pytestmark = pytest.mark.e2e

ALICE = '/DC=test/CN=alice'        # no role: may ask for copies
BOB = '/DC=test/CN=bob'            # user on target request: may ask for deletions
ROOT = '/DC=test/CN=root admin'    # admin on target request
STRANGER = '/DC=test/CN=nobody we know'


@pytest.fixture
def web(start_server):
    apply(load_image(), builder=build)
    user_grant(username='alice', dn=ALICE)
    user_grant(username='bob', dn=BOB, role='user', target='request')
    user_grant(username='root-admin', dn=ROOT, role='admin', target='request')
    server = start_server(env={'DYNAMO_WEB_DN_HEADER': 'X-DN'})
    return Client(server.url)


def post(web, path, dn=ALICE, **kw):
    return web.post(f'/data/request/{path}', headers={'X-DN': dn} if dn else {}, **kw)


def ok(reply):
    assert reply.status == 200 and reply.json['result'] == 'OK', reply
    return reply.json['data']


def test_a_form_post_as_the_original_client_sends_it_creates_a_request(web):
    reply = post(web, 'copy', form={'item[]': [MUON_MINI, f'{MUON_AOD}#b001'], 'site[]': ['T2_US_*'], 'n': '1',
                                    'group': 'DataOps', 'comment': 'for the analysis'})
    (record,) = ok(reply)
    assert reply.json['message'] == f'copy request {record["request_id"]} created'
    assert (record['item'], record['site'], record['group'], record['n'], record['status'], record['user']) == \
        ([MUON_MINI, f'{MUON_AOD}#b001'], ['T2_US_A', 'T2_US_B'], 'DataOps', 1, 'new', 'alice')
    assert record['site_patterns'] == ['T2_US_*'] and record['request_count'] == 1 and record['actions'] == []


def test_a_json_body_works_the_same_and_the_dedup_rule_reuses_a_containing_request(web):
    (first,) = ok(post(web, 'copy', json_body={'item': [MUON_MINI, ELE_MINI], 'site': ['T2_US_A', 'T2_DE_C'],
                                               'n': 2}))
    # a request whose lists are contained in the first one's: the first is asked again (its count rises)
    reply = post(web, 'copy', dn=BOB, form={'item': ELE_MINI, 'site': 'T2_DE_C'})
    (again,) = ok(reply)
    assert again['request_id'] == first['request_id'] and again['request_count'] == 2
    assert reply.json['message'] == f'copy request {first["request_id"]} duplicate'
    # not contained (another site): a new request
    (other,) = ok(post(web, 'copy', form={'item': ELE_MINI, 'site': 'T2_IT_D'}))
    assert other['request_id'] != first['request_id'] and CopyRequest.objects.count() == 2


def test_a_new_request_can_be_updated_by_its_owner_only(web):
    (record,) = ok(post(web, 'copy', form={'item': HOT, 'site': 'T2_US_A'}))
    rid = record['request_id']
    (updated,) = ok(post(web, 'copy', form={'request_id': str(rid), 'item[]': [HOT, MUON_MINI], 'site': 'T2_US_B',
                                            'n': '0'}))
    assert (updated['request_id'], updated['item'], updated['site'], updated['n']) == (rid, [HOT, MUON_MINI],
                                                                                      ['T2_US_B'], 0)
    reply = post(web, 'copy', dn=BOB, form={'request_id': str(rid), 'item': HOT, 'site': 'T2_US_B'})
    assert reply.status == 403 and 'belongs to alice' in reply.json['message']


def test_poll_by_id_item_site_status_and_user(web):
    (a,) = ok(post(web, 'copy', form={'item': HOT, 'site': 'T2_US_A'}))
    (b,) = ok(post(web, 'copy', dn=BOB, form={'item': f'{MUON_AOD}#b000', 'site': 'T2_DE_C'}))

    def ids(**params):
        return [r['request_id'] for r in ok(web.get('/data/request/pollcopy', params=params))]
    assert ids(request_id=a['request_id']) == [a['request_id']]
    assert ids(item=MUON_AOD) == [b['request_id']]              # a dataset finds the requests of its blocks
    assert ids(item='/Hot/*') == [a['request_id']]
    assert ids(site='T2_US_*') == [a['request_id']] and ids(site='T2_DE_C') == [b['request_id']]
    assert ids(user='bob') == [b['request_id']] and ids(status='new') == [b['request_id'], a['request_id']]
    assert ids(status='completed') == []
    reply = web.get('/data/request/pollcopy', params={'limit': '1'})
    assert [r['request_id'] for r in ok(reply)] == [b['request_id']]
    assert reply.json['message'] == 'the newest 1 matching requests from 0; more with offset=1'
    assert ids(limit='1', offset='1') == [a['request_id']]
    reply = web.get('/data/request/pollcopy', params={'status': 'finished'})
    assert reply.status == 400 and 'unknown status finished' in reply.json['message']


def test_cancel_by_the_owner_or_an_operator_not_by_others(web):
    (a,) = ok(post(web, 'copy', form={'item': HOT, 'site': 'T2_US_A'}))
    reply = post(web, 'cancelcopy', dn=BOB, form={'request_id': str(a['request_id'])})
    assert reply.status == 403, reply
    (cancelled,) = ok(post(web, 'cancelcopy', form={'request_id': str(a['request_id'])}))
    assert (cancelled['status'], cancelled['reason']) == ('cancelled', 'cancelled by alice')
    reply = post(web, 'cancelcopy', form={'request_id': str(a['request_id'])})
    assert reply.status == 400 and 'is cancelled' in reply.json['message']


@pytest.mark.parametrize('path', ['copy', 'cancelcopy', 'delete'])
def test_anonymous_callers_get_401_and_unknown_ones_403(web, path):
    form = {'item': HOT, 'site': 'T2_US_A', 'request_id': '1'}
    assert post(web, path, dn=None, form=form).status == 401
    assert post(web, path, dn=STRANGER, form=form).status == 403
    assert CopyRequest.objects.count() == 0


@pytest.mark.parametrize('form, message', [
    ({'item': '/No/Such-v1/AOD', 'site': 'T2_US_A'}, 'unknown dataset /No/Such-v1/AOD'),
    ({'item': f'{HOT}#nope', 'site': 'T2_US_A'}, f'unknown block {HOT}#nope'),
    ({'item': HOT, 'site': 'T2_XX_Nowhere'}, 'unknown site T2_XX_Nowhere'),
    ({'item': HOT, 'site': 'T9_*'}, 'no site matches T9_*'),
    ({'item': HOT, 'site': 'T2_US_A', 'group': 'Nobody'}, 'unknown group Nobody'),
    ({'item': HOT, 'site': 'T2_US_A', 'n': 'two'}, 'parameter "n" has an invalid value'),
    ({'site': 'T2_US_A'}, 'missing required parameter "item"'),
    ({'item': 'not-a-dataset', 'site': 'T2_US_A'}, "invalid item 'not-a-dataset'"),
])
def test_bad_requests_are_400_naming_what_is_wrong(web, form, message):
    reply = post(web, 'copy', form=form)
    assert reply.status == 400 and message in reply.json['message'], reply
    assert CopyRequest.objects.count() == 0


def test_deletions_need_a_role_and_last_copies_need_an_admin(web):
    form = {'item': HOT, 'site': 'T1_CH_Disk'}
    reply = post(web, 'delete', dn=ALICE, form=form)
    assert reply.status == 403 and 'needs a role' in reply.json['message']
    reply = post(web, 'delete', dn=BOB, form=dict(form, allow_last_copy='yes'))
    assert reply.status == 403 and 'admin role' in reply.json['message']
    (record,) = ok(post(web, 'delete', dn=BOB, json_body={'item': [HOT], 'site': ['T1_CH_Disk']}))
    assert (record['status'], record['item'], record['site'], record['allow_last_copy']) == \
        ('new', [HOT], ['T1_CH_Disk'], False)
    (admin,) = ok(post(web, 'delete', dn=ROOT, form=dict(form, allow_last_copy='yes')))
    assert admin['allow_last_copy'] and admin['request_id'] != record['request_id']
    polled = ok(web.get('/data/request/polldelete', params={'user': 'bob'}))
    assert [r['request_id'] for r in polled] == [record['request_id']]


def test_a_get_never_creates_or_cancels_anything(web):
    from urllib.parse import urlencode
    for path, params in (('copy', {'item': HOT, 'site': 'T2_US_A'}), ('delete', {'item': HOT, 'site': 'T2_US_A'}),
                         ('cancelcopy', {'request_id': '1'})):
        reply = web.get(f'/data/request/{path}?{urlencode(params)}', headers={'X-DN': ROOT})
        assert reply.status == 405 and 'send a POST request' in reply.json['message'], reply
    assert CopyRequest.objects.count() == 0
