"""A cycle on the crafted inventory: every kind of policy line, the exact decisions, promotion
of block-level lines, ownership hand-over, re-evaluation after deletions, and what a commit of
the plan leaves behind."""
import pytest

from detox import cycle, policyfile
from inventory.objects import BlockReplica
from policy import LockEntry, LockList, Locks, Providers
from tests.detox.conftest import NOW
from tests.support import image

POLICY = """\
Partition Default
On site.name == T2_*
When site.occupancy > 0.9
Until site.occupancy < 0.7
Ignore dataset.name == /Ignored/*/*
Delete dataset.status == INVALID
ProtectBlock blockreplica.is_locked
DeleteBlock blockreplica.owner == local and blockreplica.last_update older_than 400 days ago
Protect replica.incomplete
Protect replica.num_full_disk_copy_common_owner < 2
DismissBlock blockreplica.last_update older_than 200 days ago
Dismiss replica.last_block_created older_than 100 days ago
Protect
Order increasing replica.last_block_created decreasing replica.size
"""


def providers():
    return Providers([Locks(LockList([LockEntry('/Locked/X/AOD#l1', site='T2_A')]))])


@pytest.fixture
def plan(crafted):
    policy = policyfile.parse(POLICY, 'detox.txt', providers=providers(), now=NOW)
    return cycle.run(crafted, policy, max_cycle_fraction=1.0)


# (site, dataset, decision, blocks, size, line)
EXPECTED = [
    ('T2_A', '/Bad/X/AOD', 'delete', None, 40, 6),           # Delete applies at every target site
    ('T2_A', '/Handed/X/AOD', 'protect', None, 100, 10),     # h2 handed over by line 8, protected with h1
    ('T2_A', '/Ignored/X/AOD', 'keep', None, 50, 5),
    ('T2_A', '/Incomplete/X/AOD', 'protect', None, 30, 9),
    ('T2_A', '/LastCopy/X/AOD', 'protect', None, 80, 10),
    ('T2_A', '/Local/X/AOD', 'delete', ('o1',), 30, 8),      # no dataset-level owner: deleted
    ('T2_A', '/Local/X/AOD', 'protect', ('o2',), 30, 10),    # (the T1_X copy is outside the image)
    ('T2_A', '/Locked/X/AOD', 'protect', ('l1',), 50, 7),
    ('T2_A', '/Locked/X/AOD', 'protect', ('l2',), 50, 10),   # stripped of l1, the replica is not full
    ('T2_A', '/Mixed/X/AOD', 'keep', ('m2', 'm3'), 100, 11),  # the rest protected: dismissed once only
    ('T2_A', '/Mixed/X/AOD', 'protect', ('m1',), 50, 13),
    ('T2_A', '/Old1/X/AOD', 'delete', None, 80, 11),         # DismissBlock on every block: promoted
    ('T2_A', '/Old2/X/AOD', 'delete', None, 60, 12),
    ('T2_A', '/Recent/X/AOD', 'protect', None, 100, 13),
    ('T2_A', '/Shared/X/AOD', 'delete', None, 70, 11),
    ('T2_B', '/Bad/X/AOD', 'delete', None, 40, 6),
    ('T2_B', '/Handed/X/AOD', 'protect', None, 100, 13),
    ('T2_B', '/Locked/X/AOD', 'keep', None, 100, 11),        # dismissed, but T2_B is below its When
    ('T2_B', '/Mixed/X/AOD', 'protect', None, 150, 13),
    ('T2_B', '/Old1/X/AOD', 'protect', None, 80, 10),        # the last copy once T2_A's went
    ('T2_B', '/Old2/X/AOD', 'protect', None, 60, 10),
    ('T2_B', '/Recent/X/AOD', 'protect', None, 100, 13),
    ('T2_B', '/Shared/X/AOD', 'protect', None, 70, 10),
]


def test_decisions_are_exactly_the_expected_ones(plan):
    rows = [(d.site, d.dataset, d.decision, d.blocks, d.size, d.line) for d in plan.decisions]
    assert rows == EXPECTED
    assert all(d.text == POLICY.splitlines()[d.line - 1] for d in plan.decisions)


