"""The Dealer cycle on a crafted RAM inventory (no database): each plugin's proposals, where they
go and why not, the limits (target occupancy, pending fraction, cycle volume), determinism."""
import json

import pytest

from dealer import cycle, policy as dealer_policy
from dealer.plugins import load_plugins
from dealer.services import _apply_placements
from inventory.objects import SiteStatus
from tests.dealer.conftest import ELE_MINI, HOT, MUON_AOD, MUON_MINI, OLD, RARE, T2, TB


def policy(**overrides):
    base = {'partition': 'Default', 'group': 'AnalysisOps', 'target_sites': ['T2_*'],
            'plugins': {'requests': {'priority': 1}}}
    base.update(overrides)
    return dealer_policy.parse(json.dumps(base), 'dealer.json')


def run(inv, pol, data=None):
    """Run a cycle; `data` gives plugins their outside data by name (requests, weights, protection)."""
    plugins = load_plugins(pol)
    for plugin in plugins:
        for attr, value in (data or {}).get(plugin.name, {}).items():
            if attr == 'protection':
                plugin.source.data = value
            else:
                setattr(plugin, attr, value)
    return cycle.run(inv, pol, plugins, now=1_800_000_000)


def request(rid, items, sites, n=1, status='new', group='AnalysisOps'):
    return {'id': rid, 'status': status, 'user': 'alice', 'group': group, 'n': n, 'items': list(items),
            'sites': list(sites), 'actions': [], 'note': ''}


def accepted(plan, plugin=None):
    return [(d[2], d[6]) for d in plan.decisions if d[7] == 'accepted' and (plugin is None or d[1] == plugin)]


def test_the_minimal_policy_works_with_defaults():
    pol = dealer_policy.parse(json.dumps({'partition': 'Default', 'group': 'AnalysisOps', 'target_sites': ['T2_*'],
                                          'plugins': {'requests': {'priority': 1}}}))
    assert (pol.target_occupancy, pol.max_pending_fraction, pol.max_cycle_volume) == (0.93, 0.03, 200 * TB)
    assert [(p.name, p.module) for p in pol.plugins] == [('requests', 'dealer.plugins.requests:RequestsPlugin')]
    original = dealer_policy.parse(json.dumps({'partition_name': 'Default', 'group_name': 'DataOps',
                                               'target_site_occupancy': 0.9, 'max_total_cycle_volume': 10,
                                               'plugins': {'requests': {'priority': 1}}}))
    assert (original.group, original.target_occupancy, original.max_cycle_volume) == ('DataOps', 0.9, 10 * TB)


@pytest.mark.parametrize('doc, message', [
    ({'plugins': {}}, 'plugins: expected an object'),
    ({'target_occupancy': 'high', 'plugins': {'requests': {}}}, 'target_occupancy: expected a number'),
    ({'target_sites': 'site.nme == T2_*', 'plugins': {'requests': {}}}, "unknown variable 'site.nme'"),
    ({'plugins': {'mine': {'priority': 1}}}, 'plugins.mine: not a shipped plugin'),
    ({'max_cycle_volume': '5 XB', 'plugins': {'requests': {}}}, "unknown size unit 'XB'"),
    ({'colour': 'red', 'plugins': {'requests': {}}}, 'unknown keys colour'),
])
def test_policy_errors_name_the_file_and_the_key(doc, message):
    with pytest.raises(dealer_policy.PolicyError, match='dealer.json') as info:
        dealer_policy.parse(json.dumps(doc), 'dealer.json')
    assert message in str(info.value)


def test_target_sites_by_patterns_with_exclusions_or_by_a_condition(crafted):
    inv = crafted()
    view = cycle.build_view(inv, policy(target_sites=['T2_*', '!T2_US_*']), 0)
    assert [st.name for st in view.targets] == ['T2_DE_C', 'T2_FR_M', 'T2_IT_D']
    view = cycle.build_view(inv, policy(target_sites='site.name == T2_US_* or site.name == T1_*'), 0)
    assert [st.name for st in view.targets] == ['T1_CH_Disk', 'T2_US_A', 'T2_US_B']


