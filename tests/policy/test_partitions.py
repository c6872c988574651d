"""The partition definitions file: conditions over block replicas, superpartitions, errors."""
import pytest

from inventory.objects import Partition
from policy import PolicyError, parse_partitions
from tests.policy.conftest import replica_of

TEXT = """\
# partitions of the test site
Physics: [AnalysisOps, DataOps]
AnalysisOps: blockreplica.owner == AnalysisOps
DataOps:     blockreplica.owner == DataOps
Tape: site.storage_type == MSS and blockreplica.owner != None
"""


def test_definitions_come_subpartitions_first_with_compiled_conditions(crafted):
    definitions = parse_partitions(TEXT, 'partitions.txt')
    assert [(d.name, d.subpartitions, d.line) for d in definitions] == [
        ('AnalysisOps', None, 3), ('DataOps', None, 4), ('Physics', ('AnalysisOps', 'DataOps'), 2),
        ('Tape', None, 5)]
    analysis = definitions[0].condition
    assert analysis.text == 'blockreplica.owner == AnalysisOps'
    a = replica_of(crafted, '/A/B/RAW', 'T2_A')
    assert [analysis.match(br) for br in a.block_replicas] == [True, False]


def test_the_inventory_computes_membership_with_the_parsed_conditions(crafted):
    inv = crafted
    for d in parse_partitions(TEXT, 'partitions.txt'):
        subs = [inv.partitions[s] for s in d.subpartitions] if d.subpartitions else None
        inv.update(Partition(d.name, d.condition, subs))
    physics = inv.sites['T2_A'].partition('Physics')
    tape = inv.sites['T1_M'].partition('Tape')
    aod = replica_of(inv, '/C/D/AOD', 'T2_A')
    assert physics.usage() == 100 + 70     # b1 (AnalysisOps) of /A/B/RAW and c1 (DataOps); b2 is ops'
    assert aod in physics.replicas
    assert tape.usage() == 100
    inv.sites['T2_A'].partition('AnalysisOps').set_quota(1000)
    inv.sites['T2_A'].partition('DataOps').set_quota(500)
    assert physics.quota == 1500           # a superpartition's quota is the sum of its subpartitions'


@pytest.mark.parametrize('text, line, column, message', [
    ('Physics [A]\n', 1, 1, "expected 'Name: condition' or 'Name: [Sub1, Sub2]'"),
    ('A: blockreplica.owner == X\nA: blockreplica.owner == Y\n', 2, 1, 'partition A is already defined on line 1'),
    ('A: blockreplica.ownr == X\n', 1, 4, "unknown variable 'blockreplica.ownr' (did you mean blockreplica.owner?)"),
    ('S: [A, B]\nA: blockreplica.owner == X\n', 1, 8, "unknown subpartition 'B' of S"),
    ('S: [A, T]\nT: [S]\nA: blockreplica.owner == X\n', 1, 1, 'superpartitions form a cycle: S -> T -> S'),
    ('A:\n', 1, 4, 'expected a condition or a list of subpartitions after A:'),
    ('A: dataset.last_access > 1\n', 1, 4, 'needs an attribute provider'),
])
def test_errors_point_at_the_line_and_column(text, line, column, message):
    with pytest.raises(PolicyError) as info:
        parse_partitions(text, 'partitions.txt')
    error = info.value
    assert (error.filename, error.line, error.column) == ('partitions.txt', line, column)
    assert message in error.message


def test_quota_arithmetic_of_superpartitions(crafted):
    inv = crafted
    for d in parse_partitions(TEXT, 'partitions.txt'):
        subs = [inv.partitions[s] for s in d.subpartitions] if d.subpartitions else None
        inv.update(Partition(d.name, d.condition, subs))
    site = inv.sites['T2_A']
    physics = site.partition('Physics')
    assert physics.quota == 0 and physics.occupancy_fraction() > 1e300   # no quota: over any watermark
    site.partition('AnalysisOps').set_quota(100)
    site.partition('DataOps').set_quota(-1)                               # unlimited
    assert physics.quota < 0 and physics.occupancy_fraction() == 0
    with pytest.raises(Exception, match='sum of its subpartitions'):
        physics.set_quota(5)


def test_a_partition_condition_may_read_the_replica_of_the_block_replica(crafted):
    (big,) = parse_partitions('Big: replica.size > 100 and dataset.name == /A/*/*\n')
    a = replica_of(crafted, '/A/B/RAW', 'T2_A')        # 120 B
    b = replica_of(crafted, '/A/B/RAW', 'T1_M')        # 100 B
    assert [big.condition.match(br) for br in a.block_replicas + b.block_replicas] == [True, True, False]
