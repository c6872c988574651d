"""Sites, partitions and site partitions (quotas and occupancy).

A partition is a named condition over block replicas; a superpartition is the union of its
subpartitions. `SitePartition.replicas` maps each dataset replica with members in the partition to
None (all of its block replicas are members) or to the set of member block replicas; it is kept
up to date by the inventory on every replica change, never recomputed from scratch.
"""
import re
import sys

from .base import ObjectError, SiteStatus, StorageType, add_constants, alias, check_name


def map_lfn(chains, lfn):
    """The PFN the first chain of `[lfn regex, pfn format]` steps that matches all the way makes of
    `lfn` (each step's regex matches the whole of the previous step's result), or None."""
    for chain in chains:
        current = lfn
        for pattern, template in chain:
            match = re.fullmatch(pattern, current)
            if match is None:
                break
            current = template.format(*match.groups())
        else:
            return current
    return None


class Site:
    __slots__ = ('_name', 'id', 'host', 'storage_type', 'backend', 'status', 'filename_mapping',
                 'x509proxy', 'partitions', '_dataset_replicas')

    def __init__(self, name, host='', storage_type=StorageType.DISK, backend='',
                 status=SiteStatus.UNKNOWN, filename_mapping=None, x509proxy=None, id=0, *, sid=None):
        self._name = check_name('site', name)
        self.id = alias(id, sid)
        self.host = host or ''
        self.storage_type = StorageType.parse(storage_type)
        self.backend = backend or ''
        self.status = SiteStatus.parse(status)
        self.filename_mapping = dict(filename_mapping or {})
        self.x509proxy = x509proxy
        self.partitions = {}
        self._dataset_replicas = {}

    name = property(lambda self: self._name)

    def find_dataset_replica(self, dataset):
        name = dataset if isinstance(dataset, str) else dataset.name
        return self._dataset_replicas.get(name)

    def dataset_replicas(self):
        return self._dataset_replicas.values()

    def find_block_replica(self, block):
        if isinstance(block, str):
            dataset_name, _, block_name = block.partition('#')
        else:
            dataset_name, block_name = block.dataset_name, block.name
        replica = self._dataset_replicas.get(dataset_name)
        if replica is None:
            return None
        for br in replica.block_replicas:
            if br.block.name == block_name:
                return br
        return None

    def block_replicas(self):
        for replica in self._dataset_replicas.values():
            yield from replica.block_replicas

    def partition(self, name):
        for partition, site_partition in self.partitions.items():
            if partition.name == name:
                return site_partition
        raise ObjectError(f'site {self._name}: unknown partition {name!r}')

    def to_pfn(self, lfn, protocol):
        return map_lfn(self.filename_mapping.get(protocol, ()), lfn)

    def key(self):
        return self._name

    def values(self):
        mapping = tuple(sorted((p, tuple(tuple(tuple(s) for s in c) for c in chains))
                               for p, chains in self.filename_mapping.items()))
        return (self.host, StorageType.parse(self.storage_type), self.backend, SiteStatus.parse(self.status),
                mapping, self.x509proxy)

    def copy_from(self, other):
        self.host = other.host
        self.storage_type = StorageType.parse(other.storage_type)
        self.backend = other.backend
        self.status = SiteStatus.parse(other.status)
        self.filename_mapping = dict(other.filename_mapping)
        self.x509proxy = other.x509proxy

    def clone(self):
        return Site(self._name, self.host, self.storage_type, self.backend, self.status,
                    self.filename_mapping, self.x509proxy, self.id)

    unlinked_clone = clone
    copy = copy_from

    # the original's helpers (constants TYPE_* and STAT_* are added below the class)
    status_name = staticmethod(SiteStatus.name_of)
    status_val = staticmethod(SiteStatus.parse)
    storage_type_name = staticmethod(StorageType.name_of)
    storage_type_val = staticmethod(StorageType.parse)

    def __repr__(self):
        return f'Site({self._name!r})'


