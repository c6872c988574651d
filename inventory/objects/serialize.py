"""Safe, versioned, JSON-compatible form of every inventory object.

Each dict carries a type tag `_t` and a format version `_v`. Decoding builds unlinked clones (links
are names) and validates every field; it never evaluates anything.

Version 2 names the block of a File or BlockReplica by two fields, `dataset` and `block`, so that no
name is ever split to decode it. Version 1 (change sets logged before) sent the full name
"dataset#block" in `block`; it is still decoded, splitting at the first '#'.
"""
from .base import (DataType, DatasetStatus, ObjectError, OwnershipLevel, SiteStatus, StorageType)
from .dataset import Block, Dataset, File
from .group import Group, group_name
from .replica import BlockReplica, DatasetReplica
from .site import Partition, Site, SitePartition

VERSION = 2
VERSIONS = (1, 2)


def _ref(obj):
    return obj if obj is None or isinstance(obj, str) else obj.name


def to_dict(obj):
    t = type(obj)
    if t is Dataset:
        # (enumerations may have been set as names or numbers on a clone)
        return {'_t': 'Dataset', '_v': VERSION, 'name': obj.name, 'status': DatasetStatus.name_of(obj.status),
                'data_type': DataType.name_of(obj.data_type), 'software_version': obj.software_version,
                'last_update': obj.last_update, 'is_open': obj.is_open, 'id': obj.id}
    if t is Block:
        return {'_t': 'Block', '_v': VERSION, 'name': obj.name, 'dataset': obj.dataset_name,
                'size': obj.size, 'num_files': obj.num_files, 'is_open': obj.is_open,
                'last_update': obj.last_update, 'id': obj.id}
    if t is File:
        dataset, block = _block_names(obj._block)
        return {'_t': 'File', '_v': VERSION, 'lfn': obj.lfn, 'dataset': dataset, 'block': block,
                'size': obj.size, 'checksum': [list(p) for p in obj.checksum], 'id': obj.id}
    if t is Site:
        return {'_t': 'Site', '_v': VERSION, 'name': obj.name, 'host': obj.host,
                'storage_type': StorageType.name_of(obj.storage_type), 'backend': obj.backend,
                'status': SiteStatus.name_of(obj.status),
                'filename_mapping': {p: [[list(step) for step in chain] for chain in chains]
                                     for p, chains in obj.filename_mapping.items()},
                'x509proxy': obj.x509proxy, 'id': obj.id}
    if t is Group:
        return {'_t': 'Group', '_v': VERSION, 'name': obj.name, 'olevel': OwnershipLevel.name_of(obj.olevel),
                'id': obj.id}
    if t is Partition:
        subs = [_ref(p) for p in obj.subpartitions] if obj.subpartitions else None
        return {'_t': 'Partition', '_v': VERSION, 'name': obj.name, 'subpartitions': subs,
                'condition': obj.condition.text if obj.condition is not None else None,
                'id': obj.id}
    if t is SitePartition:
        return {'_t': 'SitePartition', '_v': VERSION, 'site': obj.site_name,
                'partition': obj.partition_name, 'quota': obj._quota}
    if t is DatasetReplica:
        return {'_t': 'DatasetReplica', '_v': VERSION, 'dataset': obj.dataset_name,
                'site': obj.site_name, 'growing': obj.growing, 'group': group_name(obj.group)}
    if t is BlockReplica:
        complete = obj.file_ids is None
        dataset, block = _block_names(obj._block)
        return {'_t': 'BlockReplica', '_v': VERSION, 'dataset': dataset, 'block': block,
                'site': obj.site_name, 'group': group_name(obj.group),
                'is_custodial': obj.is_custodial, 'size': -1 if complete else obj._size,
                'last_update': obj.last_update,
                'file_ids': None if complete else list(obj.file_ids)}
    raise ObjectError(f'cannot serialize an object of type {t.__name__}')


def _block_names(block):
    """(dataset name, block name) of a block link: a Block, a full name given by a user, or None."""
    if block is None:
        return None, None
    if isinstance(block, str):
        return Block.from_full_name(block)
    return block.dataset_name, block.name


class _Fields:
    """Typed access to a decoded dict, with errors that name the object and the field."""

    def __init__(self, d, kind):
        self.d = d
        self.kind = kind

    def _fail(self, field, expected):
        raise ObjectError(f'{self.kind}: field {field!r} must be {expected}, got {self.d.get(field)!r}')

    def str(self, field, default=..., none=False):
        value = self.d.get(field, default)
        if value is ...:
            raise ObjectError(f'{self.kind}: missing field {field!r}')
        if value is None and none:
            return None
        if not isinstance(value, str):
            self._fail(field, 'a string')
        return value

    def int(self, field, default=..., minimum=None):
        value = self.d.get(field, default)
        if value is ...:
            raise ObjectError(f'{self.kind}: missing field {field!r}')
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(field, 'an integer')
        if minimum is not None and value < minimum:
            self._fail(field, f'an integer >= {minimum}')
        return value

    def bool(self, field, default=...):
        value = self.d.get(field, default)
        if value is ...:
            raise ObjectError(f'{self.kind}: missing field {field!r}')
        if not isinstance(value, bool):
            self._fail(field, 'true or false')
        return value

    def enum(self, field, enum_cls, default):
        return enum_cls.parse(self.d.get(field, default))


def from_dict(d):
    if not isinstance(d, dict):
        raise ObjectError(f'an inventory object must be a JSON object, got {type(d).__name__}')
    tag = d.get('_t')
    version = d.get('_v', VERSION)
    if type(version) is not int or version not in VERSIONS:
        raise ObjectError(f'unsupported serialization version {version!r} for {tag!r}')
    try:
        decoder = _DECODERS[tag]
    except (KeyError, TypeError):
        raise ObjectError(f'unknown object type tag {tag!r}') from None
    return decoder(_Fields(d, tag))


