"""Operators, and/or/not and parentheses, list-valued left sides, enum names, patterns."""
import pytest

from inventory.objects import BlockReplica, Group
from policy import PLAIN, compile_condition
from tests.policy.conftest import NOW, replica_of


@pytest.fixture
def at_t2_a(crafted):
    """The subject /A/B/RAW at T2_A: 120 B, b1 AnalysisOps complete, b2 ops incomplete."""
    return PLAIN.subject(replica_of(crafted, '/A/B/RAW', 'T2_A'))


def holds(text, subject, context='replica'):
    return compile_condition(text, context, now=NOW).match(subject)


@pytest.mark.parametrize('text, expected', [
    ('replica.size == 120', True), ('replica.size == 121', False),
    ('replica.size != 121', True), ('replica.size != 120', False),
    ('replica.size < 121', True), ('replica.size < 120', False),
    ('replica.size > 119', True), ('replica.size > 120', False),
    ('replica.size <= 120', True), ('replica.size <= 119', False),
    ('replica.size >= 120', True), ('replica.size >= 121', False),
    ('dataset.name == /A/B/RAW', True), ('dataset.name != /A/B/RAW', False),
    ('dataset.name == /*/*/RAW', True), ('dataset.name == /*/*/AOD', False),
    ('dataset.name == /A/?/RAW', True),
    ('dataset.name =~ /A/.', True),           # re.match: anchored at the start only
    ('dataset.name =~ A/B', False),
    ('dataset.name =~ .*/(RAW|AOD)$', True),
    ('dataset.name !=~ .*/AOD', True), ('dataset.name !=~ /A', False),
    ('dataset.last_update older_than 2019-01-01', True), ('dataset.last_update newer_than 2019-01-01', False),
    ('dataset.last_update newer_than 1970-01-01T00:10:00Z', True),
    ('dataset.status in [DEPRECATED VALID]', True), ('dataset.status notin [DEPRECATED VALID]', False),
    ('dataset.name in [/X/Y/Z /*/B/*]', True), ('dataset.name notin [/X/Y/Z /Q/*/*]', True),
    ('replica.size in [1 120 3]', True),
    ('replica.incomplete', True), ('not replica.incomplete', False),
    ('replica.incomplete == true', True), ('replica.incomplete == false', False),
    ('replica.incomplete != true', False),
])
def test_operator(at_t2_a, text, expected):
    assert holds(text, at_t2_a) is expected


def test_and_binds_tighter_than_or(at_t2_a):
    a, b, c = 'dataset.name == /A/B/RAW', 'replica.size > 1000', 'replica.size < 10'   # true, false, false
    assert holds(f'{a} or {b} and {c}', at_t2_a)
    assert not holds(f'({a} or {b}) and {c}', at_t2_a)
    assert holds(f'{b} and {c} or {a}', at_t2_a)
    assert not holds(f'{b} and ({c} or {a})', at_t2_a)


def test_nested_parentheses_and_negated_groups(at_t2_a):
    assert holds('not (replica.size > 1000 or (dataset.status == INVALID and replica.incomplete))', at_t2_a)
    assert not holds('not (replica.size < 1000)', at_t2_a)
    assert holds('not dataset.name == /X/Y/Z', at_t2_a)


def test_a_block_variable_on_a_dataset_replica_means_any_of_its_blocks(at_t2_a):
    assert holds('blockreplica.owner == ops', at_t2_a)            # b2
    assert holds('blockreplica.owner != ops', at_t2_a)            # b1
    assert not holds('blockreplica.owner == DataOps', at_t2_a)
    assert holds('not blockreplica.is_complete', at_t2_a)         # the original's `not`: some block is not
    # a negated group negates the "any": "no block is complete", false here (b1 is)
    assert not holds('not (blockreplica.is_complete)', at_t2_a)


