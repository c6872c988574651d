"""A slow reference for Detox: the original's loop as §7.4 describes it, written plainly.

It copies the partition image into an inventory of its own, mutates that copy (deletes block
replicas, changes owners) and re-evaluates the whole policy on every replica at every iteration,
with the tie rules our engine documents (site name, dataset name, first dataset-level owner by
name, replicas of a dataset in site-name order). The tests compare the engine's plan with it.
"""
from inventory.objects import (Block, BlockReplica, Dataset, DatasetReplica, Group, Inventory, OwnershipLevel,
                               Site)
from policy import PLAIN, ReplicaSubject


def copy_image(inventory, policy):
    """(copy inventory, target site names): target sites, their partition members, all blocks."""
    partition = inventory.partitions[policy.partition]
    targets = sorted(s.name for s in inventory.sites.values()
                     if any(c.match(s.partitions[partition]) for c in policy.on))
    img = Inventory()
    for group in inventory.groups.values():
        if group.name is not None:
            img.update(Group(group.name, olevel=group.olevel))
    for name in targets:
        site = inventory.sites[name]
        img.update(Site(name, storage_type=site.storage_type, status=site.status))
        img.sites[name].partitions[img.partitions['Default']].set_quota(site.partitions[partition].quota)
    for name in targets:
        site = inventory.sites[name]
        for replica, members in site.partitions[partition].replicas.items():
            dataset = replica.dataset
            if dataset.name not in img.datasets:
                img.update(Dataset(dataset.name, status=dataset.status, last_update=dataset.last_update))
                for block in dataset.blocks:
                    img.update(Block(block.name, dataset.name, size=block.size, num_files=block.num_files,
                                     last_update=block.last_update))
            img.update(DatasetReplica(dataset.name, name))
            for br in replica.block_replicas:
                if members is not None and br not in members:
                    continue
                complete = br.file_ids is None
                img.update(BlockReplica(f'{dataset.name}#{br.block.name}', name, br.group.name,
                                        size=-1 if complete else br.size, last_update=br.last_update,
                                        file_ids=None if complete else br.file_ids))
    return img, targets


