"""The partition image of one Detox cycle: per-cycle state over a read-only RAM inventory.

The original cloned the target sites' partition into a repository of its own and deleted from
it; here the inventory is only read, and what the cycle changes (block replicas removed, owners
handed over) lives in these records. The CycleScope makes the condition language see the image.
Nothing here may write to an inventory object.
"""
from __future__ import annotations

import sys
from typing import Dict, List, Optional

from inventory.objects import BlockReplica, OwnershipLevel, StorageType
from policy import ReplicaSubject, Scope, is_full


class SiteState:
    """A target site in the image; also the subject of When/Until (as a site partition)."""
    __slots__ = ('site', 'name', 'site_partition', 'quota', 'usage_bytes', 'usage_before', 'triggered',
                 'was_triggered', 'protected_bytes', 'heap', 'until_reached')

    def __init__(self, site, site_partition):
        self.site = site
        self.name = site.name
        self.site_partition = site_partition
        self.quota = site_partition.quota
        self.usage_bytes = 0
        self.usage_before = 0
        self.triggered = False
        self.was_triggered = False
        self.protected_bytes = 0
        self.heap = []
        self.until_reached = False

    def usage(self, physical=True):
        return self.usage_bytes

    def occupancy_fraction(self, physical=True):
        return occupancy(self.usage_bytes, self.quota)

    def protected_fraction(self):
        # (the original: quota <= 0 counts as fully protected)
        return self.protected_bytes / self.quota if self.quota > 0 else 1.

    @property
    def partition(self):
        return self.site_partition.partition


def occupancy(usage, quota):
    if quota == 0:
        return sys.float_info.max
    if quota < 0:
        return 0.
    return usage / quota


class ReplicaState:
    """A dataset replica of the image: its live block replicas and what the cycle decided."""
    __slots__ = ('replica', 'dataset_state', 'site_state', 'brs', 'initial', 'live_set', 'alive', 'dropped',
                 'segments', 'protected_bytes', 'key', 'seq', 'candidate_iteration', 'deleted', 'handed',
                 'full_cache', 'owners_cache', 'placeholder')

    def __init__(self, replica, dataset_state, site_state, brs, live_set, placeholder=False):
        self.replica = replica
        self.dataset_state = dataset_state
        self.site_state = site_state
        self.brs = brs                  # live block replicas in the image (never the inventory's list mutated)
        self.initial = brs              # the block replicas in the image when the cycle started
        self.live_set = live_set        # None: every block replica of the replica is live
        self.alive = True
        self.dropped = False            # decided for good (Protect or Ignore): not evaluated again
        self.segments = ()              # latest evaluation without deletes: ((action, line index, [brs],
        #                                 dataset level, bytes), ...)
        self.protected_bytes = 0
        self.key = None
        self.seq = 0
        self.candidate_iteration = 0
        self.deleted = None             # {br: line index} once something was deleted
        self.handed = None              # {br: (group, line index)} block replicas handed over
        self.full_cache = None
        self.owners_cache = None
        self.placeholder = placeholder

    def contains(self, br) -> bool:
        live = self.live_set
        return live is None or br in live

    def full_and_owners(self, scope):
        if self.full_cache is None:
            self.full_cache = is_full(self.replica.dataset, self.brs)
            self.owners_cache = frozenset(map(scope.owner, self.brs))
        return self.full_cache, self.owners_cache

    def changed(self):
        self.full_cache = None
        self.owners_cache = None
        self.dataset_state.copies_all_cache = None


class DatasetState:
    __slots__ = ('dataset', 'by_site', 'states', 'copies_all_cache', 'placeholders')

    def __init__(self, dataset):
        self.dataset = dataset
        self.by_site: Dict[object, ReplicaState] = {}
        self.states: List[ReplicaState] = []
        self.copies_all_cache = None
        self.placeholders = None        # {block: [placeholder block replicas]} (tape targets)


