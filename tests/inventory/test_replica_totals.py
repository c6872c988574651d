"""Dataset replica totals (size, projected size, last update) follow every change and every undo."""
import random

from inventory.objects import Block, BlockReplica, Dataset, DatasetReplica


def recomputed(inv):
    return {(site.name, dr.dataset.name): (sum(br.size for br in dr.block_replicas),
                                           sum(br.block.size for br in dr.block_replicas),
                                           max((br.last_update for br in dr.block_replicas), default=0))
            for site in inv.sites.values() for dr in site.dataset_replicas()}


def cached(inv):
    return {(site.name, dr.dataset.name): (dr.size(), dr.size(physical=False), dr.last_block_created())
            for site in inv.sites.values() for dr in site.dataset_replicas()}


def test_totals_follow_random_changes_and_rollbacks(make_inventory):
    # given an inventory and a seeded stream of changes
    inv = make_inventory()
    rng = random.Random(7)
    for i in range(40):
        inv.update(Block(f'x{i}', '/A/B/RAW', size=rng.randrange(1, 1000), num_files=3))
    inv.update(DatasetReplica('/A/B/RAW', 'T1_B'))
    # when block sizes, replica sizes, update times and memberships change, some inside aborted sets
    for step in range(400):
        journal = inv.begin() if step % 50 == 0 else None
        block = rng.choice(inv.datasets['/A/B/RAW'].blocks)
        site = rng.choice(['T2_A', 'T1_B'])
        action = rng.random()
        if action < 0.3:
            inv.update(BlockReplica(block, site, rng.choice(['physics', 'ops', None]), size=-1,
                                    last_update=rng.randrange(10**9, 2 * 10**9)))
        elif action < 0.5:
            size = rng.randrange(0, block.size + 1)
            inv.update(BlockReplica(block, site, 'ops', size=size, last_update=rng.randrange(10**9, 2 * 10**9),
                                    file_ids=(1,) if size else ()))
        elif action < 0.7:
            inv.update(Block(block.name, '/A/B/RAW', size=rng.randrange(1, 2000), num_files=3))
        elif action < 0.9:
            if site in inv.sites and inv.sites[site].find_block_replica(block) is not None:
                inv.delete(BlockReplica(block, site))
        if journal is not None and inv.datasets['/A/B/RAW'].replicas and rng.random() < 0.5:
            assert inv.abort()
        elif journal is not None:
            inv.end()
        # then the cached totals always equal the ones computed from the block replicas
        assert cached(inv) == recomputed(inv), f'step {step}'


def test_deleting_a_dataset_with_replicas_keeps_other_totals(make_inventory):
    inv = make_inventory()
    before = recomputed(inv)
    inv.delete(Dataset('/C/D/AOD'))
    assert cached(inv) == recomputed(inv)
    assert ('T1_B', '/C/D/AOD') not in cached(inv) and ('T2_A', '/A/B/RAW') in before
