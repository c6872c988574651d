"""Datasets, blocks and files of the RAM image.

Objects are plain `__slots__` classes. A link attribute holds either the parent object (linked) or
the parent's name (an unlinked clone; for the block of a file or block replica, the "dataset#block"
name a user gave or an unlinked Block naming both); only `Inventory.update` links objects into the
graph.
File lists never live in RAM: `Block.files` goes through the installed file source (a bounded cache).
"""
from .base import (DataType, DatasetStatus, ObjectError, add_constants, alias, check_name,
                   check_nonnegative)
from .rules import CHECKSUM_ALGORITHMS


class Dataset:
    __slots__ = ('_name', 'id', 'status', 'data_type', 'software_version', 'last_update', 'is_open',
                 'blocks', 'replicas', '_attr')

    def __init__(self, name, status=DatasetStatus.UNKNOWN, data_type=DataType.UNKNOWN,
                 software_version=None, last_update=0, is_open=True, id=0, *, did=None):
        self._name = check_name('dataset', name)
        self.id = alias(id, did)
        self.status = DatasetStatus.parse(status)
        self.data_type = DataType.parse(data_type)
        self.software_version = software_version
        self.last_update = check_nonnegative('dataset', 'last_update', last_update)
        self.is_open = bool(is_open)
        self.blocks = []
        self.replicas = []
        self._attr = None

    name = property(lambda self: self._name)

    @property
    def attr(self):
        """Free-form, transient attributes filled by policies (never persisted or sent)."""
        if self._attr is None:
            self._attr = {}
        return self._attr

    @property
    def size(self):
        return sum(b.size for b in self.blocks)

    @property
    def num_files(self):
        return sum(b.num_files for b in self.blocks)

    @property
    def files(self):
        result = set()
        for block in self.blocks:
            result.update(block.files)
        return result

    def find_block(self, name):
        for block in self.blocks:
            if block._name == name:
                return block
        return None

    def find_file(self, lfn):
        for block in self.blocks:
            f = block.find_file(lfn)
            if f is not None:
                return f
        return None

    def find_replica(self, site):
        site_name = site if isinstance(site, str) else site.name
        for replica in self.replicas:
            if replica.site.name == site_name:
                return replica
        return None

    def key(self):
        return self._name

    def values(self):
        return (DatasetStatus.parse(self.status), DataType.parse(self.data_type), self.software_version,
                self.last_update, self.is_open)

    def copy_from(self, other):
        # enumerations may have been set as names or numbers on a clone
        self.status = DatasetStatus.parse(other.status)
        self.data_type = DataType.parse(other.data_type)
        self.software_version = other.software_version
        self.last_update = other.last_update
        self.is_open = other.is_open
        if other._attr:
            self._attr = dict(other._attr)

    def clone(self):
        c = Dataset(self._name, self.status, self.data_type, self.software_version,
                    self.last_update, self.is_open, self.id)
        return c

    unlinked_clone = clone
    copy = copy_from           # the original's name

    # the original's helpers (constants STAT_* and TYPE_* are added below the class)
    status_name = staticmethod(DatasetStatus.name_of)
    status_val = staticmethod(DatasetStatus.parse)
    data_type_name = staticmethod(DataType.name_of)
    data_type_val = staticmethod(DataType.parse)

    @staticmethod
    def format_software_version(value):
        """The software version as shown to people: the value itself (no experiment's convention)."""
        return value

    def __repr__(self):
        return f'Dataset({self._name!r})'


add_constants(Dataset, 'STAT_', DatasetStatus)
add_constants(Dataset, 'TYPE_', DataType)