def test_deletions_and_hand_overs(plan):
    assert [(d.site, d.dataset, d.blocks, d.size) for d in plan.deletions] == [
        ('T2_A', '/Bad/X/AOD', None, 40), ('T2_A', '/Local/X/AOD', ('o1',), 30), ('T2_A', '/Old1/X/AOD', None, 80),
        ('T2_A', '/Old2/X/AOD', None, 60), ('T2_A', '/Shared/X/AOD', None, 70), ('T2_B', '/Bad/X/AOD', None, 40)]
    assert [(h.site, h.dataset, h.block, h.group) for h in plan.handovers] == [
        ('T2_A', '/Handed/X/AOD', 'h2', 'AnalysisOps')]


def test_site_summaries(plan):
    a, b = plan.sites
    assert (a.site, a.occupancy_before, a.occupancy_after, a.protected, a.kept, a.deleted, a.handed_over,
            a.triggered, a.until_reached) == ('T2_A', 0.92, 0.64, 490, 150, 280, 50, True, True)
    assert (b.site, b.occupancy_before, b.occupancy_after, b.deleted, b.triggered) == ('T2_B', 0.7, 0.66, 40, False)
    assert plan.iterations == 4 and plan.deleted_bytes == 320 and plan.used_bytes == 1620
    assert plan.warnings == [] and not plan.stopped


def test_the_inventory_is_not_changed(crafted):
    before = image(crafted, files=False)
    policy = policyfile.parse(POLICY, 'detox.txt', providers=providers(), now=NOW)
    cycle.run(crafted, policy)
    assert image(crafted, files=False) == before


def test_committing_the_plan_leaves_every_triggered_site_below_until(crafted, plan):
    # what the commit does (§12 item 1): deleted block replicas go to the null group, hand-overs
    # change owners; the partition (owner != None) then no longer holds the deleted ones
    inv = crafted
    for d in plan.deletions:
        replica = inv.sites[d.site].find_dataset_replica(d.dataset)
        for br in replica.block_replicas:
            if d.blocks is None or br.block.name in d.blocks:
                inv.update(_with_group(br, None))
    for h in plan.handovers:
        br = inv.sites[h.site].find_dataset_replica(h.dataset).find_block_replica(h.block)
        inv.update(_with_group(br, h.group))
    for summary in plan.sites:
        sp = inv.sites[summary.site].partition('Default')
        assert sp.occupancy_fraction() == pytest.approx(summary.occupancy_after)
        if summary.triggered:
            assert sp.occupancy_fraction() < 0.7
    deleted = inv.sites['T2_A'].find_dataset_replica('/Old1/X/AOD')
    assert {br.group.name for br in deleted.block_replicas} == {None}
    handed = inv.sites['T2_A'].find_dataset_replica('/Handed/X/AOD').find_block_replica('h2')
    assert handed.group.name == 'AnalysisOps'


def _with_group(br, group):
    complete = br.file_ids is None
    return BlockReplica(br.block_full_name, br.site_name, group, br.is_custodial, -1 if complete else br.size,
                        br.last_update, None if complete else br.file_ids)


def test_two_runs_give_identical_rows_even_on_a_rebuilt_inventory(crafted):
    from tests.detox.conftest import build_crafted
    policy = policyfile.parse(POLICY, 'detox.txt', providers=providers(), now=NOW)
    first = cycle.run(crafted, policy)
    second = cycle.run(crafted, policy)
    third = cycle.run(build_crafted(), policyfile.parse(POLICY, 'detox.txt', providers=providers(), now=NOW))
    for other in (second, third):
        assert other.decisions == first.decisions
        assert other.deletions == first.deletions and other.handovers == first.handovers
        assert repr(other.sites) == repr(first.sites)