# ---------------------------------------------------------------------------- requests
def test_a_request_for_n_copies_places_them_at_distinct_listed_sites(crafted):
    inv = crafted()
    plan = run(inv, policy(), {'requests': {'requests': [request(1, [MUON_MINI], T2, n=2)]}})
    placed = accepted(plan)
    assert len(placed) == 2 and len({site for _, site in placed}) == 2
    assert {site for _, site in placed} <= set(T2)
    commit = plan.commits['requests']
    assert commit['activate'] == [1] and sorted(p[2] for p in commit['placed']) == sorted(s for _, s in placed)


def test_n_zero_means_one_copy_at_every_listed_site_and_existing_copies_count(crafted):
    inv = crafted()
    plan = run(inv, policy(), {'requests': {'requests': [request(1, [MUON_MINI], ['T2_US_A', 'T2_US_B'], n=0),
                                                         request(2, [HOT], ['T1_CH_Disk', 'T2_US_A'], n=1,
                                                                 group='DataOps')]}})
    assert sorted(accepted(plan)) == [(MUON_MINI, 'T2_US_A'), (MUON_MINI, 'T2_US_B')]
    assert plan.commits['requests']['complete'] == [[2, 'nothing to do: every copy exists']]


def test_invalid_requests_are_rejected_with_their_reason(crafted):
    inv = crafted()
    plan = run(inv, policy(), {'requests': {'requests': [
        request(1, [MUON_MINI], ['T2_US_A'], group='NoSuchGroup'),
        request(2, [MUON_MINI], ['T1_CH_Disk']),
        request(3, ['/Gone/Dataset-v1/AOD'], ['T2_US_A'])]}})
    rejected = dict(plan.commits['requests']['reject'])
    assert rejected[1] == 'unknown group NoSuchGroup'
    assert rejected[2].startswith('no target site among T1_CH_Disk (T1_CH_Disk: not among the target sites')
    assert rejected[3] == 'unknown dataset /Gone/Dataset-v1/AOD'
    assert plan.num_proposals == 0


def test_a_request_that_finds_no_room_waits_with_a_note(crafted):
    inv = crafted(fill={'T2_US_A': 92})
    plan = run(inv, policy(), {'requests': {'requests': [request(1, [MUON_AOD], ['T2_US_A'])]}})
    assert plan.decisions[0][7:9] == ['rejected', 'no_room']
    commit = plan.commits['requests']
    assert commit['activate'] == [1] and commit['placed'] == []
    assert commit['notes'] == [[1, f'not placed yet: {MUON_AOD}: no_room (no_room: 1)']]


# ---------------------------------------------------------------------------- placement rules
def test_placements_respect_target_occupancy_pending_fraction_and_cycle_volume(crafted):
    # given: 40 filler TB at every T2 site and many 1 TB datasets wanted everywhere
    inv = crafted(fill={s: 40 for s in T2})
    weights = {name: 10 for name in inv.datasets if name.startswith('/Fill/')}
    pol = policy(max_pending_fraction=0.05, max_cycle_volume=18, target_occupancy=0.93,
                 plugins={'popularity': {'priority': 1, 'config': {'max_copies': 5}}})
    # when
    plan = run(inv, pol, {'popularity': {'weights': weights}})
    # then: no site over 5 % pending, no more than 18 TB placed, the rest refused by reason
    for st in plan.sites:
        if st['target']:
            assert st['pending_after'] <= 0.05 + 1e-9 and st['occupancy_projected_after'] <= 0.93
    assert plan.volume <= 18 * TB and plan.volume == 18 * TB
    assert plan.rejections['cycle_volume'] > 0
    assert plan.site_rejections['pending_limit'] > 0 and plan.site_rejections['present'] > 0