def test_block_by_block_evaluation_gives_the_blocks_a_line_covers(at_t2_a):
    condition = compile_condition('replica.size > 100 and blockreplica.last_update < 35', now=NOW)
    assert [br.block.name for br in condition.matching_blocks(at_t2_a)] == ['b1']
    assert condition.matching_blocks(at_t2_a) == [br for br in at_t2_a.block_replicas
                                                  if condition.block_match(br, at_t2_a)]
    none = compile_condition('replica.size > 1000 and blockreplica.last_update < 35', now=NOW)
    assert none.matching_blocks(at_t2_a) == []


def test_enum_names_are_case_insensitive(at_t2_a):
    for name in ('VALID', 'valid', 'Valid'):
        assert holds(f'dataset.status == {name}', at_t2_a)
    assert holds('site.storage_type == disk', at_t2_a)
    assert holds('site.status != morgue', at_t2_a)


def test_on_tape_keeps_the_originals_reading_of_other_names(at_t2_a):
    condition = compile_condition('dataset.on_tape == 0', now=NOW)   # the original read 0 as FULL
    assert not condition.match(at_t2_a)
    assert 'taken as FULL' in condition.warnings[0]
    assert holds('dataset.on_tape == PARTIAL', at_t2_a)
    assert holds('dataset.on_tape > NONE', at_t2_a)


def test_a_text_value_may_hold_spaces(crafted):
    br = replica_of(crafted, '/C/D/AOD', 'T2_A').block_replicas[0]
    relval = BlockReplica(br.block, br.site, Group('IB RelVal'))   # a group name the original allowed
    assert holds('blockreplica.owner == IB RelVal', relval, 'blockreplica')
    assert holds('blockreplica.owner == IB   RelVal and blockreplica.size > 1', relval, 'blockreplica')
    assert not holds('blockreplica.owner == IB', relval, 'blockreplica')


def test_regex_parentheses_inside_a_group_stay_with_the_regex(at_t2_a):
    assert holds('(dataset.name =~ /A/(B|C)/RAW) and replica.size > 100', at_t2_a)
    assert holds('(replica.size > 1000 or dataset.name =~ .*(RAW|AOD))', at_t2_a)


def test_sizes_with_units(at_t2_a):
    assert holds('replica.size > 0.1 kB', at_t2_a)           # 120 > 100
    assert holds('replica.size < 0.12 KiB', at_t2_a)         # 120 < 122.88
    assert not holds('replica.size < 0.12 kB', at_t2_a)      # 120 < 120
    assert holds('dataset.size < 1TB and dataset.size >= 150B', at_t2_a)


def test_relative_times_count_back_from_the_injected_now():
    condition = compile_condition('blockreplica.last_update older_than 90 days ago', now=NOW)
    assert condition.tree.rhs == NOW - 90 * 86400
    weeks = compile_condition('blockreplica.last_update newer_than 2 weeks ago', now=NOW)
    assert weeks.tree.rhs == NOW - 14 * 86400
    hours = compile_condition('blockreplica.last_update > 36 hours ago', now=NOW)
    assert hours.tree.rhs == NOW - 36 * 3600
    assert compile_condition('blockreplica.last_update < now', now=NOW).tree.rhs == NOW


def test_a_future_time_in_older_than_is_kept_but_warned_about():
    condition = compile_condition('replica.last_block_created older_than 90 days', now=NOW)
    assert condition.tree.rhs == NOW + 90 * 86400    # GNU date's reading, as the original
    assert 'did you mean 90 days ago?' in condition.warnings[0]


def test_site_conditions_read_the_site_partition(crafted):
    sp = crafted.sites['T2_A'].partition('Default')
    assert holds('site.name == T2_* and site.occupancy > 0.9', sp, 'site')
    assert holds('site.quota < 1 kB and site.usage == 190', sp, 'site')
    assert not holds('never or site.storage_type == MSS', sp, 'site')
    assert holds('always', sp, 'site')


def test_the_compiled_condition_lists_what_it_reads_in_order(at_t2_a):
    condition = compile_condition('replica.size > 1 and (blockreplica.owner == ops or replica.size < 3)', now=NOW)
    assert [v.name for v in condition.variables] == ['replica.size', 'blockreplica.owner']
    assert condition.variables[1].value(at_t2_a) == {'b1': 'AnalysisOps', 'b2': 'ops'}