def test_the_safety_valve_stops_a_cycle_deleting_too_much(crafted):
    policy = policyfile.parse(POLICY, 'detox.txt', providers=providers(), now=NOW)
    plan = cycle.run(crafted, policy)                 # 320 B of 1620 B: 19.8 % > 10 %
    assert plan.stopped and not plan.may_commit
    assert 'would delete 320 B of the 1620 B of partition Default at its target sites (19.8%)' in plan.stop_reason
    assert 'max_cycle_fraction (10.0%)' in plan.stop_reason
    forced = cycle.run(crafted, policy, force=True)
    assert forced.may_commit and forced.deletions == plan.deletions
    assert any('committed anyway (force)' in w for w in forced.warnings)
    assert cycle.run(crafted, policy, max_cycle_fraction=0.2).may_commit


def test_lines_that_never_matched_are_reported(crafted):
    text = POLICY.replace('Protect replica.incomplete\n', 'Protect replica.incomplete\nDelete dataset.name == /Nope/*/*\n')
    policy = policyfile.parse(text, 'detox.txt', providers=providers(), now=NOW)
    plan = cycle.run(crafted, policy, max_cycle_fraction=1.0)
    assert plan.warnings == ["detox.txt:10: 'Delete dataset.name == /Nope/*/*' never matched"]


def test_deletion_stops_as_soon_as_until_holds(crafted):
    # every dismissable replica could go; deletion stops at the first that brings T2_A below 0.8
    text = POLICY.replace('Until site.occupancy < 0.7', 'Until site.occupancy < 0.8')
    policy = policyfile.parse(text, 'detox.txt', providers=providers(), now=NOW)
    plan = cycle.run(crafted, policy, max_cycle_fraction=1.0)
    a = plan.sites[0]
    assert a.occupancy_after == 0.77 and a.until_reached      # 850 after the Delete lines, then Old1 (80)
    assert [d.dataset for d in plan.deletions if d.site == 'T2_A'] == ['/Bad/X/AOD', '/Local/X/AOD', '/Old1/X/AOD']


def test_a_site_already_below_until_loses_only_what_delete_lines_take(crafted):
    text = POLICY.replace('Until site.occupancy < 0.7', 'Until site.occupancy < 0.86')
    policy = policyfile.parse(text, 'detox.txt', providers=providers(), now=NOW)
    plan = cycle.run(crafted, policy, max_cycle_fraction=1.0)
    assert [d.dataset for d in plan.deletions if d.site == 'T2_A'] == ['/Bad/X/AOD', '/Local/X/AOD']
    assert plan.sites[0].occupancy_after == 0.85


def test_static_algorithm_sorts_all_candidates_once(crafted):
    text = POLICY + 'Algo Static\n'
    policy = policyfile.parse(text, 'detox.txt', providers=providers(), now=NOW)
    plan = cycle.run(crafted, policy, max_cycle_fraction=1.0)
    assert policy.static
    # no per-iteration limit: Old1, Shared, Old2 in one pass until Until holds
    assert [d.dataset for d in plan.deletions if d.site == 'T2_A'] == [
        '/Bad/X/AOD', '/Local/X/AOD', '/Old1/X/AOD', '/Old2/X/AOD', '/Shared/X/AOD']
    assert plan.iterations == 2


def test_a_quota_of_zero_makes_a_site_always_triggered(crafted):
    crafted.sites['T2_B'].partition('Default').set_quota(0)
    policy = policyfile.parse(POLICY, 'detox.txt', providers=providers(), now=NOW)
    plan = cycle.run(crafted, policy, max_cycle_fraction=1.0)
    b = plan.sites[1]
    assert b.triggered and not b.until_reached
    assert ('T2_B', '/Locked/X/AOD', None, 100) in [(d.site, d.dataset, d.blocks, d.size) for d in plan.deletions]
    guarded = POLICY.replace('When site.occupancy > 0.9', 'When site.has_quota and site.occupancy > 0.9')
    plan = cycle.run(crafted, policyfile.parse(guarded, 'detox.txt', providers=providers(), now=NOW),
                     max_cycle_fraction=1.0)
    assert not plan.sites[1].triggered