def test_a_full_site_gets_nothing_and_the_fullest_is_chosen_last(crafted):
    inv = crafted(fill={'T2_DE_C': 92, 'T2_IT_D': 50, 'T2_US_A': 10, 'T2_US_B': 30})
    plan = run(inv, policy(max_pending_fraction=1), {'requests': {'requests': [request(1, [ELE_MINI], T2, n=3)]}})
    sites = [site for _, site in accepted(plan)]
    assert sites == ['T2_US_A', 'T2_US_B', 'T2_IT_D']          # by free space after the copy
    assert plan.decisions[0][10] == {'no_room': 1}             # T2_DE_C: 92 + 3 TB > 93 %


def test_a_placement_makes_an_empty_growing_replica_owned_by_the_group(crafted):
    inv = crafted()
    plan = run(inv, policy(), {'requests': {'requests': [request(1, [MUON_MINI], ['T2_US_B'])]}})
    sp = inv.sites['T2_US_B'].partition('Default')
    before = (sp.usage(), sp.usage(physical=False))
    made = []
    _apply_placements(inv, plan.placements, made, {'skipped': 0, 'regrouped': 0})
    replica = inv.sites['T2_US_B'].find_dataset_replica(MUON_MINI)
    assert replica.growing and replica.group.name == 'AnalysisOps'
    assert [(br.block.name, br.size, br.is_complete(), br.group.name) for br in replica.block_replicas] == \
        [('b000', 0, False, 'AnalysisOps'), ('b001', 0, False, 'AnalysisOps')]
    assert (sp.usage(), sp.usage(physical=False)) == (before[0], before[1] + 2 * TB)
    assert sorted(m[2] for m in made) == ['b000', 'b001']


# ---------------------------------------------------------------------------- the other plugins
def test_popularity_asks_copies_in_proportion_to_demand_capped(crafted):
    inv = crafted()
    pol = policy(plugins={'popularity': {'priority': 1, 'config': {'threshold': 2, 'max_copies': 3}}})
    plan = run(inv, pol, {'popularity': {'weights': {HOT: 11, MUON_MINI: 3, ELE_MINI: 0.5}}})
    proposed = [d[2] for d in plan.decisions]
    # HOT: min(3, ceil(11/2)) = 3 copies, has 1: 2 more; MUON_MINI: ceil(3/2) = 2, has 1: 1 more; ELE: 1, has 1
    assert proposed == [HOT, MUON_MINI, HOT]
    assert len(accepted(plan)) == 3 and len({s for d, s in accepted(plan) if d == HOT}) == 2


def test_undertaker_moves_the_only_copy_off_a_site_set_to_morgue(crafted):
    inv = crafted()
    inv.sites['T2_FR_M'].status = SiteStatus.MORGUE
    plan = run(inv, policy(plugins={'undertaker': {'priority': 1}}))
    assert [d[2] for d in plan.decisions] == [RARE]
    (dataset, site), = accepted(plan)
    assert dataset == RARE and site in T2 and inv.sites[site].status == SiteStatus.READY
    assert plan.decisions[0][12] == 'only copies at T2_FR_M'
    # and once the copy exists, nothing more is proposed
    _apply_placements(inv, plan.placements, [], {'skipped': 0, 'regrouped': 0})
    assert run(inv, policy(plugins={'undertaker': {'priority': 1}})).num_proposals == 0


def test_the_enforcer_rule_is_satisfied_after_a_cycle(crafted):
    inv = crafted()
    rules = {'miniaod-us': {'datasets': ['/*/*/MINIAOD*'], 'sites': ['T2_US_*'], 'num_copies': 1}}
    pol = policy(plugins={'enforcer': {'priority': 1, 'config': {'rules': rules}}})
    plan = run(inv, pol)
    assert sorted(d for d, _ in accepted(plan)) == [ELE_MINI, MUON_MINI]
    assert all(site.startswith('T2_US_') for _, site in accepted(plan))
    _apply_placements(inv, plan.placements, [], {'skipped': 0, 'regrouped': 0})
    for name in (ELE_MINI, MUON_MINI):
        assert any(r.site.name.startswith('T2_US_') for r in inv.datasets[name].replicas)
    assert run(inv, pol).num_proposals == 0


