"""Partitions and quotas: the arithmetic of §1.4 (a superpartition's quota is the sum, 0 allows
nothing, negative is unlimited), dynamo_partitions --check/--load/--list and set_quota through the
write path (with no server, and queued for a running one), /data/inventory/quotas and setquota,
group names with spaces."""
import json

import pytest

from detox import partitions
from detox.partitions import QuotaChange, State
from policy import parse_partitions
from tests.conftest import manage
from tests.detox.conftest import ADMIN_DN, LOCKER_DN
from tests.support import load_image

DEMO_PARTITIONS = 'inventory/fixtures/partitions.txt'
MIT, CERN = 'T2_US_MIT', 'T1_CH_CERN_Disk'


def demo_state(quotas=None):
    return State({'Default': ('blockreplica.owner != None', None), 'AnalysisOps': ('blockreplica.owner == AnalysisOps', None),
                  'DataOps': ('blockreplica.owner == DataOps', None), 'Physics': (None, ('AnalysisOps', 'DataOps'))},
                 quotas or {}, [CERN, MIT])


# ------------------------------------------------------------------------------------- arithmetic
def test_a_superpartition_quota_is_the_sum_and_an_unlimited_subpartition_makes_it_unlimited():
    state = demo_state({(MIT, 'AnalysisOps'): 30, (MIT, 'DataOps'): 10, (CERN, 'AnalysisOps'): -1,
                        (CERN, 'DataOps'): 10})
    assert state.quota(MIT, 'Physics') == 40 and state.quota(CERN, 'Physics') == -1
    assert state.quota(MIT, 'Default') == 0


def test_a_volume_for_a_superpartition_is_shared_in_proportion_and_exactly():
    state = demo_state({(MIT, 'AnalysisOps'): 30, (MIT, 'DataOps'): 10})
    changes = partitions.quota_changes(state, sites=[MIT, CERN], partition='Physics', volume=101)
    assert changes == [QuotaChange(MIT, 'AnalysisOps', 30, 75), QuotaChange(MIT, 'DataOps', 10, 26),
                       QuotaChange(CERN, 'AnalysisOps', 0, 50), QuotaChange(CERN, 'DataOps', 0, 51)]  # equal parts
    assert partitions.quota_changes(state, sites=[MIT], partition='Physics', scale=0.5) == [
        QuotaChange(MIT, 'AnalysisOps', 30, 15), QuotaChange(MIT, 'DataOps', 10, 5)]
    assert partitions.quota_changes(state, sites=[MIT], partition='Physics', volume=-1) == [
        QuotaChange(MIT, 'AnalysisOps', 30, -1), QuotaChange(MIT, 'DataOps', 10, -1)]
    assert partitions.quota_changes(state, sites=[MIT], partition='Physics', volume=0) == [
        QuotaChange(MIT, 'AnalysisOps', 30, 0), QuotaChange(MIT, 'DataOps', 10, 0)]
    with pytest.raises(ValueError, match='AnalysisOps has no limit'):
        partitions.quota_changes(demo_state({(MIT, 'AnalysisOps'): -1}), sites=[MIT], partition='Physics',
                                 volume=10)
    with pytest.raises(ValueError, match="no partition 'Nope'"):
        partitions.quota_changes(state, sites=[MIT], partition='Nope', volume=1)


def test_a_changed_partition_is_made_again_with_its_quotas_and_the_superpartitions_above_it():
    state = demo_state({(MIT, 'AnalysisOps'): 30, (MIT, 'Default'): 5})
    text = open(DEMO_PARTITIONS).read().replace('blockreplica.owner == AnalysisOps',
                                                 'blockreplica.owner == AnalysisOps and site.name == T2_*')
    changes = partitions.partition_operations(state, parse_partitions(text))
    assert (changes.changed, changes.rebuilt, changes.unchanged, changes.quotas_kept) == \
        (['AnalysisOps'], ['Physics'], ['Default', 'DataOps'], 1)
    assert [(op, d['_t'], d.get('name', d.get('partition'))) for op, d in changes.operations] == [
        ('d', 'Partition', 'Physics'), ('d', 'Partition', 'AnalysisOps'), ('u', 'Partition', 'AnalysisOps'),
        ('u', 'SitePartition', 'AnalysisOps'), ('u', 'Partition', 'Physics')]
    unchanged = partitions.partition_operations(state, parse_partitions(open(DEMO_PARTITIONS).read()))
    assert unchanged.operations == [] and unchanged.unchanged == ['Default', 'AnalysisOps', 'DataOps', 'Physics']
    pruned = partitions.partition_operations(state, parse_partitions('Default: blockreplica.owner != None\n'),
                                             prune=True)
    assert pruned.removed == ['AnalysisOps', 'DataOps', 'Physics']
    kept = partitions.partition_operations(state, parse_partitions('Default: blockreplica.owner != None\n'))
    assert kept.operations == [] and kept.kept == ['AnalysisOps', 'DataOps', 'Physics']