def test_explain_names_the_deciding_line_and_the_values_read(crafted):
    policy = policyfile.parse(POLICY, 'detox.txt', providers=providers(), now=NOW)
    e = cycle.explain(crafted, policy, 'T2_A', '/Locked/X/AOD')
    assert e.in_image and e.deciding_lines == [7, 10]
    assert [(t.number, t.matched, t.blocks) for t in e.lines] == [
        (5, False, None), (6, False, None), (7, True, ('l1',)), (8, False, ()), (9, False, None), (10, True, None)]
    values = {t.number: dict(t.values) for t in e.lines}
    assert values[7] == {'blockreplica.is_locked': {'l1': True, 'l2': False}}
    assert values[8]['blockreplica.owner'] == {'l2': 'AnalysisOps'}          # l1 was stripped by line 7
    assert values[10] == {'replica.num_full_disk_copy_common_owner': 1}
    old2 = cycle.explain(crafted, policy, 'T2_B', '/Old2/X/AOD')
    assert old2.deciding_lines == [10] and old2.iteration == 4    # decided after T2_A's copy went
    assert dict(old2.lines[-1].values) == {'replica.num_full_disk_copy_common_owner': 1}


def test_explain_says_why_a_replica_is_not_considered(crafted):
    policy = policyfile.parse(POLICY, 'detox.txt', providers=providers(), now=NOW)
    assert not cycle.explain(crafted, policy, 'T1_X', '/Locked/X/AOD').in_image
    assert 'not a target' in cycle.explain(crafted, policy, 'T1_X', '/Locked/X/AOD').reason
    assert 'no block replica' in cycle.explain(crafted, policy, 'T2_B', '/Local/X/AOD').reason


def test_an_empty_replica_at_a_tape_target_stands_in_with_zero_size_null_group_blocks():
    # the original's safety measure: such replicas become deletable members of the image
    from inventory.objects import Block, Dataset, DatasetReplica, Inventory, Site
    inv = Inventory()
    inv.update(Site('T1_M', storage_type='mss', status='ready'))
    inv.update(Dataset('/E/F/RAW'))
    inv.update(Block('e1', '/E/F/RAW', size=10, num_files=1))
    inv.update(Block('e2', '/E/F/RAW', size=20, num_files=1))
    inv.update(DatasetReplica('/E/F/RAW', 'T1_M'))
    inv.sites['T1_M'].partition('Default').set_quota(-1)
    text = ('Partition Default\nOn site.storage_type == MSS\nWhen always\nUntil never\n'
            'Dismiss blockreplica.owner == None and not blockreplica.is_complete\nProtect\nOrder none\n')
    plan = cycle.run(inv, policyfile.parse(text, 'tape.txt', now=NOW))
    assert [(d.site, d.dataset, d.decision, d.blocks, d.size, d.line) for d in plan.decisions] == [
        ('T1_M', '/E/F/RAW', 'delete', None, 0, 5)]
    assert [(d.site, d.dataset, d.blocks, d.size) for d in plan.deletions] == [('T1_M', '/E/F/RAW', None, 0)]
    assert inv.sites['T1_M'].find_dataset_replica('/E/F/RAW').block_replicas == []


def test_the_explanation_reads_as_text(crafted):
    policy = policyfile.parse(POLICY, 'detox.txt', providers=providers(), now=NOW)
    text = cycle.explain(crafted, policy, 'T2_A', '/Locked/X/AOD').as_text()
    assert text.splitlines()[:3] == [
        '/Locked/X/AOD at T2_A (last evaluated in iteration 1):',
        '  protect l1 (50 B) by line 7: ProtectBlock blockreplica.is_locked',
        '  protect l2 (50 B) by line 10: Protect replica.num_full_disk_copy_common_owner < 2']
    assert '  7: ProtectBlock blockreplica.is_locked  -> matched (l1)' in text
    assert '      blockreplica.last_update = {l2: 2018-08-06T00:00:00Z}' in text
    assert cycle.explain(crafted, policy, 'T1_X', '/Locked/X/AOD').as_text().endswith(
        'not considered: the site is not a target of the policy (no On line matches it)')