class CycleScope(Scope):
    """What conditions see during a cycle: the image's copies, owners after hand-overs."""

    def __init__(self, inventory, datasets: Dict[object, DatasetState], latest: int):
        super().__init__(inventory)
        self.datasets = datasets
        # placeholders are incomplete copies their blocks do not list
        self.unlisted_copies = any(ds.placeholders for ds in datasets.values())
        self.overrides: Dict[BlockReplica, object] = {}
        self._latest = latest

    def owners(self, subject):
        state = subject.state
        if state is not None and subject.block_replicas is state.brs:
            return state.full_and_owners(self)[1]
        return super().owners(subject)

    def owner(self, br):
        if self.overrides:
            group = self.overrides.get(br)
            if group is not None:
                return group
        return br._st[0]

    def subject(self, replica):
        ds = self.datasets[replica.dataset]
        state = ds.by_site[replica.site]
        return ReplicaSubject(replica, state.brs, self, state)

    def replicas(self, dataset):
        ds = self.datasets.get(dataset)
        return [] if ds is None else [s.replica for s in ds.states if s.alive]

    def initial_replicas(self, dataset):
        ds = self.datasets.get(dataset)
        return [] if ds is None else [s.replica for s in ds.states]

    def latest_update(self) -> int:
        return self._latest

    def dataset_size(self, dataset):
        return dataset.size

    def copies(self, subject):
        own = subject.state
        brs = subject.block_replicas
        result = []
        for rs in own.dataset_state.states:
            if not rs.alive:
                continue
            if rs is own and brs is not rs.brs:
                owner = self.owner
                result.append((rs.site_state.site, is_full(subject.dataset, brs), frozenset(owner(b) for b in brs)))
            else:
                full, owners = rs.full_and_owners(self)
                result.append((rs.site_state.site, full, owners))
        return result

    def copies_all(self, subject):
        ds = subject.state.dataset_state
        if ds.copies_all_cache is None:
            owner = self.owner
            dataset = subject.dataset
            result = []
            for replica in dataset.replicas:
                rs = ds.by_site.get(replica.site)
                deleted = rs.deleted if rs is not None and rs.deleted else None
                brs = [b for b in replica.block_replicas
                       if owner(b).name is not None and not (deleted and b in deleted)]
                if brs:
                    result.append((replica.site, is_full(dataset, brs), frozenset(owner(b) for b in brs)))
            ds.copies_all_cache = result
        return ds.copies_all_cache

    def block_copies(self, br):
        block = br._block
        ds = self.datasets[block._dataset]
        by_site = ds.by_site
        result = []
        for b in block._st[2:]:
            rs = by_site.get(b._site)
            if rs is not None and rs.alive:
                live = rs.live_set
                if live is None or b in live:
                    result.append(b)
        if ds.placeholders:
            result.extend(b for b in ds.placeholders.get(block, ()) if by_site[b._site].contains(b))
        return result

    def block_copies_all(self, br):
        block = br._block
        ds = self.datasets[block._dataset]
        owner = self.owner
        result = []
        for b in block._st[2:]:
            if owner(b).name is None:
                continue
            rs = ds.by_site.get(b._site)
            if rs is not None and rs.deleted and b in rs.deleted:
                continue
            result.append(b)
        return result


def placeholder(block, site, null_group) -> BlockReplica:
    """A zero-size block replica of the null group, standing in for a block of an empty tape
    replica (the original's safety measure for tape targets). Linked to nothing."""
    br = BlockReplica.__new__(BlockReplica)
    br._block = block
    br._site = site
    br.last_update = 0
    br._st = (null_group, False, 0, ())
    return br


def build(inventory, partition, sites: List[SiteState]):
    """The DatasetStates (in dataset-name order) of the target sites' partition, and the newest
    block-replica update time in it."""
    datasets: Dict[object, DatasetState] = {}
    latest = 0
    for ss in sites:
        sp = ss.site_partition
        usage = 0
        if ss.site.storage_type == StorageType.MSS:
            _tape_placeholders(inventory, ss, datasets)
        for replica, members in sp.replicas.items():
            dataset = replica.dataset
            ds = datasets.get(dataset)
            if ds is None:
                ds = datasets[dataset] = DatasetState(dataset)
            if members is None:
                brs = replica.block_replicas
                live = None
                usage += replica.size()
                last = replica.last_block_created()
            else:
                brs = [br for br in replica.block_replicas if br in members]
                live = set(brs)
                usage += sum(br.size for br in brs)
                last = max(br.last_update for br in brs)
            if last > latest:
                latest = last
            rs = ReplicaState(replica, ds, ss, brs, live)
            ds.by_site[ss.site] = rs
            ds.states.append(rs)
        ss.usage_bytes = ss.usage_before = usage
    ordered = {}
    for dataset in sorted(datasets, key=lambda d: d.name):
        ds = datasets[dataset]
        ds.states.sort(key=lambda s: s.site_state.name)
        ordered[dataset] = ds
    return ordered, latest


def _tape_placeholders(inventory, ss, datasets):
    null = inventory.null_group
    for replica in ss.site.dataset_replicas():
        if replica.block_replicas or not replica.dataset.blocks or replica in ss.site_partition.replicas:
            continue
        dataset = replica.dataset
        ds = datasets.get(dataset)
        if ds is None:
            ds = datasets[dataset] = DatasetState(dataset)
        brs = [placeholder(block, ss.site, null) for block in dataset.blocks]
        rs = ReplicaState(replica, ds, ss, brs, None, placeholder=True)
        ds.by_site[ss.site] = rs
        ds.states.append(rs)
        if ds.placeholders is None:
            ds.placeholders = {}
        for br in brs:
            ds.placeholders.setdefault(br._block, []).append(br)


def dataset_level_owner(brs, owner) -> Optional[object]:
    """The group that owns the dataset replica at the dataset level, if any: of the owners with
    ownership level Dataset, the first by name (the original took whichever its set gave first)."""
    best = None
    for br in brs:
        group = owner(br)
        if group.olevel == OwnershipLevel.DATASET and group.name is not None:
            if best is None or group.name < best.name:
                best = group
    return best


def with_owner(br, group) -> BlockReplica:
    """A copy of br owned by `group`, linked to nothing (to ask a partition whether it would
    still hold br after a hand-over)."""
    clone = BlockReplica.__new__(BlockReplica)
    clone._block = br._block
    clone._site = br._site
    clone.last_update = br.last_update
    st = br._st
    clone._st = (group, st[1], st[2], st[3])
    return clone