# ------------------------------------------------------------------------------------- commands
@pytest.mark.django_db(transaction=True)
def test_loading_partitions_and_quotas_with_no_server_running(tmp_path):
    # given
    assert manage('dynamo_inject', 'inventory/fixtures/demo.json').returncode == 0
    # when
    r = manage('dynamo_partitions', '--check', DEMO_PARTITIONS)
    assert r.returncode == 0 and 'added: AnalysisOps, DataOps, Physics' in r.stdout, r.stdout + r.stderr
    r = manage('dynamo_partitions', '--load', DEMO_PARTITIONS)
    assert r.returncode == 0 and 'applied as change set' in r.stdout, r.stdout + r.stderr
    r = manage('set_quota', '--site', 'T2_*', '--partition', 'Physics', '--volume', '12GB')
    assert r.returncode == 0, r.stdout + r.stderr
    assert f'{MIT:24} AnalysisOps      0 (nothing allowed) -> 6.00 GB (6000000000 B)' in r.stdout
    r = manage('set_quota', '--site', MIT, '--partition', 'Default', '--volume', '1 TiB')
    assert r.returncode == 0 and '1.10 TB (1099511627776 B)' in r.stdout, r.stdout + r.stderr
    # then: the memberships and quotas, as a reload of the store sees them
    inv = load_image()
    mit = inv.sites[MIT]
    assert mit.partition('AnalysisOps').usage() == 9 * 10 ** 9 and mit.partition('DataOps').usage() == 0
    assert mit.partition('Physics').quota == 12 * 10 ** 9 and mit.partition('Default').quota == 2 ** 40
    assert inv.sites[CERN].partition('DataOps').usage() == 11.5 * 10 ** 9
    r = manage('dynamo_partitions', '--list')
    assert r.stdout.splitlines() == ['Default      blockreplica.owner != None   (1 quotas set)',
                                     'AnalysisOps  blockreplica.owner == AnalysisOps   (1 quotas set)',
                                     'DataOps      blockreplica.owner == DataOps   (1 quotas set)',
                                     'Physics      [AnalysisOps, DataOps]']
    r = manage('set_quota', '--dump', '--site', MIT, '--partition', 'Physics')
    assert r.stdout.strip() == f'{MIT:24} Physics          12.00 GB (12000000000 B) (sum of AnalysisOps, DataOps)'
    # a file with a mistake says where
    bad = tmp_path / 'bad.txt'
    bad.write_text('AnalysisOps: blockreplica.owner == AnalysisOps\nPhysics: [AnalysisOps, Nope]\n')
    r = manage('dynamo_partitions', '--check', str(bad))
    assert r.returncode != 0 and f"{bad}:2:24: unknown subpartition 'Nope' of Physics" in r.stderr
    r = manage('set_quota', '--site', MIT, '--partition', 'Physics', '--volume', '2 TX')
    assert r.returncode != 0 and "unknown size unit 'TX'" in r.stderr


