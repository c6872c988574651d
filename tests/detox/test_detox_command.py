"""`manage.py detox` against a running server on the crafted inventory (three sites with quotas, a
dozen datasets of known sizes and ages, a lock in the lock store): the exact decisions, a test run
that changes nothing, determinism, a real run that leaves every triggered site below its Until
with the deleted replicas in the null group and a deletion request each, the safety valve, the
warnings for lines that never matched, --check and --explain."""
import pytest

from detox import services
from tests.detox.conftest import LOCKER_DN, build_crafted, persist
from tests.detox.test_cycle import EXPECTED, POLICY
from tests.support import table_dump

pytestmark = pytest.mark.django_db(transaction=True)
NOW = '2019-06-02T00:00:00Z'
INVENTORY_TABLES = ('dyn_sites', 'dyn_quotas', 'dyn_groups', 'dyn_datasets', 'dyn_blocks', 'dyn_dataset_replicas',
                    'dyn_block_replicas', 'dyn_block_replica_files', 'dyn_change_sets', 'dyn_partitions')


@pytest.fixture
def crafted_server(serve, tmp_path):
    """The crafted inventory served; /Locked/X/AOD#l1 locked at T2_A; the test's policy in a file."""
    persist(build_crafted())
    services.lock_create(user='detox-user', items=['/Locked/X/AOD#l1'], sites=['T2_A'], comment='analysis')
    server = serve()
    server.policy = tmp_path / 'detox.txt'
    server.policy.write_text(POLICY)
    return server


def rows(server, cycle='latest', **filters):
    return [(d['site'], d['dataset'], d['decision'], tuple(d['blocks']) if d['blocks'] else None, d['size'], d['line'])
            for d in server.data('detox/decisions', cycle=cycle, **filters)]


def inventory_tables():
    dump = table_dump()
    return {table: dump[table] for table in INVENTORY_TABLES}


def deletion_records():
    from transfers.models import BlockDeletion
    return sorted(BlockDeletion.objects.values_list('site', 'dataset', 'block', 'state', 'origin', 'origin_id'))


def test_a_test_run_decides_exactly_as_expected_and_changes_nothing(crafted_server):
    # given
    server = crafted_server
    before, quotas = inventory_tables(), server.data('inventory/quotas', partition='Default')
    # when
    r = server.detox('--policy', str(server.policy), '--test-run', '--now', NOW, '--comment', 'dry')
    # then
    assert r.returncode == 0, r.stdout + r.stderr
    assert rows(server) == EXPECTED
    assert server.data('detox/decisions', cycle='latest', site='T2_B', dataset='/Locked/*/*') == [
        {'site': 'T2_B', 'dataset': '/Locked/X/AOD', 'decision': 'keep', 'blocks': None, 'size': 100, 'line': 11,
         'text': 'DismissBlock blockreplica.last_update older_than 200 days ago'}]
    assert inventory_tables() == before and deletion_records() == []
    assert server.data('inventory/quotas', partition='Default') == quotas
    cycle = server.data('detox/cycle', id='latest')
    assert (cycle['test'], cycle['state'], cycle['comment'], cycle['partition']) == (True, 'test', 'dry', 'Default')
    assert cycle['num_decisions'] == len(EXPECTED) and cycle['num_deletions'] == 0
    # the summary: sites triggered, quota, occupancy before -> after, bytes protected / kept / deleted
    out = r.stdout
    assert f'Detox cycle {cycle["id"]} (test run) of partition Default: test' in out
    assert 'sites triggered: T2_A (1 of 2)' in out
    assert '* T2_A      1.00 kB       92.0 % ->     64.0 %        490 B        150 B        280 B' in out
    assert '  T2_B      1.00 kB       70.0 % ->     66.0 %        560 B        100 B         40 B' in out
    assert 'would hand 7 block replicas (320 B) to the null group and 1 to new owners; nothing was changed' in out
    assert 'a real run would stop before its commit: the cycle would delete 320 B of the 1620 B' in out
    assert 'time taken:' in out


def test_two_test_runs_on_the_same_state_give_identical_decision_rows(crafted_server):
    server = crafted_server
    for _ in range(2):
        r = server.detox('--policy', str(server.policy), '--test-run', '--now', NOW)
        assert r.returncode == 0, r.stdout + r.stderr
    second, first = [c['id'] for c in server.data('detox/cycles')]
    assert server.data('detox/decisions', cycle=first) == server.data('detox/decisions', cycle=second)
    assert len(server.data('detox/decisions', cycle=first)) == len(EXPECTED)
    assert server.data('detox/cycle', id=first)['sites'] == server.data('detox/cycle', id=second)['sites']


