"""Pure decisions over the RAM image: which files a block replica lacks, which replicas can serve
a file, which of them a transfer takes, and the file list a block replica has after some files
arrived or went. No Django, no storage: the updater calls these and writes what they say.
"""
from dataclasses import dataclass
from typing import NamedTuple

from inventory.objects import BlockReplica, SiteStatus, StorageType


class StoredFile(NamedTuple):
    """A file of a block as the store has it (`checksum`: 'algorithm:value', adler32 when it has one)."""
    id: int
    lfn: str
    size: int
    checksum: str


def find_block_replica(inventory, site_name, dataset_name, block_name):
    """The linked block replica (dataset#block at site), or None."""
    site = inventory.sites.get(site_name)
    dataset = inventory.datasets.get(dataset_name)
    if site is None or dataset is None:
        return None
    block = inventory.find_block(dataset, block_name)
    if block is None:
        return None
    for br in block.replicas:
        if br.site is site:
            return br
    return None


def missing_files(br, files):
    """Of `files` (its block's), those br does not hold, in LFN order."""
    if br.file_ids is None:
        return []
    held = set(br.file_ids)
    return sorted((f for f in files if f.id not in held and f.lfn not in held), key=lambda f: f.lfn)


def held_files(br, files):
    """Of `files` (its block's), those br holds, in LFN order."""
    return sorted((f for f in files if br.has_file(f)), key=lambda f: f.lfn)


def source_replicas(block, lfile, destination):
    """Replicas that can serve `lfile` to `destination`: at a READY site, holding the file."""
    return [br for br in block.replicas
            if br.site.name != destination and br.site.status == SiteStatus.READY and br.has_file(lfile)]


@dataclass(frozen=True)
class Tried:
    """What the attempts from one source said: how many failed, and whether it is worth another."""
    failures: int = 0
    retryable: bool = True


def choose_source(replicas, *, destination, tried, busy):
    """The replica a transfer copies from, or None when none is usable.

    A source that failed in a way that will not change (a corrupted or missing file) is not used
    again. Among the others: the fewest failures (so a retry goes elsewhere when it can), disk before
    tape, replicas that stay before those being deleted (owned by the null group), then the least
    busy link (`busy[(source, destination)]`: tasks queued or active on it)."""
    best, best_key = None, None
    for br in replicas:
        record = tried.get(br.site.name, Tried())
        if not record.retryable:
            continue
        key = (record.failures, br.site.storage_type == StorageType.MSS, br.group.name is None,
               busy.get((br.site.name, destination), 0), br.site.name)
        if best_key is None or key < best_key:
            best, best_key = br, key
    return best


def with_files(br, *, block_files, added=(), removed=(), last_update=0):
    """An unlinked clone of br holding its files plus `added` minus `removed` (file ids of its block),
    complete when that is every file of the block; None when nothing would change. `block_files` is
    {file id: size} of every file of the block.

    Applying the same files twice changes nothing: files already held are not added again, files
    not held are not removed again."""
    block = br.block
    if br.file_ids is None:
        held = set(block_files)
    else:
        held = {fid for fid in br.file_ids if fid in block_files}
    before = set(held)
    held.update(fid for fid in added if fid in block_files)
    held.difference_update(removed)
    if held == before:
        return None
    group = br.group.name
    size = sum(block_files[fid] for fid in held)
    if len(held) == block.num_files and size == block.size:
        return BlockReplica(block.full_name(), br.site.name, group, br.is_custodial, -1, last_update)
    return BlockReplica(block.full_name(), br.site.name, group, br.is_custodial, size, last_update, tuple(sorted(held)))
