"""The variables of the condition language, per context, with their types, levels and meanings.

Replica contexts (policy lines, Order, partition definitions) read dataset, replica, block-replica
and site-of-replica variables; the site context (On/When/Until) reads a site partition. Values
never come from outside here: variables marked `provider` are bound to an attribute provider
when a condition is compiled. Getters only read; they must never change an inventory object.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional

from inventory.objects import DataType, DatasetStatus, SiteStatus, StorageType

from .subjects import subject_of_block_replica


class Type(enum.Enum):
    BOOL = 'bool'
    NUMBER = 'number'
    SIZE = 'size'      # bytes; the right-hand side may carry a unit
    TIME = 'time'      # UNIX seconds; the right-hand side is a time expression
    TEXT = 'text'
    ENUM = 'enum'      # a number with names; the right-hand side is a name

    @property
    def ordered(self) -> bool:
        return self in (Type.NUMBER, Type.SIZE, Type.TIME, Type.ENUM)


class Level(enum.Enum):
    DATASET = 'dataset'
    REPLICA = 'replica'
    BLOCK = 'block'          # a block replica: on a dataset replica the value is the list over its blocks
    SITE = 'site'            # the site of the replica (replica contexts)
    SITEPARTITION = 'sitepartition'   # site context: a site partition (quota, occupancy)


@dataclass(frozen=True)
class Variable:
    name: str
    type: Type
    level: Level
    doc: str
    # replica contexts: get(subject), or get(block_replica, subject) at Level.BLOCK;
    # site context: get(site_partition). None for provider variables (bound at compile time).
    get: Optional[Callable] = None
    # optional fast getter on a bare block replica (partition conditions)
    raw: Optional[Callable] = None
    enum: Optional[Mapping[str, int]] = None
    # value given to an unknown enum name instead of an error (dataset.on_tape, as the original)
    enum_fallback: Optional[int] = None
    provider: Optional[str] = None   # kind of attribute provider that supplies it
    image: bool = False              # reads the other copies (changes as a Detox cycle deletes)
    original: bool = True            # in the original Dynamo's tables

    def __repr__(self):
        return f'Variable({self.name!r})'


def _names(cls) -> Dict[str, int]:
    return {m.name: int(m) for m in cls}


# ------------------------------------------------------------------ replica-level helpers
# When the subject sees every block replica of its replica (the list itself), the totals the
# inventory keeps on the replica answer at once.
def _replica_size(s):
    brs = s.block_replicas
    if brs is s.replica.block_replicas:
        return s.replica.size()
    total = 0
    for br in brs:
        size = br._st[2]
        total += br._block.size if size is None else size
    return total


def _replica_incomplete(s):
    for br in s.block_replicas:
        # (no file list: complete, without a call)
        if br._st[3] is not None and not br.is_complete():
            return True
    return False


def _last_block_created(s):
    brs = s.block_replicas
    if brs is s.replica.block_replicas:
        return s.replica.last_block_created()
    latest = 0
    for br in brs:
        if br.last_update > latest:
            latest = br.last_update
    return latest


def _first_block_created(s):
    # (the original's value for a replica without block replicas)
    earliest = 0xffffffff
    for br in s.block_replicas:
        if br.last_update < earliest:
            earliest = br.last_update
    return earliest


def _disk_ready(site):
    return site.storage_type == StorageType.DISK and site.status == SiteStatus.READY


def _num_full_disk_copy(copies):
    return sum(1 for site, full, _ in copies if full and _disk_ready(site))


def _num_full_copy(copies):
    return sum(1 for site, full, _ in copies if full and site.status == SiteStatus.READY)


def _common_owner_disk(s, copies):
    owners = s.scope.owners(s)
    return sum(1 for site, full, rep_owners in copies
               if full and _disk_ready(site) and not owners.isdisjoint(rep_owners))


def _common_owner_other(s, copies):
    owners = s.scope.owners(s)
    here = s.site
    return sum(1 for site, full, rep_owners in copies
               if site is not here and full and site.status == SiteStatus.READY
               and not owners.isdisjoint(rep_owners))


ON_TAPE = {'NONE': 0, 'FULL': 1, 'PARTIAL': 2}


def _on_tape(copies):
    value = 0
    for site, full, _ in copies:
        if site.storage_type == StorageType.MSS:
            if full:
                return 1
            value = 2
    return value


def _release(s):
    version = s.dataset.software_version
    if version is None:
        return ''
    if isinstance(version, str):
        return version
    parts = list(version)
    if len(parts) == 4 and all(isinstance(p, int) for p in parts[:3]):
        head = '_'.join(str(p) for p in parts[:3])
        suffix = str(parts[3] or '').lstrip('_')
        return f'{head}_{suffix}' if suffix else head
    return '_'.join(str(p) for p in parts)


# ------------------------------------------------------------------ block-level helpers
def _owner_name(br, s):
    group = s.scope.owner(br)
    name = group.name
    return 'None' if name is None else name


def _raw_owner_name(br):
    name = br.group.name
    return 'None' if name is None else name


def _complete(br):
    return br._st[3] is None or br.is_complete()


def _block_full_copies(copies):
    n = 0
    for b in copies:
        if _complete(b):
            n += 1
    return n


def _block_on_tape(copies):
    for b in copies:
        if b._site.storage_type == StorageType.MSS and _complete(b):
            return True
    return False


def _last_transfer_source(br, copies):
    if not _complete(br):
        return False
    transfer_ongoing = False
    for other in copies:
        if other is br:
            continue
        if _complete(other):
            if _disk_ready(other._site):
                return False
        else:
            transfer_ongoing = True
    return transfer_ongoing


def _br_complete(br, s=None):
    return br.is_complete()


def _br_size(br, s=None):
    size = br._st[2]
    return br._block.size if size is None else size


# ------------------------------------------------------------------ the replica table
V, T, L = Variable, Type, Level


def _replica_table():
    table = [
        V('dataset.name', T.TEXT, L.DATASET, 'Dataset name (/Primary/Processed/TIER).',
          lambda s: s.dataset._name, raw=lambda br: br._block._dataset._name),
        V('dataset.status', T.ENUM, L.DATASET,
          'Dataset status: UNKNOWN, DELETED, DEPRECATED, INVALID, PRODUCTION, VALID, IGNORED.',
          lambda s: s.dataset.status, raw=lambda br: br._block._dataset.status, enum=_names(DatasetStatus)),
        V('dataset.data_type', T.ENUM, L.DATASET, 'Dataset type: UNKNOWN, PRODUCTION, TEST.',
          lambda s: s.dataset.data_type, raw=lambda br: br._block._dataset.data_type,
          enum=_names(DataType), original=False),
        V('dataset.is_open', T.BOOL, L.DATASET, 'The dataset is still open (may get new blocks).',
          lambda s: s.dataset.is_open, raw=lambda br: br._block._dataset.is_open, original=False),
        V('dataset.on_tape', T.ENUM, L.DATASET,
          'NONE (0), FULL (1: a full replica on a tape site) or PARTIAL (2: only incomplete or partial '
          'tape replicas), over the copies of the partition image. As in the original, any other '
          'name on the right-hand side means FULL (with a warning).',
          lambda s: _on_tape(s.scope.copies(s)), enum=ON_TAPE, enum_fallback=1, image=True),
        V('dataset.on_tape_all_sites', T.ENUM, L.DATASET,
          'As dataset.on_tape, over every site of the inventory.',
          lambda s: _on_tape(s.scope.copies_all(s)), enum=ON_TAPE, enum_fallback=1, image=True,
          original=False),
        V('dataset.tape_copy_requested', T.BOOL, L.DATASET,
          'A tape copy of the dataset has been requested (attribute provider).', provider='dataset'),
        V('dataset.size', T.SIZE, L.DATASET, 'Bytes of the dataset (sum of its block sizes).',
          lambda s: s.scope.dataset_size(s.dataset)),
        V('dataset.last_update', T.TIME, L.DATASET, 'Last update time of the dataset.',
          lambda s: s.dataset.last_update, raw=lambda br: br._block._dataset.last_update),
        V('dataset.last_access', T.TIME, L.DATASET,
          'Last access time of the dataset (popularity provider; 0 = never).', provider='popularity'),
        V('dataset.num_full_disk_copy', T.NUMBER, L.DATASET,
          'Full replicas of the dataset on ready disk sites, among the sites of the partition image '
          '(target sites; only the block replicas in the partition).',
          lambda s: _num_full_disk_copy(s.scope.copies(s)), image=True),
        V('dataset.num_full_disk_copy_all_sites', T.NUMBER, L.DATASET,
          'Full replicas of the dataset on ready disk sites anywhere in the inventory (block replicas '
          'owned by a group; what the cycle already deleted does not count).',
          lambda s: _num_full_disk_copy(s.scope.copies_all(s)), image=True, original=False),
        V('dataset.num_full_copy', T.NUMBER, L.DATASET,
          'Full replicas of the dataset on ready sites of any storage type, in the partition image.',
          lambda s: _num_full_copy(s.scope.copies(s)), image=True, original=False),
        V('dataset.usage_rank', T.NUMBER, L.DATASET, 'Global usage rank (popularity provider).',
          provider='popularity'),
        V('dataset.demand_rank', T.NUMBER, L.DATASET, 'Global demand rank (popularity provider).',
          provider='popularity'),
        V('dataset.release', T.TEXT, L.DATASET,
          'Software release of the dataset: a [cycle, major, minor, suffix] version as '
          'cycle_major_minor[_suffix]; other forms joined with _; "" when unknown.', _release),
        V('dataset.is_latest_production_release', T.BOOL, L.DATASET,
          'The dataset was made with the latest production release (attribute provider).',
          provider='dataset'),
        V('dataset.on_protected_site', T.BOOL, L.DATASET,
          'The dataset has a replica at a protected site, among the sites of the partition image '
          '(protected-sites provider).', provider='protected_sites'),
        V('dataset.on_protected_site_all_sites', T.BOOL, L.DATASET,
          'The dataset has a replica at a protected site anywhere in the inventory (protected-sites '
          'provider).', provider='protected_sites', original=False),
        V('dataset.unknown_in_all_dbs', T.BOOL, L.DATASET,
          'The dataset is unknown to the bookkeeping system (attribute provider).', provider='dataset'),
        V('dataset.unhandled_copy_exists', T.BOOL, L.DATASET,
          'A copy request for the dataset is not handled yet (attribute provider).', provider='dataset'),
        V('replica.size', T.SIZE, L.REPLICA, 'Bytes present in the replica (the block replicas seen).',
          _replica_size),
        V('replica.incomplete', T.BOOL, L.REPLICA, 'Some block replica of the replica is incomplete.',
          _replica_incomplete),
        V('replica.last_block_created', T.TIME, L.REPLICA,
          'Latest last_update of the replica\'s block replicas (0 without block replicas).',
          _last_block_created),
        V('replica.first_block_created', T.TIME, L.REPLICA,
          'Earliest last_update of the replica\'s block replicas.', _first_block_created),
        V('replica.num_access', T.NUMBER, L.REPLICA,
          'Number of accesses to the dataset (popularity provider; per dataset, as the original).',
          provider='popularity'),
        V('replica.num_full_disk_copy_common_owner', T.NUMBER, L.REPLICA,
          'Full replicas on ready disk sites sharing an owner group with this replica (this one '
          'included), among the sites of the partition image.',
          lambda s: _common_owner_disk(s, s.scope.copies(s)), image=True),
        V('replica.num_full_disk_copy_common_owner_all_sites', T.NUMBER, L.REPLICA,
          'As replica.num_full_disk_copy_common_owner, over every site of the inventory.',
          lambda s: _common_owner_disk(s, s.scope.copies_all(s)), image=True, original=False),
        V('replica.num_full_other_copy_common_owner', T.NUMBER, L.REPLICA,
          'Full replicas at other ready sites (any storage) sharing an owner group with this '
          'replica, among the sites of the partition image.',
          lambda s: _common_owner_other(s, s.scope.copies(s)), image=True),
        V('replica.num_full_other_copy_common_owner_all_sites', T.NUMBER, L.REPLICA,
          'As replica.num_full_other_copy_common_owner, over every site of the inventory.',
          lambda s: _common_owner_other(s, s.scope.copies_all(s)), image=True, original=False),
        V('replica.enforcer_protected', T.BOOL, L.REPLICA,
          'An enforcer rule needs this replica (enforcer-protection provider).', provider='enforcer'),
        V('blockreplica.is_last_transfer_source', T.BOOL, L.BLOCK,
          'The block replica is complete, no other complete copy is at a ready disk site, and an '
          'incomplete copy exists (a transfer depends on it); copies of the partition image.',
          lambda br, s: s.scope.may_feed_transfer(br) and _last_transfer_source(br, s.scope.block_copies(br)),
          raw=lambda br: _last_transfer_source(br, br.block.replicas), image=True),
        V('blockreplica.is_last_transfer_source_all_sites', T.BOOL, L.BLOCK,
          'As blockreplica.is_last_transfer_source, over every site of the inventory.',
          lambda br, s: s.scope.may_feed_transfer(br) and _last_transfer_source(br, s.scope.block_copies_all(br)),
          raw=lambda br: _last_transfer_source(br, br.block.replicas), image=True, original=False),
        V('blockreplica.last_update', T.TIME, L.BLOCK, 'Last update time of the block replica.',
          lambda br, s: br.last_update, raw=lambda br: br.last_update),
        V('blockreplica.owner', T.TEXT, L.BLOCK,
          'Name of the owner group of the block replica; None for the null group (no owner).',
          _owner_name, raw=_raw_owner_name),
        V('blockreplica.is_locked', T.BOOL, L.BLOCK, 'The block replica is locked (locks provider).',
          provider='locks'),
        V('blockreplica.num_full_disk_copy', T.NUMBER, L.BLOCK,
          'Complete replicas of the block at any site of the partition image (this one included).',
          lambda br, s: _block_full_copies(s.scope.block_copies(br)),
          raw=lambda br: _block_full_copies(br.block.replicas), image=True),
        V('blockreplica.num_full_disk_copy_all_sites', T.NUMBER, L.BLOCK,
          'Complete replicas of the block anywhere in the inventory.',
          lambda br, s: _block_full_copies(s.scope.block_copies_all(br)),
          raw=lambda br: _block_full_copies(br.block.replicas), image=True, original=False),
        V('blockreplica.on_tape', T.BOOL, L.BLOCK,
          'A complete copy of the block is at a tape site of the partition image.',
          lambda br, s: _block_on_tape(s.scope.block_copies(br)),
          raw=lambda br: _block_on_tape(br.block.replicas), image=True),
        V('blockreplica.on_tape_all_sites', T.BOOL, L.BLOCK,
          'A complete copy of the block is at a tape site anywhere in the inventory.',
          lambda br, s: _block_on_tape(s.scope.block_copies_all(br)),
          raw=lambda br: _block_on_tape(br.block.replicas), image=True, original=False),
        V('blockreplica.age_relative_to_newest', T.NUMBER, L.BLOCK,
          'Seconds between this block replica\'s last_update and the newest one of the partition '
          '(relative-age provider).', provider='relative_age'),
        V('blockreplica.size', T.SIZE, L.BLOCK, 'Bytes present in the block replica.', _br_size,
          raw=_br_size, original=False),
        V('blockreplica.is_complete', T.BOOL, L.BLOCK, 'The block replica has all files of its block.',
          _br_complete, raw=_br_complete, original=False),
        V('blockreplica.is_custodial', T.BOOL, L.BLOCK, 'The block replica is custodial.',
          lambda br, s: br._st[1], raw=lambda br: br._st[1], original=False),
        V('blockreplica.name', T.TEXT, L.BLOCK, 'Name of the block (without the dataset).',
          lambda br, s: br._block._name, raw=lambda br: br._block._name, original=False),
        V('site.name', T.TEXT, L.SITE, 'Name of the site of the replica.',
          lambda s: s.site._name, raw=lambda br: br._site._name),
        V('site.status', T.ENUM, L.SITE, 'Status of the site: READY, WAITROOM, MORGUE, UNKNOWN.',
          lambda s: s.site.status, raw=lambda br: br._site.status, enum=_names(SiteStatus)),
        V('site.storage_type', T.ENUM, L.SITE, 'Storage type of the site: DISK, MSS (tape), BUFFER, UNKNOWN.',
          lambda s: s.site.storage_type, raw=lambda br: br._site.storage_type, enum=_names(StorageType)),
    ]
    return {v.name: v for v in table}


def _site_table():
    table = [
        V('site.name', T.TEXT, L.SITEPARTITION, 'Name of the site.', lambda sp: sp.site.name),
        V('site.status', T.ENUM, L.SITEPARTITION, 'Status of the site: READY, WAITROOM, MORGUE, UNKNOWN.',
          lambda sp: sp.site.status, enum=_names(SiteStatus)),
        V('site.storage_type', T.ENUM, L.SITEPARTITION, 'Storage type: DISK, MSS (tape), BUFFER, UNKNOWN.',
          lambda sp: sp.site.storage_type, enum=_names(StorageType)),
        V('site.occupancy', T.NUMBER, L.SITEPARTITION,
          'Bytes of the partition at the site / its quota. A quota of 0 gives the largest float (the '
          'site is always over any watermark, as in the original); an unlimited (negative) quota gives 0.',
          lambda sp: sp.occupancy_fraction()),
        V('site.quota', T.SIZE, L.SITEPARTITION,
          'Quota of the partition at the site in bytes (0: none set, negative: unlimited).',
          lambda sp: sp.quota),
        V('site.has_quota', T.BOOL, L.SITEPARTITION,
          'The partition has a quota at the site (quota != 0). `site.has_quota and site.occupancy > 0.9` '
          'leaves sites without a quota alone.', lambda sp: sp.quota != 0, original=False),
        V('site.usage', T.SIZE, L.SITEPARTITION, 'Bytes of the partition at the site.',
          lambda sp: sp.usage(), original=False),
        V('never', T.BOOL, L.SITEPARTITION, 'Always false.', lambda sp: False),
        V('always', T.BOOL, L.SITEPARTITION, 'Always true.', lambda sp: True),
    ]
    return {v.name: v for v in table}


REPLICA_VARIABLES: Dict[str, Variable] = _replica_table()
SITE_VARIABLES: Dict[str, Variable] = _site_table()
CONTEXTS = ('replica', 'blockreplica', 'site')


def table(context: str) -> Dict[str, Variable]:
    """The variables a condition of `context` may read."""
    if context in ('replica', 'blockreplica'):
        return REPLICA_VARIABLES
    if context == 'site':
        return SITE_VARIABLES
    raise ValueError(f'unknown condition context {context!r} (expected one of {", ".join(CONTEXTS)})')


def raw_getter(var: Variable, get: Callable) -> Callable:
    """A getter on a bare block replica (partition conditions) for a replica-context variable."""
    if var.raw is not None:
        return var.raw
    if var.level is Level.BLOCK:
        return lambda br: get(br, subject_of_block_replica(br))
    return lambda br: get(subject_of_block_replica(br))