def test_group_reassign_changes_only_the_owner(crafted):
    inv = crafted()
    pol = policy(plugins={'reassign': {'priority': 1, 'config': {'from_groups': ['Trash']}}})
    plan = run(inv, pol)
    assert plan.decisions[0][2:9] == [OLD, None, 0, 'AnalysisOps', 'T2_US_A', 'accepted', 'regrouped']
    made = []
    _apply_placements(inv, plan.placements, made, {'skipped': 0, 'regrouped': 0})
    assert made == []
    assert {br.group.name for br in inv.sites['T2_US_A'].find_dataset_replica(OLD).block_replicas} == {'AnalysisOps'}


def test_balancer_moves_last_copies_from_the_fullest_protected_site(crafted):
    inv = crafted(fill={'T2_DE_C': 60, 'T2_US_A': 20})
    fill_de = sorted(n for n in inv.datasets if n.startswith('/Fill/T2_DE_C'))
    protection = {'cycle': 7, 'sites': {'T2_DE_C': {'quota': 100 * TB, 'protected': 60 * TB},
                                        'T2_US_A': {'quota': 100 * TB, 'protected': 20 * TB},
                                        'T2_US_B': {'quota': 100 * TB, 'protected': 50 * TB}},
                  'protected': [['T2_DE_C', n, TB, 'Protect dataset.num_full_disk_copy == 1'] for n in fill_de]}
    pol = policy(max_pending_fraction=1, plugins={'balancer': {'priority': 1, 'config': {
        'source': 'file', 'path': '/unused', 'threshold': 0.05,
        'target_reasons': {'Protect dataset.num_full_disk_copy == 1': 1}}}})
    plan = run(inv, pol, {'balancer': {'protection': protection}})
    # T2_DE_C (0.60) gives last copies until within 5 % of the lowest (T2_US_A, 0.20): 36 of them
    assert plan.num_proposals == 36
    # to the emptiest sites protecting less than the source's fraction - 0.05: T2_US_B (0.50) only
    # while T2_DE_C is above 0.55, T2_US_A (0.20, 20 TB used) never as the empty ones have room
    sites = [site for _, site in accepted(plan)]
    assert len(sites) == 36 and set(sites) == {'T2_FR_M', 'T2_IT_D', 'T2_US_B'}
    assert max(i for i, site in enumerate(sites) if site == 'T2_US_B') < 6
    assert {d for d, _ in accepted(plan)} <= set(fill_de)


# ---------------------------------------------------------------------------- merging and determinism
def test_plugins_are_interleaved_by_priority_deterministically():
    class P:
        def __init__(self, name, priority, n):
            self.name, self.priority, self.items = name, priority, [f'{name}{i}' for i in range(n)]
    merged = cycle.merge([(P('a', 1, 6), P('a', 1, 6).items), (P('b', 2, 6), P('b', 2, 6).items)])
    assert [p for _, p in merged][:6] == ['a0', 'b0', 'a1', 'a2', 'b1', 'a3']
    only_zero = cycle.merge([(P('a', 0, 2), ['a0', 'a1']), (P('b', 1, 2), ['b0', 'b1'])])
    assert [p for _, p in only_zero] == ['a0', 'a1']


def test_two_runs_give_identical_decisions_and_record_the_seed(crafted):
    rules = {'mini': {'datasets': ['/*/*/MINIAOD*'], 'sites': ['T2_*'], 'num_copies': 2}}
    pol = policy(seed=42, plugins={'requests': {'priority': 1}, 'enforcer': {'priority': 2, 'config': {'rules': rules}},
                                   'popularity': {'priority': 3}})
    data = {'requests': {'requests': [request(1, [MUON_AOD], T2, n=2)]},
            'popularity': {'weights': {HOT: 5, MUON_AOD: 2}}}
    first, second = run(crafted(), pol, data), run(crafted(), pol, data)
    assert first.decisions == second.decisions and first.placements == second.placements
    assert first.seed == 42 and first.num_accepted > 4