def _block_ref(f, required=True):
    """The block a File or BlockReplica dict names, as an unlinked Block (or None)."""
    if f.d.get('_v', VERSION) == 1:
        full_name = f.str('block') if required else f.str('block', None, none=True)
        if full_name is None:
            return None
        return Block.named(*Block.from_full_name(full_name))
    dataset = f.str('dataset') if required else f.str('dataset', None, none=True)
    block = f.str('block') if required else f.str('block', None, none=True)
    if (dataset is None) != (block is None):
        f._fail('dataset' if dataset is None else 'block', 'a name when the other is given')
    if block is None:
        return None
    if not dataset or not block:
        f._fail('dataset' if not dataset else 'block', 'a non-empty string')
    return Block.named(dataset, block)


def _dataset(f):
    sv = f.d.get('software_version')
    if isinstance(sv, list):
        sv = tuple(sv)
    return Dataset(f.str('name'), f.enum('status', DatasetStatus, 'unknown'),
                   f.enum('data_type', DataType, 'unknown'), sv, f.int('last_update', 0, 0),
                   f.bool('is_open', True), f.int('id', 0, 0))


def _block(f):
    return Block(f.str('name'), f.str('dataset'), f.int('size', 0, 0), f.int('num_files', 0, 0),
                 f.bool('is_open', False), f.int('last_update', 0, 0), f.int('id', 0, 0))


def _file(f):
    checksum = f.d.get('checksum') or []
    if not isinstance(checksum, list) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) for x in p)
            for p in checksum):
        f._fail('checksum', 'a list of [algorithm, value] pairs')
    return File(f.str('lfn'), _block_ref(f, required=False), f.int('size', 0, 0), checksum,
                f.int('id', 0, 0))


def _site(f):
    mapping = f.d.get('filename_mapping') or {}
    if not isinstance(mapping, dict):
        f._fail('filename_mapping', 'an object {protocol: [[[lfn_regex, pfn_format], ...], ...]}')
    clean = {}
    for protocol, chains in mapping.items():
        try:
            clean[protocol] = [[(str(a), str(b)) for a, b in chain] for chain in chains]
        except (TypeError, ValueError):
            f._fail('filename_mapping', 'an object {protocol: [[[lfn_regex, pfn_format], ...], ...]}')
    return Site(f.str('name'), f.str('host', ''), f.enum('storage_type', StorageType, 'disk'),
                f.str('backend', ''), f.enum('status', SiteStatus, 'unknown'), clean,
                f.str('x509proxy', None, none=True), f.int('id', 0, 0))


def _group(f):
    return Group(f.str('name', None, none=True), f.enum('olevel', OwnershipLevel, 'block'),
                 f.int('id', 0, 0))


def _unbound(block_replica):
    return False


def _partition(f):
    """A Partition whose condition is its text only: it matches nothing until the write path
    compiles it (inventory.store.bind_condition; the objects know no condition language)."""
    subs = f.d.get('subpartitions')
    if subs is not None and (not isinstance(subs, list) or not all(isinstance(s, str) for s in subs)):
        f._fail('subpartitions', 'a list of partition names or null')
    from .site import OWNED, Condition
    text = f.str('condition', None, none=True)
    condition = None
    if text is not None:
        condition = OWNED if text == OWNED.text else Condition(text, _unbound)
    return Partition(f.str('name'), condition, subs, f.int('id', 0, 0))


def _sitepartition(f):
    quota = f.int('quota', 0)
    return SitePartition(f.str('site'), f.str('partition'), quota)


def _datasetreplica(f):
    return DatasetReplica(f.str('dataset'), f.str('site'), f.bool('growing', False),
                          f.str('group', None, none=True))


def _blockreplica(f):
    d = f.d
    dataset, block, site, group = d.get('dataset'), d.get('block'), d.get('site'), d.get('group')
    size, last_update, custodial = d.get('size', -1), d.get('last_update', 0), d.get('is_custodial', False)
    if (d.get('file_ids') is None and size == -1 and type(dataset) is str and dataset and type(block) is str
            and block and type(site) is str and site and (group is None or type(group) is str)
            and type(last_update) is int and last_update >= 0 and type(custodial) is bool
            and d.get('_v') == VERSION):
        # fast path for the common case (complete replica, well-typed): same checks, fewer calls
        return BlockReplica(Block.named(dataset, block), site, group, custodial, -1, last_update, None)
    file_ids = f.d.get('file_ids')
    if file_ids is not None:
        if not isinstance(file_ids, list) or not all(
                (isinstance(x, int) and not isinstance(x, bool)) or isinstance(x, str) for x in file_ids):
            f._fail('file_ids', 'null or a list of file ids and LFNs')
    size = f.int('size', -1)
    if size < -1:
        f._fail('size', '-1 (complete) or a non-negative integer')
    block = _block_ref(f)
    # built on the full name, which the constructor only keeps: a size without a file list is then
    # checked against the real block when the replica is embedded
    replica = BlockReplica(block.full_name(), f.str('site'), f.str('group', None, none=True),
                           f.bool('is_custodial', False), size, f.int('last_update', 0, 0), file_ids)
    replica._block = block
    return replica


_DECODERS = {
    'Dataset': _dataset, 'Block': _block, 'File': _file, 'Site': _site, 'Group': _group,
    'Partition': _partition, 'SitePartition': _sitepartition, 'DatasetReplica': _datasetreplica,
    'BlockReplica': _blockreplica,
}