def test_a_real_run_hands_the_deleted_replicas_to_the_null_group_with_a_deletion_request_each(crafted_server):
    # given
    server = crafted_server
    # when
    r = server.detox('--policy', str(server.policy), '--now', NOW, '--max-cycle-fraction', '0.25')
    # then
    assert r.returncode == 0, r.stdout + r.stderr
    assert '7 block replicas (320 B) handed to the null group, a deletion request each; 1 handed over' in r.stdout
    cycle = server.data('detox/cycle', id='latest')
    assert (cycle['state'], cycle['num_deletions'], cycle['num_handovers'], cycle['num_skipped']) == \
        ('committed', 7, 1, 0)
    assert rows(server) == EXPECTED
    # every triggered site is below its Until (site.occupancy < 0.7) in the served image
    quotas = {q['site']: q for q in server.data('inventory/quotas', partition='Default')}
    for site in cycle['sites']:
        if site['triggered']:
            assert quotas[site['site']]['occupancy'] < 0.7 and quotas[site['site']]['usage'] == site['usage_after']
    assert quotas['T2_A']['usage'] == 640 and quotas['T2_B']['usage'] == 660
    # the deleted block replicas are still there, owned by the null group
    replicas = {(b['dataset'] + '#' + b['block'], r['site']): r['group']
                for b in server.data('inventory/blockreplicas', dataset='/*/X/AOD') for r in b['replicas']}
    deleted = [('/Bad/X/AOD#b1', 'T2_A'), ('/Bad/X/AOD#b1', 'T2_B'), ('/Local/X/AOD#o1', 'T2_A'),
               ('/Old1/X/AOD#p1', 'T2_A'), ('/Old1/X/AOD#p2', 'T2_A'), ('/Old2/X/AOD#q1', 'T2_A'),
               ('/Shared/X/AOD#s1', 'T2_A')]
    assert all(replicas[key] is None for key in deleted)
    assert replicas[('/Local/X/AOD#o2', 'T2_A')] == 'local'
    assert replicas[('/Handed/X/AOD#h2', 'T2_A')] == 'AnalysisOps'          # handed over, not deleted
    # and a deletion request per block replica, naming the cycle and the line that decided
    records = deletion_records()
    assert [(site, item) for site, dataset, block, *_ in records for item in [f'{dataset}#{block}']] == \
        sorted((site, item) for item, site in deleted)
    assert {(state, origin, origin_id) for *_, state, origin, origin_id in records} == {('new', 'detox', cycle['id'])}
    from transfers.models import BlockDeletion
    assert BlockDeletion.objects.get(site='T2_A', block='o1').reason == \
        f'detox cycle {cycle["id"]}, line 8: DeleteBlock blockreplica.owner == local and blockreplica.last_update ' \
        f'older_than 400 days ago'


def test_the_safety_valve_stops_a_real_run_and_says_why_unless_forced(crafted_server):
    # given
    server = crafted_server
    before = inventory_tables()
    # when
    r = server.detox('--policy', str(server.policy), '--now', NOW)
    # then
    assert r.returncode == 3, r.stdout + r.stderr
    assert ('stopped before the commit: the cycle would delete 320 B of the 1620 B of partition Default at its '
            'target sites (19.8%), more than max_cycle_fraction (10.0%); nothing is committed') in r.stdout
    assert inventory_tables() == before and deletion_records() == []
    cycle = server.data('detox/cycle', id='latest')
    assert cycle['state'] == 'stopped' and 'more than max_cycle_fraction' in cycle['stop_reason']
    # when forced
    r = server.detox('--policy', str(server.policy), '--now', NOW, '--force')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'committed anyway (force)' in r.stdout and len(deletion_records()) == 7


def test_lines_that_never_matched_are_warnings(crafted_server):
    server = crafted_server
    server.policy.write_text(POLICY.replace('Protect replica.incomplete\n',
                                            'Protect replica.incomplete\nDelete dataset.name == /Nope/*/*\n'))
    r = server.detox('--policy', str(server.policy), '--test-run', '--now', NOW)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"warning: {server.policy}:10: 'Delete dataset.name == /Nope/*/*' never matched" in r.stdout
    assert any('never matched' in w for w in server.data('detox/cycle', id='latest')['warnings'])


def test_check_parses_against_the_loaded_partitions_and_lists_missing_providers(crafted_server, tmp_path):
    server = crafted_server
    r = server.detox('--policy', str(server.policy), '--check')
    assert r.returncode == 0 and 'valid; partition Default, 8 policy lines' in r.stdout, r.stdout + r.stderr
    popular = tmp_path / 'popular.txt'
    popular.write_text(POLICY.replace('Protect\n', 'Protect dataset.last_access > 30 days ago\nProtect\n'))
    r = server.detox('--policy', str(popular), '--check')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'warning: a test or real run fails until a provider of dataset.last_access is configured' in r.stdout
    # ... and a run refuses it, saying why
    r = server.detox('--policy', str(popular), '--test-run', '--now', NOW)
    assert r.returncode != 0 and 'dataset.last_access needs an attribute provider' in r.stderr
    other = tmp_path / 'other.txt'
    other.write_text(POLICY.replace('Partition Default', 'Partition Physics'))
    r = server.detox('--policy', str(other), '--check')
    assert r.returncode == 2 and 'partition Physics is not loaded (known: Default' in r.stderr
    broken = tmp_path / 'broken.txt'
    broken.write_text(POLICY.replace('replica.incomplete', 'replica.incomplet'))
    r = server.detox('--policy', str(broken), '--check')
    assert r.returncode == 2 and "unknown variable 'replica.incomplet' (did you mean replica.incomplete?)" in r.stderr