class Block:
    # Six slots (80 bytes with the object and GC headers, against 96 for eight): num_files,
    # is_open and the replicas share one tuple, `_st` = (num_files, is_open, *replicas). A forked
    # application that walks every block copies the blocks' pages; smaller blocks, fewer pages.
    __slots__ = ('_name', '_dataset', 'id', 'size', 'last_update', '_st')

    # Installed by the store (server or child process): an object with get_files(block) and
    # invalidate(block). None means "no file catalog": every block has no files.
    file_source = None

    def __init__(self, name, dataset, size=0, num_files=0, is_open=False, last_update=0, id=0,
                 internal_name=True, *, bid=None):
        # (internal_name: the original could keep a compressed form of block names; ours are as given)
        self._name = check_name('block', name)
        if not isinstance(dataset, (str, Dataset)):
            raise ObjectError(f'block {name!r}: dataset must be a Dataset or a dataset name')
        self._dataset = dataset
        self.id = alias(id, bid)
        self.size = check_nonnegative('block', 'size', size)
        self._st = (check_nonnegative('block', 'num_files', num_files), bool(is_open))
        self.last_update = check_nonnegative('block', 'last_update', last_update)

    @property
    def num_files(self):
        return self._st[0]

    @num_files.setter
    def num_files(self, value):
        self._st = (value,) + self._st[1:]

    @property
    def is_open(self):
        return self._st[1]

    @is_open.setter
    def is_open(self, value):
        st = self._st
        self._st = (st[0], value) + st[2:]

    @property
    def replicas(self):
        """The block replicas, a tuple."""
        return self._st[2:]

    @replicas.setter
    def replicas(self, value):
        self._st = self._st[:2] + tuple(value)

    name = property(lambda self: self._name)
    dataset = property(lambda self: self._dataset)

    @property
    def dataset_name(self):
        d = self._dataset
        return d if isinstance(d, str) else d._name

    def full_name(self):
        return f'{self.dataset_name}#{self._name}'

    @staticmethod
    def from_full_name(full_name):
        """'dataset#block' -> (dataset, block). Dataset names cannot hold '#' (rules.py), so the first
        '#' separates them; the wire format never needs this (it sends the two names apart)."""
        if not isinstance(full_name, str):
            raise ObjectError(f'invalid block full name {full_name!r} (expected "dataset#block")')
        dataset, sep, block = full_name.partition('#')
        if not sep or not dataset or not block:
            raise ObjectError(f'invalid block full name {full_name!r} (expected "dataset#block")')
        return dataset, block

    @staticmethod
    def to_full_name(dataset_name, block_name):
        return f'{dataset_name}#{block_name}'

    # the original's internal (compressed) block names: here the internal name is the real name
    @staticmethod
    def to_internal_name(name):
        return name

    to_real_name = to_internal_name

    def real_name(self):
        return self._name

    @classmethod
    def named(cls, dataset_name, name):
        """An unlinked block that only names itself and its dataset (decoded references); no checks."""
        block = cls.__new__(cls)
        block._name = name
        block._dataset = dataset_name
        block.id = block.size = block.last_update = 0
        block._st = (0, False)
        return block

    @property
    def files(self):
        source = Block.file_source
        if source is None or not self.id:
            return frozenset()
        return source.get_files(self)

    def find_file(self, lfn):
        for f in self.files:
            if f.lfn == lfn:
                return f
        return None

    def find_replica(self, site):
        site_name = site if isinstance(site, str) else site.name
        for replica in self.replicas:
            if replica.site.name == site_name:
                return replica
        return None

    def key(self):
        return (self.dataset_name, self._name)

    def values(self):
        return (self.size, self.num_files, self.is_open, self.last_update)

    def copy_from(self, other):
        self.size = other.size
        self.num_files = other.num_files
        self.is_open = other.is_open
        self.last_update = other.last_update

    def clone(self):
        return Block(self._name, self.dataset_name, self.size, self.num_files, self.is_open,
                     self.last_update, self.id)

    unlinked_clone = clone
    copy = copy_from

    def __repr__(self):
        return f'Block({self.full_name()!r})'


class File:
    __slots__ = ('_lfn', '_block', 'id', 'size', 'checksum')

    # checksum is a tuple of (algorithm, value) pairs; these are the algorithms it may name
    checksum_algorithms = CHECKSUM_ALGORITHMS

    def __init__(self, lfn, block=None, size=0, checksum=(), id=0, *, fid=None):
        self._lfn = check_name('file', lfn)
        if block is not None and not isinstance(block, (str, Block)):
            raise ObjectError(f'file {lfn!r}: block must be a Block or a full block name')
        self._block = block
        self.id = alias(id, fid)
        self.size = check_nonnegative('file', 'size', size)
        self.checksum = tuple(tuple(pair) for pair in checksum)

    lfn = property(lambda self: self._lfn)
    name = lfn
    block = property(lambda self: self._block)

    @property
    def block_full_name(self):
        b = self._block
        if b is None or isinstance(b, str):
            return b
        return b.full_name()

    def key(self):
        return self._lfn

    def values(self):
        return (self.block_full_name, self.size, self.checksum)

    def copy_from(self, other):
        self.size = other.size
        self.checksum = other.checksum

    def clone(self):
        block = self._block
        if isinstance(block, Block):
            block = Block.named(block.dataset_name, block.name)
        return File(self._lfn, block, self.size, self.checksum, self.id)

    unlinked_clone = clone
    copy = copy_from

    def __eq__(self, other):
        return isinstance(other, File) and self._lfn == other._lfn

    def __hash__(self):
        return hash(self._lfn)

    def __repr__(self):
        return f'File({self._lfn!r})'