@pytest.mark.django_db(transaction=True)
def test_a_running_server_applies_partitions_and_quotas_and_serves_them(serve, tmp_path):
    # given
    assert manage('dynamo_inject', 'inventory/fixtures/demo.json').returncode == 0
    server = serve()
    # when: the commands queue their change sets for the server
    r = server.manage('dynamo_partitions', '--load', DEMO_PARTITIONS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert server.manage('set_quota', '--site', MIT, '--partition', 'AnalysisOps', '--volume', '10GB').returncode == 0
    # then
    rows = {(q['site'], q['partition']): q for q in server.data('inventory/quotas')}
    assert rows[MIT, 'AnalysisOps'] == {'site': MIT, 'partition': 'AnalysisOps', 'quota': 10 ** 10,
                                        'usage': 9 * 10 ** 9, 'projected_usage': 10500000000, 'occupancy': 0.9,
                                        'subpartitions': None}
    assert rows[MIT, 'Physics']['quota'] == 10 ** 10 and rows[MIT, 'Physics']['subpartitions'] == ['AnalysisOps', 'DataOps']
    assert rows[CERN, 'Default']['occupancy'] is None                  # no quota
    # the write endpoint, for admins of the inventory
    reply = server.post('inventory/setquota', {'site': 'T1_*', 'partition': 'DataOps', 'volume': '23 GB'}, ADMIN_DN)
    assert reply.status == 200, reply.text
    assert reply.json['data'] == [{'site': CERN, 'partition': 'DataOps', 'old': 0, 'new': 23 * 10 ** 9}]
    assert server.data('inventory/quotas', site=CERN, partition='DataOps')[0]['occupancy'] == 0.5
    assert server.post('inventory/setquota', {'site': 'T1_*', 'partition': 'DataOps', 'scale': 2},
                       LOCKER_DN).status == 403
    # a changed definition is applied at once and survives a restart (conditions compiled at load)
    text = open(DEMO_PARTITIONS).read().replace('blockreplica.owner == AnalysisOps',
                                                 'blockreplica.owner == AnalysisOps and site.name == T1_*')
    (tmp_path / 'parts.txt').write_text(text)
    r = server.manage('dynamo_partitions', '--load', str(tmp_path / 'parts.txt'))
    assert r.returncode == 0 and 'changed: AnalysisOps' in r.stdout and 'rebuilt: Physics' in r.stdout, r.stdout
    after = server.data('inventory/quotas', site=MIT, partition='AnalysisOps')[0]
    assert (after['usage'], after['quota']) == (0, 10 ** 10)          # the quota is kept
    server.server.stop()
    again = serve()
    assert again.data('inventory/quotas', site=MIT, partition='AnalysisOps')[0]['usage'] == 0
    assert again.data('inventory/quotas', site=CERN, partition='DataOps')[0]['usage'] == 11.5 * 10 ** 9


@pytest.mark.django_db(transaction=True)
def test_a_group_name_with_a_space_works_in_a_partition_condition(tmp_path):
    doc = {'group': [{'name': 'IB RelVal'}], 'site': [{'name': 'T2_CH_CERN', 'storage_type': 'disk'}],
           'dataset': [{'name': '/RelValTTbar/CMSSW_14_0_0-v1/GEN-SIM', 'blocks': [
               {'name': 'b1', 'files': [{'name': '/store/relval/ttbar/1.root', 'size': 1000}]}]}],
           'datasetreplica': [{'dataset': '/RelValTTbar/CMSSW_14_0_0-v1/GEN-SIM', 'site': 'T2_CH_CERN',
                               'group': 'IB RelVal'}]}
    (tmp_path / 'relval.json').write_text(json.dumps(doc))
    r = manage('dynamo_inject', str(tmp_path / 'relval.json'))
    assert r.returncode == 0, r.stdout + r.stderr
    (tmp_path / 'parts.txt').write_text('Default: blockreplica.owner != None\n'
                                        'RelVal: blockreplica.owner == IB RelVal\n')
    assert manage('dynamo_partitions', '--load', str(tmp_path / 'parts.txt')).returncode == 0
    assert load_image().sites['T2_CH_CERN'].partition('RelVal').usage() == 1000


@pytest.mark.django_db(transaction=True)
def test_the_demo_comes_with_partitions_and_quotas():
    r = manage('dynamo_demo', env={'DYNAMO_ADMIN_PASSWORD': 'demo-password'})
    assert r.returncode == 0 and 'Partitions Default, AnalysisOps, DataOps, Physics and 6 quotas loaded' in r.stdout, \
        r.stdout + r.stderr
    inv = load_image()
    occupancy = {(site, p.name): round(sp.occupancy_fraction(), 3) for site in (MIT, CERN)
                 for p, sp in inv.sites[site].partitions.items()}
    assert occupancy == {(MIT, 'Default'): 0.9, (MIT, 'AnalysisOps'): 0.9, (MIT, 'DataOps'): 0.0,
                         (MIT, 'Physics'): 0.75, (CERN, 'Default'): 0.575, (CERN, 'AnalysisOps'): 0.0,
                         (CERN, 'DataOps'): 0.767, (CERN, 'Physics'): 0.575}