def test_explain_names_the_deciding_line_and_every_value_read(crafted_server):
    server = crafted_server
    assert server.detox('--policy', str(server.policy), '--test-run', '--now', NOW).returncode == 0
    r = server.detox('--explain', 'T2_A', '/Locked/X/AOD')
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    cycle = server.data('detox/cycle', id='latest')['id']
    assert lines[:3] == [f'cycle {cycle} (test, ' + lines[0].split('(test, ')[1],
                         '  protect l1 (50 B) by line 7: ProtectBlock blockreplica.is_locked',
                         '  protect l2 (50 B) by line 10: Protect replica.num_full_disk_copy_common_owner < 2']
    assert '  7: ProtectBlock blockreplica.is_locked  -> matched (l1)' in lines
    assert '      blockreplica.is_locked = {l1: True, l2: False}' in lines        # the lock store's lock
    assert '      replica.num_full_disk_copy_common_owner = 1' in lines
    r = server.detox('--explain', 'T1_X', '/Locked/X/AOD', '--policy', str(server.policy), '--now', NOW)
    assert r.returncode == 0 and 'not considered: the site is not a target of the policy' in r.stdout, \
        r.stdout + r.stderr


def test_a_lock_made_through_the_web_protects_in_the_next_cycle(crafted_server):
    # given: /Old2/X/AOD at T2_A, deleted by line 12 without a lock
    server = crafted_server
    reply = server.post('detox/lock/lock', {'item': ['/Old2/X/AOD'], 'sites': ['T2_A'], 'comment': 'keep it',
                                            'expires': '2 weeks'}, LOCKER_DN)
    assert reply.status == 200, reply.text
    lock = reply.json['data'][0]
    assert (lock['item'], lock['sites'], lock['user'], lock['state']) == ('/Old2/X/AOD', 'T2_A', 'detox-user', 'locked')
    # when
    assert server.detox('--policy', str(server.policy), '--test-run', '--now', NOW).returncode == 0
    # then
    assert rows(server, site='T2_A', dataset='/Old2/X/AOD') == [('T2_A', '/Old2/X/AOD', 'protect', None, 60, 7)]
    listed = server.data('detox/lock', item='/Old2/*')
    assert [entry['id'] for entry in listed] == [lock['id']]
    # anonymous callers and callers without a detox role may not lock
    assert server.client.post('/data/detox/lock/lock', json_body={'item': ['/A/B/C']}).status == 401
    reply = server.post('detox/lock/unlock', {'id': [lock['id']]}, LOCKER_DN)
    assert reply.status == 200 and reply.json['data'][0]['state'] == 'unlocked'
    assert server.data('detox/lock', item='/Old2/*') == []


def test_the_detox_answers_follow_their_declared_schemas(crafted_server):
    from jsonschema import Draft202012Validator
    server = crafted_server
    assert server.detox('--policy', str(server.policy), '--now', NOW, '--force').returncode == 0
    spec = server.client.get('/data/openapi.json').json
    checked = []
    for path in ('/data/detox/cycles', '/data/detox/cycle', '/data/detox/decisions', '/data/detox/lock',
                 '/data/detox/lock/list'):
        operation = spec['paths'][path]['get']
        assert 'x-undeclared' not in operation, path
        reply = server.client.get(path)
        assert reply.status == 200, (path, reply.text)
        schema = operation['responses']['200']['content']['application/json']['schema']
        errors = [f'{list(e.absolute_path)}: {e.message}' for e in Draft202012Validator(schema).iter_errors(reply.json)]
        assert errors == [], (path, errors[:5])
        checked.append(path)
    assert spec['paths']['/data/detox/lock/lock']['post']['requestBody']
    assert len(checked) == 5


def test_a_cycle_leaves_a_usage_sample_of_the_sites_as_it_left_them(crafted_server):
    # given
    server = crafted_server
    # when
    r = server.detox('--policy', str(server.policy), '--now', NOW, '--max-cycle-fraction', '0.25')
    # then the usage history has a point from the cycle, after its deletions
    assert r.returncode == 0, r.stdout + r.stderr
    from usage.models import UsageSample
    samples = {(s.site, s.partition): s.usage for s in UsageSample.objects.filter(source='detox')}
    assert samples[('T2_A', 'Default')] == 640 and samples[('T2_B', 'Default')] == 660