add_constants(Site, 'TYPE_', StorageType)
add_constants(Site, 'STAT_', SiteStatus)


class Condition:
    """A named predicate over block replicas (the policy language will produce richer ones)."""
    __slots__ = ('text', '_predicate')

    def __init__(self, text, predicate):
        self.text = text
        self._predicate = predicate

    def match(self, block_replica):
        return self._predicate(block_replica)

    def __repr__(self):
        return f'Condition({self.text!r})'


OWNED = Condition('blockreplica.owner != None', lambda br: br.group.name is not None)


class Partition:
    __slots__ = ('_name', 'id', '_condition', '_subpartitions', '_parent')

    def __init__(self, name, condition=None, subpartitions=None, id=0, *, pid=None):
        if isinstance(subpartitions, int) and not isinstance(subpartitions, bool):
            subpartitions, id = None, subpartitions    # the original's Partition(name, condition, pid)
        self._name = check_name('partition', name)
        self.id = alias(id, pid)
        self._condition = condition
        self._subpartitions = tuple(subpartitions) if subpartitions else None
        self._parent = None

    name = property(lambda self: self._name)
    subpartitions = property(lambda self: self._subpartitions)
    parent = property(lambda self: self._parent)
    condition = property(lambda self: self._condition)

    @property
    def is_superpartition(self):
        return self._subpartitions is not None

    def contains(self, block_replica):
        if self._subpartitions is not None:
            return any(p.contains(block_replica) for p in self._subpartitions)
        return self._condition is not None and self._condition.match(block_replica)

    def key(self):
        return self._name

    def values(self):
        return ()

    def copy_from(self, other):
        pass

    def clone(self):
        return Partition(self._name, self._condition, self._subpartitions, self.id)

    unlinked_clone = clone
    copy = copy_from

    def __repr__(self):
        return f'Partition({self._name!r})'


class SitePartition:
    __slots__ = ('_site', '_partition', '_quota', 'replicas')

    def __init__(self, site, partition, quota=0):
        self._site = site
        self._partition = partition
        self._quota = quota
        self.replicas = {}

    site = property(lambda self: self._site)
    partition = property(lambda self: self._partition)

    @property
    def site_name(self):
        return self._site if isinstance(self._site, str) else self._site.name

    @property
    def partition_name(self):
        p = self._partition
        return p if isinstance(p, str) else p.name

    @property
    def quota(self):
        """Bytes. 0 means no quota, a negative value means unlimited.

        A superpartition's quota is the sum of its subpartitions' quotas.
        """
        partition = self._partition
        if not isinstance(partition, str) and partition.is_superpartition:
            total = 0
            for sub in partition.subpartitions:
                q = self._site.partitions[sub].quota
                if q < 0:
                    return -1
                total += q
            return total
        return self._quota

    def set_quota(self, quota):
        if not isinstance(self._partition, str) and self._partition.is_superpartition:
            raise ObjectError(f'{self!r}: the quota of a superpartition is the sum of its subpartitions')
        self._quota = quota

    def usage(self, physical=True):
        """Bytes occupied by the block replicas in this partition (projected when physical=False)."""
        total = 0
        for replica, members in self.replicas.items():
            if members is None:
                total += replica.size(physical=physical)
            elif physical:
                total += sum(br.size for br in members)
            else:
                total += sum(br.block.size for br in members)
        return total

    def occupancy_fraction(self, physical=True):
        quota = self.quota
        if quota == 0:
            return sys.float_info.max
        if quota < 0:
            return 0.
        return self.usage(physical) / quota

    def key(self):
        return (self.site_name, self.partition_name)

    def values(self):
        return (self._quota,)

    def copy_from(self, other):
        self.set_quota(other._quota)

    def clone(self):
        return SitePartition(self.site_name, self.partition_name, self._quota)

    unlinked_clone = clone
    copy = copy_from

    def __repr__(self):
        return f'SitePartition({self.site_name!r}, {self.partition_name!r})'
