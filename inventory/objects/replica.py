"""Dataset replicas and block replicas.

A complete block replica stores no size and no file list (both follow from its block); an
incomplete one carries its size and a tuple of file ids (or LFNs for files not yet in the store).
"""
from .base import ObjectError, check_nonnegative
from .dataset import Block, Dataset
from .group import Group, group_name
from .site import Site


def _site_name(site):
    return site if isinstance(site, str) else site.name


class DatasetReplica:
    # _bytes, _bytes_projected and _last_update are totals over the block replicas, kept up to
    # date by the inventory on every change (a full pass over the sites then costs no replica walk)
    __slots__ = ('_dataset', '_site', 'growing', 'group', 'block_replicas', '_bytes', '_bytes_projected',
                 '_last_update')

    def __init__(self, dataset, site, growing=False, group=None):
        if not isinstance(dataset, (str, Dataset)) or not isinstance(site, (str, Site)):
            raise ObjectError('dataset replica needs a dataset and a site (objects or names)')
        self._dataset = dataset
        self._site = site
        self.growing = bool(growing)
        self.group = group
        self.block_replicas = []
        self._bytes = 0
        self._bytes_projected = 0
        self._last_update = 0

    dataset = property(lambda self: self._dataset)
    site = property(lambda self: self._site)

    @property
    def dataset_name(self):
        return self._dataset if isinstance(self._dataset, str) else self._dataset.name

    @property
    def site_name(self):
        return _site_name(self._site)

    def is_complete(self):
        return all(br.is_complete() for br in self.block_replicas)

    def is_full(self):
        return len(self.block_replicas) == len(self._dataset.blocks) and self.is_complete()

    def is_partial(self):
        return len(self.block_replicas) < len(self._dataset.blocks) and self.is_complete()

    def size(self, physical=True):
        """Bytes present (physical) or bytes once complete (projected) over the block replicas."""
        return self._bytes if physical else self._bytes_projected

    def last_block_created(self):
        """The latest last_update of the block replicas (0 if none)."""
        return self._last_update

    def compute_totals(self):
        brs = self.block_replicas
        self._bytes = sum([br.size for br in brs])
        self._bytes_projected = sum([br._block.size for br in brs])
        self._last_update = max([br.last_update for br in brs], default=0)

    def find_block_replica(self, block):
        name = block if isinstance(block, str) else block.name
        for br in self.block_replicas:
            if br.block.name == name:
                return br
        return None

    def key(self):
        return (self.dataset_name, self.site_name)

    def values(self):
        return (self.growing, group_name(self.group))

    def copy_from(self, other):
        self.growing = other.growing
        self.group = other.group

    def clone(self):
        return DatasetReplica(self.dataset_name, self.site_name, self.growing, group_name(self.group))

    unlinked_clone = clone

    def __repr__(self):
        return f'DatasetReplica({self.dataset_name!r}, {self.site_name!r})'


class BlockReplica:
    __slots__ = ('_block', '_site', 'group', 'is_custodial', '_size', 'last_update', 'file_ids')

    def __init__(self, block, site, group=None, is_custodial=False, size=-1, last_update=0,
                 file_ids=None):
        if not isinstance(block, (str, Block)) or not isinstance(site, (str, Site)):
            raise ObjectError('block replica needs a block and a site (objects or names)')
        if group is not None and not isinstance(group, (str, Group)):
            raise ObjectError('block replica group must be a Group, a group name or None')
        if isinstance(size, bool) or not isinstance(size, int):
            raise ObjectError(f'block replica size must be an integer, got {size!r}')
        self._block = block
        self._site = site
        self.group = group
        self.is_custodial = bool(is_custodial)
        self.last_update = check_nonnegative('block replica', 'last_update', last_update)
        if size < 0:
            # full replica; its size is the block's
            self._size = None
            self.file_ids = None
        elif file_ids is None:
            if size == 0 and not (isinstance(block, Block) and block.size == 0):
                self._size = 0
                self.file_ids = ()
            elif isinstance(block, Block):
                if size != block.size:
                    raise ObjectError(f'{self!r}: size {size} without a file list must equal the block size {block.size}')
                self._size = None
                self.file_ids = None
            else:
                self._size = size  # checked against the block when embedded
                self.file_ids = None
        else:
            self._size = size
            self.file_ids = tuple(file_ids)

    block = property(lambda self: self._block)
    site = property(lambda self: self._site)

    @property
    def block_full_name(self):
        b = self._block
        return b if isinstance(b, str) else b.full_name()

    @property
    def site_name(self):
        return _site_name(self._site)

    @property
    def size(self):
        if self._size is None:
            return self._block.size
        return self._size

    @size.setter
    def size(self, value):
        self._size = value

    @property
    def num_files(self):
        if self.file_ids is None:
            return self._block.num_files
        return len(self.file_ids)

    def is_complete(self):
        if self.file_ids is None:
            return True
        block = self._block
        return self._size == block.size and len(self.file_ids) == block.num_files

    def files(self):
        block_files = self._block.files
        if self.file_ids is None:
            return block_files
        wanted = set(self.file_ids)
        return frozenset(f for f in block_files if f.id in wanted or f.lfn in wanted)

    def has_file(self, lfile):
        if self.file_ids is None:
            return True
        return lfile.id in self.file_ids or lfile.lfn in self.file_ids

    def key(self):
        return (self.block_full_name, self.site_name)

    def values(self):
        # complete replicas compare equal whatever their recorded size (it is the block's)
        size = -1 if self.file_ids is None else self._size
        return (group_name(self.group), self.is_custodial, size, self.last_update, self.file_ids)

    def copy_from(self, other):
        self.group = other.group
        self.is_custodial = other.is_custodial
        self.last_update = other.last_update
        self.file_ids = other.file_ids
        self._size = None if other.file_ids is None else other._size

    def clone(self):
        size = -1 if self.file_ids is None else self._size
        return BlockReplica(self.block_full_name, self.site_name, group_name(self.group),
                            self.is_custodial, size, self.last_update, self.file_ids)

    unlinked_clone = clone

    def __repr__(self):
        return f'BlockReplica({self.block_full_name!r}, {self.site_name!r})'
