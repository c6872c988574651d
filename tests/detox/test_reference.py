"""The engine (incremental re-evaluation) decides exactly as the plain loop that re-evaluates the
whole policy at every iteration, on seeded inventories and policies with every kind of line."""
import random

import pytest

from detox import cycle, policyfile
from tests.detox.conftest import NOW, build_crafted, random_inventory
from tests.detox.reference import plan_picture, reference_run

LINES = [
    'Ignore dataset.name == /P00*/*/*',
    'Delete dataset.status == INVALID',
    'Delete replica.num_full_disk_copy_common_owner > 3',
    'ProtectBlock blockreplica.owner == relval',
    'DeleteBlock blockreplica.owner == local and blockreplica.last_update older_than 500 days ago',
    'DismissBlock blockreplica.owner == DataOps and blockreplica.last_update older_than 300 days ago',
    'ProtectBlock blockreplica.is_last_transfer_source',
    'Protect replica.incomplete',
    'Protect replica.num_full_disk_copy_common_owner < 2',
    'Protect dataset.num_full_disk_copy < 2 and dataset.name == /*/*/RAW',
    'Protect blockreplica.num_full_disk_copy < 2',
    'DismissBlock blockreplica.last_update older_than 200 days ago',
    'Dismiss replica.last_block_created older_than 100 days ago',
    'Dismiss dataset.on_tape == NONE and replica.size > 100 B',
    'Protect replica.num_full_other_copy_common_owner == 0 or site.name == T2_C',
    'DismissBlock (blockreplica.owner == AnalysisOps or blockreplica.owner == local) and not blockreplica.is_complete',
]
ORDERS = ['increasing replica.last_block_created decreasing replica.size', 'decreasing replica.size', 'none',
          'increasing replica.first_block_created increasing dataset.num_full_disk_copy']


def random_policy(seed):
    rng = random.Random(seed * 7919)
    lines = rng.sample(LINES, rng.randint(3, 9))
    text = ['Partition Default', rng.choice(['On site.name == T2_*', 'On site.name != T1_X']),
            'When site.occupancy > 0.9', f'Until site.occupancy < {rng.choice((0.85, 0.7, 0.5))}']
    text += lines
    text.append(rng.choice(['Dismiss', 'Protect', 'Dismiss', 'Ignore']))
    text.append(f'Order {rng.choice(ORDERS)}')
    if rng.random() < 0.25:
        text.append('Algo Static')
    return '\n'.join(text) + '\n'


@pytest.mark.parametrize('seed', range(40))
def test_engine_decides_as_the_whole_policy_loop(seed):
    inv = random_inventory(seed)
    policy = policyfile.parse(random_policy(seed), 'random.txt', now=NOW)
    plan = cycle.run(inv, policy, max_cycle_fraction=1.0)
    assert plan_picture(inv, plan) == reference_run(inv, policy)


def test_the_crafted_scenario_agrees_with_the_reference_too():
    from tests.detox.test_cycle import POLICY, providers
    inv = build_crafted()
    policy = policyfile.parse(POLICY, 'detox.txt', providers=providers(), now=NOW)
    assert plan_picture(inv, cycle.run(inv, policy, max_cycle_fraction=1.0)) == reference_run(inv, policy)
