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


def _block_ref(block):
    """What an unlinked clone holds for its block: the full name it was given, or an unlinked
    Block naming the block and its dataset (never a name to split again)."""
    return block if isinstance(block, str) else Block.named(block.dataset_name, block.name)


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
        physical = projected = last = 0
        for br in self.block_replicas:
            block_size = br._block.size
            size = br._st[2]
            physical += block_size if size is None else size
            projected += block_size
            if br.last_update > last:
                last = br.last_update
        self._bytes = physical
        self._bytes_projected = projected
        self._last_update = last

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
    copy = copy_from

    def is_last_copy(self):
        """True if this is the only replica of its dataset (a linked replica)."""
        replicas = self._dataset.replicas
        return len(replicas) == 1 and replicas[0] is self

    def __repr__(self):
        return f'DatasetReplica({self.dataset_name!r}, {self.site_name!r})'


_SHARED_STATES = {}


def block_replica_state(group, is_custodial, size=None, file_ids=None):
    """The (group, is_custodial, size, file_ids) tuple of a block replica. Complete replicas (size
    and file_ids None) share one tuple per (group, custodial) pair."""
    if size is None and file_ids is None:
        key = (group, is_custodial)
        state = _SHARED_STATES.get(key)
        if state is None:
            state = _SHARED_STATES[key] = (group, is_custodial, None, None)
        return state
    return (group, is_custodial, size, file_ids)


def _state_field(index, name):
    def get(self):
        return self._st[index]

    def set(self, value):
        st = list(self._st)
        st[index] = value
        self._st = block_replica_state(*st)
    return property(get, set, doc=f'{name} (kept in the shared state tuple)')


class BlockReplica:
    # Four slots (64 bytes with the object and GC headers, against 96 for seven): the block
    # replicas are most of the image, and a forked application that walks them copies their pages.
    # group, is_custodial, _size and file_ids live in `_st`, a tuple shared by all complete
    # replicas of one (group, custodial) pair.
    __slots__ = ('_block', '_site', 'last_update', '_st')

    group = _state_field(0, 'group')
    is_custodial = _state_field(1, 'is_custodial')
    _size = _state_field(2, '_size')
    file_ids = _state_field(3, 'file_ids')

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
        custodial = bool(is_custodial)
        self.last_update = check_nonnegative('block replica', 'last_update', last_update)
        if size < 0:
            # full replica; its size is the block's
            self._st = block_replica_state(group, custodial)
        elif file_ids is None:
            if size == 0 and not (isinstance(block, Block) and block.size == 0):
                self._st = (group, custodial, 0, ())
            elif isinstance(block, Block):
                if size != block.size:
                    raise ObjectError(f'{self!r}: size {size} without a file list must equal the block size {block.size}')
                self._st = block_replica_state(group, custodial)
            else:
                self._st = (group, custodial, size, None)   # checked against the block when embedded
        else:
            self._st = (group, custodial, size, tuple(file_ids))

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
        size = self._st[2]
        return self._block.size if size is None else size

    @size.setter
    def size(self, value):
        self._size = value

    @property
    def num_files(self):
        file_ids = self._st[3]
        return self._block.num_files if file_ids is None else len(file_ids)

    def is_complete(self):
        _, _, size, file_ids = self._st
        if file_ids is None:
            return True
        block = self._block
        return size == block.size and len(file_ids) == block.num_files

    def files(self):
        block_files = self._block.files
        if self.file_ids is None:
            return block_files
        wanted = set(self.file_ids)
        return frozenset(f for f in block_files if f.id in wanted or f.lfn in wanted)

    def add_file(self, lfile):
        """This replica now holds `lfile` (a File of its block): its id (or LFN while it has none)
        joins the file list and its size grows; a replica that then holds every file of a linked
        block becomes complete. Changes this object only: call it on a clone, then update()."""
        group, custodial, size, file_ids = self._st
        if file_ids is None or lfile.id in file_ids or lfile.lfn in file_ids:
            return
        file_ids = file_ids + (lfile.id or lfile.lfn,)
        size = (size or 0) + lfile.size
        block = self._block
        if isinstance(block, Block) and len(file_ids) == block.num_files and size == block.size:
            self._st = block_replica_state(group, custodial)
        else:
            self._st = (group, custodial, size, file_ids)

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
        self.last_update = other.last_update
        group, custodial, size, file_ids = other._st
        self._st = block_replica_state(group, custodial, None if file_ids is None else size, file_ids)

    def clone(self):
        size = -1 if self.file_ids is None else self._size
        clone = BlockReplica(self.block_full_name, self.site_name, group_name(self.group),
                             self.is_custodial, size, self.last_update, self.file_ids)
        clone._block = _block_ref(self._block)
        return clone

    unlinked_clone = clone
    copy = copy_from

    def __repr__(self):
        return f'BlockReplica({self.block_full_name!r}, {self.site_name!r})'
