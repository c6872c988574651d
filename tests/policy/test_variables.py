"""Every variable of the language gives its documented value on the crafted inventory."""
from pathlib import Path

import pytest

from policy import PLAIN, REPLICA_VARIABLES, SITE_VARIABLES, compile_condition
from tests.policy.conftest import NOW, replica_of

ROOT = Path(__file__).resolve().parents[2]

# /A/B/RAW at T2_A: b1 AnalysisOps complete (lu 30), b2 ops incomplete 20 B (lu 40)
EXPECTED_AT_T2_A = {
    'dataset.name': '/A/B/RAW',
    'dataset.status': 6,                     # VALID
    'dataset.data_type': 1,                  # UNKNOWN
    'dataset.is_open': False,
    'dataset.on_tape': 2,                    # PARTIAL: the tape copy has b1 only
    'dataset.on_tape_all_sites': 2,
    'dataset.size': 150,
    'dataset.last_update': 1000,
    'dataset.num_full_disk_copy': 1,         # T2_B (T2_A is incomplete, T3_W not ready)
    'dataset.num_full_disk_copy_all_sites': 1,
    'dataset.num_full_copy': 1,
    'dataset.release': '10_2_3_patch1',
    'replica.size': 120,
    'replica.incomplete': True,
    'replica.last_block_created': 40,
    'replica.first_block_created': 30,
    'replica.num_full_disk_copy_common_owner': 1,
    'replica.num_full_disk_copy_common_owner_all_sites': 1,
    'replica.num_full_other_copy_common_owner': 1,
    'replica.num_full_other_copy_common_owner_all_sites': 1,
    'blockreplica.is_last_transfer_source': {'b1': False, 'b2': False},
    'blockreplica.is_last_transfer_source_all_sites': {'b1': False, 'b2': False},
    'blockreplica.last_update': {'b1': 30, 'b2': 40},
    'blockreplica.owner': {'b1': 'AnalysisOps', 'b2': 'ops'},
    'blockreplica.num_full_disk_copy': {'b1': 4, 'b2': 2},
    'blockreplica.num_full_disk_copy_all_sites': {'b1': 4, 'b2': 2},
    'blockreplica.on_tape': {'b1': True, 'b2': False},
    'blockreplica.on_tape_all_sites': {'b1': True, 'b2': False},
    'blockreplica.size': {'b1': 100, 'b2': 20},
    'blockreplica.is_complete': {'b1': True, 'b2': False},
    'blockreplica.is_custodial': {'b1': False, 'b2': False},
    'blockreplica.name': {'b1': 'b1', 'b2': 'b2'},
    'site.name': 'T2_A',
    'site.status': 1,                        # READY
    'site.storage_type': 1,                  # DISK
}

# the Default partition at T2_A: 120 B of /A/B/RAW + 70 B of /C/D/AOD, quota 200 B
EXPECTED_SITE = {
    'site.name': 'T2_A', 'site.status': 1, 'site.storage_type': 1, 'site.occupancy': 0.95,
    'site.quota': 200, 'site.has_quota': True, 'site.usage': 190, 'never': False, 'always': True,
}


def _value(name, subject, context='replica'):
    condition = compile_condition(_reading(name, context), context, now=NOW)
    (ref,) = [v for v in condition.variables if v.name == name]
    return ref.value(subject)


def _reading(name, context):
    var = (SITE_VARIABLES if context == 'site' else REPLICA_VARIABLES)[name]
    if var.type.value == 'bool':
        return name
    if var.enum:
        return f'{name} != {next(iter(var.enum))}'
    return f'{name} != 12345'


def test_every_replica_variable_without_a_provider_has_a_tested_value():
    plain = {n for n, v in REPLICA_VARIABLES.items() if v.provider is None}
    assert plain == set(EXPECTED_AT_T2_A)


@pytest.mark.parametrize('name', sorted(EXPECTED_AT_T2_A))
def test_replica_variable_value(crafted, name):
    subject = PLAIN.subject(replica_of(crafted, '/A/B/RAW', 'T2_A'))
    assert _value(name, subject) == EXPECTED_AT_T2_A[name]


@pytest.mark.parametrize('name', sorted(EXPECTED_SITE))
def test_site_variable_value(crafted, name):
    sp = crafted.sites['T2_A'].partition('Default')
    assert _value(name, sp, 'site') == pytest.approx(EXPECTED_SITE[name])


def test_every_site_variable_has_a_tested_value():
    assert set(SITE_VARIABLES) == set(EXPECTED_SITE)


def test_last_transfer_source_is_the_only_complete_ready_disk_copy_feeding_a_transfer(crafted):
    # b2 at T2_B: T2_A is still copying it and the other complete copy (T3_W) is not ready
    subject = PLAIN.subject(replica_of(crafted, '/A/B/RAW', 'T2_B'))
    assert _value('blockreplica.is_last_transfer_source', subject) == {'b1': False, 'b2': True}


def test_a_quota_of_zero_puts_a_site_over_any_watermark_and_has_quota_says_so(crafted):
    sp = crafted.sites['T2_B'].partition('Default')   # no quota set
    assert compile_condition('site.occupancy > 0.9', 'site').match(sp)
    assert not compile_condition('site.has_quota and site.occupancy > 0.9', 'site').match(sp)


def test_an_unlimited_quota_gives_zero_occupancy(crafted):
    sp = crafted.sites['T2_B'].partition('Default')
    sp.set_quota(-1)
    assert _value('site.occupancy', sp, 'site') == 0


def test_owner_of_the_null_group_reads_as_None(crafted):
    inv = crafted
    br = replica_of(inv, '/C/D/AOD', 'T2_A').block_replicas[0]
    from inventory.objects import BlockReplica
    released = BlockReplica(br.block, br.site, inv.null_group)
    assert compile_condition('blockreplica.owner == None', 'blockreplica').match(released)
    assert not compile_condition('blockreplica.owner != None', 'blockreplica').match(released)


def test_every_variable_is_documented_with_its_type():
    doc = (ROOT / 'docs' / 'policies.md').read_text()
    for name, var in list(REPLICA_VARIABLES.items()) + list(SITE_VARIABLES.items()):
        assert f'`{name}` | {var.type.value}' in doc, name
