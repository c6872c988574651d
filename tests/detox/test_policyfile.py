"""The policy file grammar: directives, defaults, Order, Algo, errors with positions, check mode."""
import pytest

from detox import policyfile
from policy import PolicyError, Providers
from tests.detox.conftest import NOW

# written as sites wrote them for the original (lower-case and/older_than, upper-case enums)
ORIGINAL = """\
# Detox policy of the AnalysisOps partition
Partition AnalysisOps
On site.name == T2_* and site.status == READY
On site.name == T1_*_Disk
When site.occupancy > 0.9
Until site.occupancy < 0.85
Protect replica.incomplete
ProtectBlock blockreplica.is_last_transfer_source
Delete dataset.status == INVALID
DeleteBlock blockreplica.owner == IB RelVal and blockreplica.last_update older_than 1 year ago
DismissBlock blockreplica.last_update older_than 180 days ago
Ignore dataset.name == /*/*/USER
Dismiss dataset.name == /*/*/RAW and replica.num_full_disk_copy_common_owner > 1
Protect

Order increasing replica.last_block_created decreasing replica.size
"""


def test_a_policy_written_for_the_original_parses_unchanged():
    policy = policyfile.parse(ORIGINAL, 'analysisops.txt', now=NOW)
    assert policy.partition == 'AnalysisOps'
    assert [c.text for c in policy.on] == ['site.name == T2_* and site.status == READY', 'site.name == T1_*_Disk']
    assert [(l.number, l.action, l.block_level) for l in policy.lines] == [
        (7, 'protect', False), (8, 'protect', True), (9, 'delete', False), (10, 'delete', True),
        (11, 'dismiss', True), (12, 'ignore', False), (13, 'dismiss', False)]
    assert policy.lines[3].text == 'DeleteBlock blockreplica.owner == IB RelVal and blockreplica.last_update ' \
                                   'older_than 1 year ago'
    assert (policy.default.number, policy.default.action, policy.default.text) == (14, 'protect', 'Protect')
    assert [(k.variable, k.decreasing) for k in policy.order] == [('replica.last_block_created', False),
                                                                   ('replica.size', True)]
    assert not policy.static and policy.warnings == []
    assert 'blockreplica.is_last_transfer_source' in policy.variables and policy.uses_image


def test_the_extensions_parse_as_well():
    text = ORIGINAL.replace('Protect replica.incomplete',
                            'protect (replica.incomplete or replica.size <= 2 TB) and dataset.status == valid')
    policy = policyfile.parse(text + 'Algo Static\n', 'p.txt', now=NOW)
    assert policy.lines[0].action == 'protect' and policy.static


def test_order_none_and_a_missing_order():
    assert policyfile.parse(ORIGINAL.replace('Order increasing replica.last_block_created decreasing replica.size',
                                             'Order none'), now=NOW).order == []
    without = policyfile.parse(ORIGINAL.replace('Order increasing replica.last_block_created decreasing '
                                                'replica.size', ''), 'p.txt', now=NOW)
    assert without.order == [] and 'no Order line' in without.warnings[0]


def test_repeated_directives_are_kept_as_the_original_did_and_warned_about():
    policy = policyfile.parse(ORIGINAL + 'Dismiss\nOrder decreasing replica.size\n', 'p.txt', now=NOW)
    assert policy.default.action == 'dismiss'
    assert [(k.variable, k.decreasing) for k in policy.order] == [('replica.size', True)]
    assert any('second default decision' in w for w in policy.warnings)
    assert any('second Order line' in w for w in policy.warnings)


@pytest.mark.parametrize('change, line, column, message', [
    (('Protect\n', 'Protekt\n'), 14, 1, "unknown directive 'Protekt' (did you mean Protect?)"),
    (('Until site.occupancy < 0.85', 'Until site.ocupancy < 0.85'), 6, 7,
     "unknown variable 'site.ocupancy' (did you mean site.occupancy?)"),
    (('Protect replica.incomplete', 'Protect replica.size > 1 XB'), 7, 24, "unknown size unit 'XB'"),
    (('Protect\n', 'ProtectBlock\n'), 14, 13, 'ProtectBlock needs a condition'),
    (('Partition AnalysisOps', 'Partition'), 2, 10, 'expected a partition name'),
    (('decreasing replica.size', 'sideways replica.size'), 16, 45, "expected increasing or decreasing, found 'sideways'"),
    (('decreasing replica.size', 'decreasing blockreplica.last_update'), 16, 56, 'has one value per block'),
    (('decreasing replica.size', 'decreasing dataset.name'), 16, 56, 'Order takes numbers, sizes and times'),
    (('decreasing replica.size', 'decreasing replica.sise'), 16, 56, "unknown variable 'replica.sise'"),
])
def test_errors_name_the_file_line_and_column(change, line, column, message):
    text = ORIGINAL.replace(*change)
    with pytest.raises(PolicyError) as info:
        policyfile.parse(text, 'analysisops.txt', now=NOW)
    error = info.value
    assert (error.filename, error.line, error.column) == ('analysisops.txt', line, column)
    assert message in error.message
    assert str(error).splitlines()[1].strip() == text.splitlines()[line - 1].strip()


@pytest.mark.parametrize('remove, message', [
    ('Partition AnalysisOps\n', 'no Partition line'), ('When site.occupancy > 0.9\n', 'no When line'),
    ('Until site.occupancy < 0.85\n', 'no Until line'), ('Protect\n', 'no default decision'),
])
def test_a_missing_required_directive_is_an_error(remove, message):
    with pytest.raises(PolicyError, match=message):
        policyfile.parse(ORIGINAL.replace(remove, ''), 'p.txt', now=NOW)


def test_an_unprovided_variable_is_an_error_at_load_time_and_a_warning_in_check_mode():
    text = ORIGINAL.replace('Protect replica.incomplete', 'Protect dataset.last_access newer_than 30 days ago')
    with pytest.raises(PolicyError) as info:
        policyfile.parse(text, 'p.txt', now=NOW)
    assert (info.value.line, info.value.column) == (7, 9)
    checked = policyfile.parse(text, 'p.txt', now=NOW, check=True)
    assert checked.unprovided == ['dataset.last_access']
    assert 'p.txt: dataset.last_access has no attribute provider configured' in checked.warnings
    assert checked.provider_variables == ['dataset.last_access']


def test_a_policy_with_unprovided_variables_does_not_run(crafted):
    from detox import cycle
    text = ORIGINAL.replace('Partition AnalysisOps', 'Partition Default') \
        .replace('Protect replica.incomplete', 'Protect blockreplica.is_locked')
    checked = policyfile.parse(text, 'p.txt', now=NOW, check=True, providers=Providers())
    with pytest.raises(ValueError, match='blockreplica.is_locked, which no attribute provider supplies'):
        cycle.run(crafted, checked)


def test_an_unknown_partition_is_refused_by_the_cycle(crafted):
    from detox import cycle
    policy = policyfile.parse(ORIGINAL, 'p.txt', now=NOW)
    with pytest.raises(ValueError, match="partition 'AnalysisOps', which the inventory does not have"):
        cycle.run(crafted, policy)