def reference_run(inventory, policy, per_iteration=0.01):
    img, targets = copy_image(inventory, policy)
    partition = img.partitions['Default']
    sp = {name: img.sites[name].partitions[partition] for name in targets}
    triggered = {name for name in targets if any(c.match(sp[name]) for c in policy.when)}
    lines = policy.lines
    final = {}        # (site, dataset, block) -> (decision, line number)
    deleted = {}      # (site, dataset, block) -> line number
    handed = {}       # (site, dataset, block) -> group name
    protected = {}    # (site, dataset) -> bytes protected by its latest evaluation
    dropped = set()
    iterations = 0

    def number(index):
        return policy.default.number if index is None else lines[index].number

    def unlink(replica, items):
        """items: [(br, line number)] -> bytes deleted; hand-over as §7.4 step 5."""
        site, dataset = replica.site.name, replica.dataset.name
        brs = list(replica.block_replicas)
        to_hand = []
        if len(items) == len(brs):
            to_delete = items
        else:
            owners = sorted({b.group.name for b in brs if b.group.olevel == OwnershipLevel.DATASET
                             and b.group.name is not None})
            if not owners:
                to_delete = items
            else:
                to_delete = [(b, n) for b, n in items if b.group.olevel == OwnershipLevel.DATASET]
                to_hand = [(b, n) for b, n in items if b.group.olevel != OwnershipLevel.DATASET]
        size = 0
        for b, n in to_delete:
            key = (site, dataset, b.block.name)
            deleted[key] = n
            final[key] = ('delete', n)
            handed.pop(key, None)
            size += b.size
            img.delete(b)
        for b, n in to_hand:
            key = (site, dataset, b.block.name)
            handed[key] = owners[0]
            changed = img.update(BlockReplica(f'{dataset}#{b.block.name}', site, owners[0],
                                              size=-1 if b.file_ids is None else b.size,
                                              last_update=b.last_update, file_ids=b.file_ids))
            if not partition.contains(changed):
                final[key] = ('keep', n)
                img.delete(changed)
        return size

    def until(name):
        return any(c.match(sp[name]) for c in policy.until)

    while True:
        iterations += 1
        delete_candidates = {}
        for dataset_name in sorted(img.datasets):
            dataset = img.datasets[dataset_name]
            for replica in sorted(dataset.replicas, key=lambda r: r.site.name):
                key = (replica.site.name, dataset_name)
                if key in dropped or not replica.block_replicas:
                    continue
                actions = evaluate(policy, replica)
                remaining = list(replica.block_replicas)
                prot = 0
                for action, index, brs, dataset_level in actions:
                    n = number(index)
                    if dataset_level:
                        brs = [b for b in replica.block_replicas if b in set(remaining)]
                    if action == 'protect':
                        prot += sum(b.size for b in brs)
                        for b in brs:
                            final[(key[0], key[1], b.block.name)] = ('protect', n)
                    elif action == 'delete':
                        unlink(replica, [(b, n) for b in brs])
                        gone = {b for b in brs if b not in replica.block_replicas}
                        remaining = [b for b in remaining if b not in gone]
                        continue
                    else:
                        for b in brs:
                            final[(key[0], key[1], b.block.name)] = ('keep', n)
                        if action == 'dismiss' and key[0] in triggered:
                            delete_candidates.setdefault(key, []).extend((b, n) for b in brs)
                    if dataset_level and action in ('protect', 'ignore'):
                        dropped.add(key)
                    taken = set(brs)
                    remaining = [b for b in remaining if b not in taken]
                protected[key] = prot
        if not delete_candidates:
            break
        if policy.static:
            order = sorted(delete_candidates, key=lambda k: (sort_key(policy, img, k), k[1], k[0]))
        else:
            sites = sorted({k[0] for k in delete_candidates})
            quota = {s: sp[s].quota for s in sites}
            fraction = {s: (sum(v for k, v in protected.items() if k[0] == s) / quota[s]) if quota[s] > 0 else 1.
                        for s in sites}
            selected = min(sites, key=lambda s: (-fraction[s], s))
            order = sorted((k for k in delete_candidates if k[0] == selected),
                           key=lambda k: (sort_key(policy, img, k), k[1]))
        volume = 0
        for key in order:
            site = key[0]
            if site not in triggered:
                continue
            if until(site):
                triggered.discard(site)
                continue
            if not policy.static and sp[site].quota > 0 and volume / sp[site].quota > per_iteration:
                break
            replica = img.sites[site].find_dataset_replica(key[1])
            live = [(b, n) for b, n in delete_candidates[key] if b in replica.block_replicas]
            volume += unlink(replica, live)
            if until(site):
                triggered.discard(site)
                if not policy.static:
                    break
    return {'final': final, 'deleted': deleted, 'handed': handed, 'iterations': iterations}


def evaluate(policy, replica):
    """[(action, line index or None, [brs], dataset level)] of one replica, as the original."""
    subject = ReplicaSubject(replica, list(replica.block_replicas), PLAIN)
    remaining = subject.block_replicas
    result = []
    for index, line in enumerate(policy.lines):
        if line.block_level:
            covered = [b for b in remaining if line.condition.block_match(b, subject)]
            if not covered:
                continue
            if len(covered) == len(remaining):
                return result + [(line.action, index, remaining, True)]
            result.append((line.action, index, covered, False))
            remaining = [b for b in remaining if b not in set(covered)]
            subject.block_replicas = remaining
        elif line.condition.match(subject):
            return result + [(line.action, index, remaining, True)]
    return result + [(policy.default.action, None, remaining, True)]


def sort_key(policy, img, key):
    replica = img.sites[key[0]].find_dataset_replica(key[1])
    return policy.sort_key(ReplicaSubject(replica, list(replica.block_replicas), PLAIN))


def plan_picture(inventory, plan):
    """The plan as the reference's dicts (rows with blocks=None expanded to every block replica)."""
    def blocks(site, dataset, names):
        if names is not None:
            return names
        replica = inventory.sites[site].find_dataset_replica(dataset)
        return [b.block.name for b in replica.block_replicas] or [b.name for b in replica.dataset.blocks]
    final, deleted = {}, {}
    for d in plan.decisions:
        for block in blocks(d.site, d.dataset, d.blocks):
            final[(d.site, d.dataset, block)] = (d.decision, d.line)
            if d.decision == 'delete':
                deleted[(d.site, d.dataset, block)] = d.line
    handed = {(h.site, h.dataset, h.block): h.group for h in plan.handovers}
    return {'final': final, 'deleted': deleted, 'handed': handed, 'iterations': plan.iterations}
