"""What a replica condition looks at: a dataset replica seen through a scope.

A `ReplicaSubject` is a dataset replica with the block replicas a condition may see (a Detox cycle
strips those that block-level lines above already decided). A `Scope` answers the questions that
reach beyond the replica: owners, the other copies of the dataset and of a block. The base Scope
reads the inventory as it is; Detox passes its own scope over the partition image of a cycle.
Nothing here may mutate an inventory object.
"""
from __future__ import annotations

from typing import Iterable, List, Sequence, Tuple

from inventory.objects import BlockReplica, Dataset, DatasetReplica, Group, Site

# one copy of a dataset: (site, is full, owner groups of its block replicas)
Copy = Tuple[Site, bool, frozenset]


class ReplicaSubject:
    """A dataset replica as one evaluation sees it (block_replicas may be a subset of its own)."""
    __slots__ = ('replica', 'dataset', 'site', 'block_replicas', 'scope', 'state')

    def __init__(self, replica: DatasetReplica, block_replicas: Sequence[BlockReplica] = None,
                 scope: 'Scope' = None, state=None):
        self.replica = replica
        self.dataset = replica.dataset
        self.site = replica.site
        self.block_replicas = replica.block_replicas if block_replicas is None else block_replicas
        self.scope = PLAIN if scope is None else scope
        self.state = state   # the scope's own record of this replica (Detox: its per-cycle state)

    def __repr__(self):
        return f'ReplicaSubject({self.dataset.name!r}, {self.site.name!r}, {len(self.block_replicas)} blocks)'


def is_full(dataset: Dataset, block_replicas: Sequence[BlockReplica]) -> bool:
    """Every block of the dataset has a block replica here and every one is complete."""
    if len(block_replicas) != len(dataset.blocks):
        return False
    for br in block_replicas:
        if br._st[3] is not None and not br.is_complete():   # (no file list: complete)
            return False
    return True


class Scope:
    """The inventory as it is: owners are the block replicas' groups, copies are every replica.

    Subclasses (the Detox partition image) override these to see a restricted, changing picture.
    `inventory` is only needed by providers that look at everything (the relative-age provider).
    """

    def __init__(self, inventory=None):
        self.inventory = inventory
        self.unlisted_copies = False   # True: some copies are not in their blocks' replica lists

    def owner(self, br: BlockReplica) -> Group:
        return br.group

    def subject(self, replica: DatasetReplica) -> ReplicaSubject:
        return ReplicaSubject(replica, replica.block_replicas, self)

    def replicas(self, dataset: Dataset) -> Iterable[DatasetReplica]:
        """The dataset replicas this scope holds (the image's replicas for Detox)."""
        return dataset.replicas

    def initial_replicas(self, dataset: Dataset) -> Iterable[DatasetReplica]:
        """The dataset replicas as the scope held them before anything changed (providers that
        tag datasets once per cycle, as the original's attribute producers, look at these)."""
        return dataset.replicas

    def latest_update(self) -> int:
        """The newest block-replica last_update of the scope (0 when unknown)."""
        if self.inventory is None:
            return 0
        latest = 0
        for dataset in self.inventory.datasets.values():
            for replica in dataset.replicas:
                if replica.last_block_created() > latest:
                    latest = replica.last_block_created()
        return latest

    def owners(self, subject: ReplicaSubject) -> frozenset:
        """The owner groups of the block replicas the subject sees."""
        return frozenset(map(self.owner, subject.block_replicas))

    def copies(self, subject: ReplicaSubject) -> List[Copy]:
        """Every copy of the subject's dataset in this scope; the subject's own replica counts as
        the subject sees it (a replica stripped of some blocks is not full)."""
        owner = self.owner
        result = []
        for replica in self.replicas(subject.dataset):
            brs = subject.block_replicas if replica is subject.replica else replica.block_replicas
            result.append((replica.site, is_full(subject.dataset, brs), frozenset(owner(b) for b in brs)))
        return result

    def copies_all(self, subject: ReplicaSubject) -> List[Copy]:
        """As copies(), over every site of the inventory (same as copies() for the plain scope)."""
        return self.copies(subject)

    def may_feed_transfer(self, br: BlockReplica) -> bool:
        """Cheap necessary condition of blockreplica.is_last_transfer_source: br is complete and
        some other replica of its block carries a file list (may be incomplete)."""
        if self.unlisted_copies:
            return True
        if br._st[3] is not None and not br.is_complete():
            return False
        for b in br._block._st[2:]:
            if b._st[3] is not None and b is not br:
                return True
        return False

    def block_copies(self, br: BlockReplica) -> Sequence[BlockReplica]:
        """The block replicas of br's block in this scope, br included."""
        return br.block.replicas

    def block_copies_all(self, br: BlockReplica) -> Sequence[BlockReplica]:
        return br.block.replicas

    def dataset_size(self, dataset: Dataset) -> int:
        return dataset.size


PLAIN = Scope()


def subject_of_block_replica(br: BlockReplica) -> ReplicaSubject:
    """The plain subject of the dataset replica a block replica belongs to."""
    replica = br.site.find_dataset_replica(br.block.dataset_name)
    return ReplicaSubject(replica, replica.block_replicas, PLAIN)
