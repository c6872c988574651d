"""The inventory container: the four name-keyed maps and the update/delete semantics.

`update(obj)` never inserts its argument: it embeds a linked clone or copies attribute values into
the existing object. `delete(obj)` finds the object by identifier and cascades. While a journal is
active every mutation is recorded so that the store can persist it and a failure can be undone.
Names and values given by users are checked against `rules` here (not when a logged change set is
replayed: the primary accepted it once).
"""
from .base import ObjectError
from .dataset import Block, Dataset, File
from .group import Group, group_name
from .journal import (DICT_POP, DICT_SET, LIST_APPEND, LIST_REMOVE, RESTORE, SET_ADD, SET_ATTR,
                      SET_DISCARD, Journal, _MISSING)
from .replica import BlockReplica, DatasetReplica, block_replica_state
from .site import OWNED, Partition, Site, SitePartition
from . import rules, serialize

_BLOCK_INDEX_MIN = 64   # datasets with more blocks get a name index while they are being changed
ID_KINDS = ('dataset', 'block', 'site', 'group', 'partition', 'file')


class Inventory:
    def __init__(self, *, with_default_partition=True):
        self.datasets = {}
        self.sites = {}
        self.partitions = {}
        self.null_group = Group.null_group
        self.groups = {None: self.null_group}
        self.next_ids = dict.fromkeys(ID_KINDS, 1)
        self.seq = 0                 # last change set applied to this image
        self.digest = ''             # chained digest of the change-set log up to seq
        self.version = 0             # bumped when a change set begins and ends: memoized answers check it
        self.journal = None
        self._files = None           # file catalog: find(lfn) -> File or None, get_files(block)
        self.memo = {}               # answers derived from this image, valid for one version (selectors)
        self._block_index = {}       # id(dataset) -> {block name: Block}, for big datasets
        self._dataset_bytes = {}     # id(dataset) -> (dataset, sum of its block sizes), in a change set
        if with_default_partition:
            self.partitions['Default'] = Partition('Default', OWNED, id=self._new_id('partition', 0))

    @property
    def files(self):
        """The file catalog of this image (files are not part of it): find(lfn), get_files(block)."""
        return self._files

    @files.setter
    def files(self, catalog):
        # the one place a catalog is installed: blocks (which hold no reference to their inventory,
        # to stay small) read their file lists from the catalog of the image this process serves
        self._files = catalog
        Block.file_source = catalog

    # ---------------------------------------------------------------- journaled primitives
    def _setattr(self, obj, name, value):
        j = self.journal
        if j is not None:
            j.record((SET_ATTR, obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    def _snapshot(self, obj, names):
        j = self.journal
        if j is not None:
            j.record((RESTORE, obj, names, tuple([getattr(obj, name) for name in names])))

    def _list_append(self, lst, item):
        lst.append(item)
        if self.journal is not None:
            self.journal.record((LIST_APPEND, lst))

    def _list_remove(self, lst, item):
        index = lst.index(item)
        del lst[index]
        if self.journal is not None:
            self.journal.record((LIST_REMOVE, lst, index, item))

    def _dict_set(self, d, key, value):
        if self.journal is not None:
            self.journal.record((DICT_SET, d, key, d.get(key, _MISSING)))
        d[key] = value

    def _dict_pop(self, d, key):
        value = d.pop(key)
        if self.journal is not None:
            self.journal.record((DICT_POP, d, key, value))
        return value

    def _set_add(self, s, item):
        if item not in s:
            s.add(item)
            if self.journal is not None:
                self.journal.record((SET_ADD, s, item))

    def _set_discard(self, s, item):
        if item in s:
            s.discard(item)
            if self.journal is not None:
                self.journal.record((SET_DISCARD, s, item))

    def _new_id(self, kind, proposed):
        if self.journal is not None and self.journal.keep_ids and proposed:
            new = proposed
        else:
            new = self.next_ids[kind]
        if new >= self.next_ids[kind]:
            self.next_ids[kind] = new + 1
        return new

    # ---------------------------------------------------------------- change sets
    def begin(self, *, keep_ids=False, undo_limit=5_000_000, sink=None):
        if self.journal is not None:
            raise ObjectError('a change set is already being applied to this inventory')
        self.journal = Journal(keep_ids=keep_ids, undo_limit=undo_limit, sink=sink)
        self.version += 1
        self.journal.saved_ids = dict(self.next_ids)
        return self.journal

    def end(self):
        journal, self.journal = self.journal, None
        self.version += 1
        self._block_index.clear()
        self._dataset_bytes.clear()
        return journal

    def abort(self):
        """Roll back the active change set. Returns False when the image must be reloaded instead."""
        journal = self.end()
        ok = journal.rollback()
        if ok:
            self.next_ids = journal.saved_ids
        return ok

    # ---------------------------------------------------------------- lookups
    def find_dataset(self, name):
        dataset = self.datasets.get(name)
        if dataset is None:
            raise ObjectError(f'Unknown dataset {name}')
        return dataset

    def find_site(self, name):
        site = self.sites.get(name)
        if site is None:
            raise ObjectError(f'Unknown site {name}')
        return site

    def find_group(self, name):
        try:
            return self.groups[name]
        except KeyError:
            raise ObjectError(f'Unknown group {name}') from None

    def find_partition(self, name):
        partition = self.partitions.get(name)
        if partition is None:
            raise ObjectError(f'Unknown partition {name}')
        return partition

    def find_block(self, dataset, name):
        """The block `name` of the linked dataset, or None."""
        if len(dataset.blocks) < _BLOCK_INDEX_MIN:
            return dataset.find_block(name)
        index = self._block_index.get(id(dataset))
        if index is None:
            index = {b.name: b for b in dataset.blocks}
            self._block_index[id(dataset)] = index
        return index.get(name)

    def _resolve_block(self, block):
        if isinstance(block, Block):
            dataset_name, block_name = block.dataset_name, block.name
        else:
            dataset_name, block_name = Block.from_full_name(block)
        dataset = self.find_dataset(dataset_name)
        found = self.find_block(dataset, block_name)
        if found is None:
            raise ObjectError(f'Unknown block {dataset_name}#{block_name}')
        return found

    def find_file(self, lfn):
        if self.journal is not None:
            if lfn in self.journal.file_upserts:
                return self.journal.file_upserts[lfn]
            if lfn in self.journal.file_deletes:
                return None
            if lfn in self.journal.file_lookup:
                return self.journal.file_lookup[lfn]
        if self.files is None:
            return None
        return self.files.find(lfn)

    def _resolve_site(self, site):
        return self.find_site(site if isinstance(site, str) else site.name)

    def _resolve_group(self, group):
        return self.find_group(group_name(group))

    # ---------------------------------------------------------------- update
    def update(self, obj):
        """Embed a clone of obj, or copy its values into the existing object; returns the embedded one."""
        return self.update_checked(obj)[0]

    def update_checked(self, obj):
        """As update(); also says whether anything changed."""
        try:
            handler = _UPDATERS[type(obj)]
        except KeyError:
            raise ObjectError(f'cannot update an object of type {type(obj).__name__}') from None
        embedded, changed = handler(self, obj)
        journal = self.journal
        if changed and journal is not None:
            data = serialize.to_dict(embedded)
            if journal.portable_files and journal.new_files and data.get('file_ids'):
                # ids given here to new files mean nothing to the server: send their LFNs
                data['file_ids'] = [journal.new_files.get(f, f) for f in data['file_ids']]
            journal.emit('u', data)
        return embedded, changed

    def _changed(self, existing, obj, names):
        if existing.values() == obj.values():
            return False
        self._snapshot(existing, names)
        existing.copy_from(obj)
        if self.journal is not None:
            self.journal.mark_modified(existing)
        return True

    def _created(self, obj):
        if self.journal is not None:
            self.journal.mark_created(obj)

    @property
    def _checking(self):
        """True unless a logged change set is being replayed (its ids and values are the primary's)."""
        return self.journal is None or not self.journal.keep_ids

    def _count_dataset_bytes(self, dataset, delta):
        """A block of `dataset` grows (or shrinks) by `delta` bytes: the blocks of one dataset may not
        hold more than rules.MAX_SIZE bytes together. The sums are kept while a change set lasts."""
        journal = self.journal
        cached = self._dataset_bytes.get(id(dataset)) if journal is not None else None
        if cached is None or cached[0] is not dataset:
            if delta <= 0:
                return
            cached = (dataset, sum([b.size for b in dataset.blocks]))
        total = cached[1] + delta
        if delta > 0 and total > rules.MAX_SIZE:
            raise ObjectError(f'dataset {dataset.name}: its blocks would hold {total} bytes together, over '
                              f'the limit {rules.MAX_SIZE} (2**63 - 1)')
        if journal is not None:
            self._dataset_bytes[id(dataset)] = (dataset, total)

    def _update_dataset(self, obj):
        existing = self.datasets.get(obj.name)
        if self._checking:
            rules.check_dataset(obj, existing is None)
        if existing is not None:
            attr_changed = obj._attr and obj._attr != existing._attr
            changed = self._changed(existing, obj, _DATASET_STATE)
            if attr_changed and not changed:
                existing.copy_from(obj)   # transient attributes only: nothing to persist
            return existing, changed
        new = Dataset(obj.name)
        new.copy_from(obj)
        new.id = self._new_id('dataset', obj.id)
        self._dict_set(self.datasets, new.name, new)
        self._created(new)
        return new, True

    def _update_block(self, obj):
        dataset = self.find_dataset(obj.dataset_name)
        existing = self.find_block(dataset, obj.name)
        if self._checking:
            rules.check_block(obj, existing is None)
            delta = obj.size - (0 if existing is None else existing.size)
            if delta:
                self._count_dataset_bytes(dataset, delta)
        if existing is not None:
            old_size = existing.size
            changed = self._changed(existing, obj, _BLOCK_STATE)
            if changed and existing.size != old_size:
                delta = existing.size - old_size
                for br in existing.replicas:
                    replica = br._site._dataset_replicas[dataset.name]
                    self._add_totals(replica, delta if br.file_ids is None else 0, delta)
            return existing, changed
        new = Block(obj.name, dataset, obj.size, obj.num_files, obj.is_open, obj.last_update,
                    id=self._new_id('block', obj.id))
        self._list_append(dataset.blocks, new)
        index = self._block_index.get(id(dataset))
        if index is not None:
            index[new.name] = new
        self._created(new)
        return new, True

    def _update_file(self, obj):
        if obj.block is None:
            raise ObjectError(f'file {obj.lfn}: the block is not given')
        block = self._resolve_block(obj.block)
        existing = self.find_file(obj.lfn)
        if self._checking:
            rules.check_file(obj, existing is None)
        if existing is not None and existing.block_full_name != block.full_name():
            raise ObjectError(f'file {obj.lfn} already belongs to block {existing.block_full_name}')
        if existing is not None and (existing.size, existing.checksum) == (obj.size, obj.checksum):
            return existing, False
        file_id = existing.id if existing is not None else self._new_id('file', obj.id)
        new = File(obj.lfn, block, obj.size, obj.checksum, id=file_id)
        # files live only in the store: outside a change set there is nothing to record
        if self.journal is not None:
            if existing is None:
                self.journal.new_files[file_id] = obj.lfn
            self.journal.file_deletes.pop(obj.lfn, None)
            self.journal.file_upserts[obj.lfn] = new
        return new, True

    def _update_site(self, obj):
        existing = self.sites.get(obj.name)
        if self._checking:
            rules.check_site(obj, existing is None)
        if existing is not None:
            return existing, self._changed(existing, obj, _SITE_STATE)
        new = obj.clone()
        new.id = self._new_id('site', obj.id)
        self._dict_set(self.sites, new.name, new)
        for partition in self.partitions.values():
            new.partitions[partition] = SitePartition(new, partition)
        self._created(new)
        return new, True

    def _update_group(self, obj):
        if obj.name is None:
            return self.null_group, False
        existing = self.groups.get(obj.name)
        if self._checking:
            rules.check_group(obj, existing is None)
        if existing is not None:
            return existing, self._changed(existing, obj, ('olevel',))
        new = Group(obj.name, obj.olevel, id=self._new_id('group', obj.id))
        self._dict_set(self.groups, new.name, new)
        self._created(new)
        return new, True

    def _update_partition(self, obj):
        existing = self.partitions.get(obj.name)
        if existing is not None:
            return existing, False
        if self._checking:
            rules.check_partition(obj, True)
        subs = None
        if obj.subpartitions:
            subs = [self.find_partition(p if isinstance(p, str) else p.name) for p in obj.subpartitions]
        new = Partition(obj.name, obj.condition, subs, id=self._new_id('partition', obj.id))
        for sub in subs or ():
            self._setattr(sub, '_parent', new)
        self._dict_set(self.partitions, new.name, new)
        for site in self.sites.values():
            sp = SitePartition(site, new)
            self._dict_set(site.partitions, new, sp)
            for replica in site.dataset_replicas():
                members = [br for br in replica.block_replicas if new.contains(br)]
                if members:
                    sp.replicas[replica] = None if len(members) == len(replica.block_replicas) else set(members)
        self._created(new)
        return new, True

    def _update_sitepartition(self, obj):
        site = self.find_site(obj.site_name)
        partition = self.find_partition(obj.partition_name)
        existing = site.partitions[partition]
        if self._checking:
            rules.check_quota(obj)
        if existing._quota == obj._quota:
            return existing, False
        if partition.is_superpartition:
            raise ObjectError(f'{existing!r}: the quota of a superpartition is the sum of its subpartitions')
        self._setattr(existing, '_quota', obj._quota)
        if self.journal is not None:
            self.journal.mark_modified(existing)
        return existing, True

    def _update_datasetreplica(self, obj):
        dataset = self.find_dataset(obj.dataset_name)
        site = self.find_site(obj.site_name)
        group = self._resolve_group(obj.group)
        existing = site.find_dataset_replica(dataset.name)
        if existing is not None:
            if (existing.growing, existing.group) == (obj.growing, group):
                return existing, False
            self._snapshot(existing, ('growing', 'group'))
            existing.growing = obj.growing
            existing.group = group
            if self.journal is not None:
                self.journal.mark_modified(existing)
            return existing, True
        new = DatasetReplica(dataset, site, obj.growing, group)
        self._list_append(dataset.replicas, new)
        self._dict_set(site._dataset_replicas, dataset.name, new)
        self._created(new)
        return new, True

    def _update_blockreplica(self, obj):
        if self._checking:
            rules.check_block_replica(obj)
        block = self._resolve_block(obj.block)
        site = self._resolve_site(obj.site)
        group = self._resolve_group(obj.group)
        replica = site.find_dataset_replica(block.dataset_name)
        if replica is None:
            raise ObjectError(f'no replica of dataset {block.dataset_name} at {site.name}: '
                              f'update the DatasetReplica before its block replicas')
        file_ids = obj.file_ids
        size = obj._size
        if file_ids is None:
            if size is not None and size != block.size:
                raise ObjectError(f'{obj!r}: size {size} without a file list must equal the block size {block.size}')
            size = None
        else:
            file_ids = tuple(self._resolve_file_id(block, f) for f in file_ids)
        existing = None
        for br in block.replicas:
            if br._site is site:
                existing = br
                break
        if existing is not None:
            new_values = (group, obj.is_custodial, size, obj.last_update, file_ids)
            old_values = (existing.group, existing.is_custodial, existing._size, existing.last_update,
                          existing.file_ids)
            if new_values == old_values:
                return existing, False
            self._snapshot(existing, _BLOCKREPLICA_STATE)
            if self.journal is not None:
                self.journal.mark_modified(existing)
                if existing.file_ids != file_ids:
                    self.journal.file_lists[id(existing)] = existing
            old_size, old_last = existing.size, existing.last_update
            existing._st = block_replica_state(group, obj.is_custodial, size, file_ids)
            existing.last_update = obj.last_update
            self._add_totals(replica, existing.size - old_size, 0, old_last, existing.last_update)
            self._refresh_membership(site, replica, existing)
            return existing, True
        new = BlockReplica.__new__(BlockReplica)
        new._block, new._site, new.last_update = block, site, obj.last_update
        new._st = block_replica_state(group, obj.is_custodial, size, file_ids)
        self._list_append(replica.block_replicas, new)
        self._setattr(block, 'replicas', block.replicas + (new,))
        self._add_totals(replica, new.size, block.size, None, new.last_update)
        for partition, sp in site.partitions.items():
            if partition.contains(new):
                self._partition_add(sp, replica, new)
            elif sp.replicas.get(replica, _MISSING) is None:
                # "all block replicas are members" no longer holds
                self._dict_set(sp.replicas, replica, {b for b in replica.block_replicas if b is not new})
        self._created(new)
        return new, True

    def _resolve_file_id(self, block, entry):
        if isinstance(entry, int) and not isinstance(entry, bool):
            return entry
        if not isinstance(entry, str):
            raise ObjectError(f'block replica of {block.full_name()}: invalid file entry {entry!r}')
        found = self.find_file(entry)
        if found is None:
            return entry           # not yet in the store: kept as the LFN
        if found.block_full_name != block.full_name():
            raise ObjectError(f'file {entry} belongs to block {found.block_full_name}, not {block.full_name()}')
        return found.id

    # ---------------------------------------------------------------- partition membership
    def _partition_add(self, sp, replica, br):
        """br (already in replica.block_replicas) is now a member of sp."""
        members = sp.replicas.get(replica, _MISSING)
        if members is _MISSING:
            if len(replica.block_replicas) == 1:
                self._dict_set(sp.replicas, replica, None)
            else:
                self._dict_set(sp.replicas, replica, {br})
        elif members is not None:
            self._set_add(members, br)
            if len(members) == len(replica.block_replicas):
                self._dict_set(sp.replicas, replica, None)

    def _partition_remove(self, sp, replica, br, leaving):
        """br is no longer a member of sp; `leaving` says it is also leaving the dataset replica."""
        members = sp.replicas.get(replica, _MISSING)
        if members is _MISSING:
            return
        remaining = len(replica.block_replicas) - (1 if leaving else 0)
        if members is None:
            if remaining == 0 or (not leaving and remaining == 1):
                self._dict_pop(sp.replicas, replica)
            elif not leaving:
                self._dict_set(sp.replicas, replica, {b for b in replica.block_replicas if b is not br})
            return
        self._set_discard(members, br)
        if not members:
            self._dict_pop(sp.replicas, replica)
        elif len(members) == remaining:
            self._dict_set(sp.replicas, replica, None)

    def _refresh_membership(self, site, replica, br):
        for partition, sp in site.partitions.items():
            members = sp.replicas.get(replica, _MISSING)
            was = members is not _MISSING and (members is None or br in members)
            now = partition.contains(br)
            if now and not was:
                self._partition_add(sp, replica, br)
            elif was and not now:
                self._partition_remove(sp, replica, br, leaving=False)

    def _add_totals(self, replica, delta_bytes, delta_projected, old_last=None, new_last=None):
        """Keep a dataset replica's totals right: sizes by delta; the latest update given the
        block replica update time that left (old_last) and the one that arrived (new_last)."""
        if delta_bytes:
            self._setattr(replica, '_bytes', replica._bytes + delta_bytes)
        if delta_projected:
            self._setattr(replica, '_bytes_projected', replica._bytes_projected + delta_projected)
        if new_last is not None and new_last > replica._last_update:
            self._setattr(replica, '_last_update', new_last)
        elif old_last is not None and old_last >= replica._last_update and old_last != new_last:
            self._setattr(replica, '_last_update', max([b.last_update for b in replica.block_replicas], default=0))

    def compute_membership(self, site, replica):
        """Fill every site partition and the totals of one dataset replica (bulk load; no journal)."""
        replica.compute_totals()
        brs = replica.block_replicas
        for partition, sp in site.partitions.items():
            members = [br for br in brs if partition.contains(br)]
            if not members:
                continue
            sp.replicas[replica] = None if len(members) == len(brs) else set(members)

    # ---------------------------------------------------------------- delete
    def delete(self, obj):
        """Remove the object with obj's identifier (cascading); returns the removed object or None."""
        try:
            handler = _DELETERS[type(obj)]
        except KeyError:
            raise ObjectError(f'cannot delete an object of type {type(obj).__name__}') from None
        removed = handler(self, obj)
        if removed is not None and self.journal is not None:
            self.journal.emit('d', serialize.to_dict(removed))
        return removed

    def _removed(self, obj):
        if self.journal is not None:
            self.journal.mark_removed(obj)

    def _delete_dataset(self, obj):
        dataset = self.datasets.get(obj.name)
        if dataset is None:
            return None
        for replica in list(dataset.replicas):
            self._unlink_datasetreplica(replica)
        for block in list(dataset.blocks):
            self._unlink_block(block)
        self._dict_pop(self.datasets, dataset.name)
        self._removed(dataset)
        return dataset

    def _delete_block(self, obj):
        dataset = self.datasets.get(obj.dataset_name)
        block = dataset and self.find_block(dataset, obj.name)
        if block is None:
            return None
        self._unlink_block(block)
        return block

    def _unlink_block(self, block):
        for br in block.replicas:
            self._unlink_blockreplica(br)
        dataset = block.dataset
        self._list_remove(dataset.blocks, block)
        index = self._block_index.get(id(dataset))
        if index is not None:
            index.pop(block.name, None)
        cached = self._dataset_bytes.get(id(dataset))
        if cached is not None and cached[0] is dataset:
            self._dataset_bytes[id(dataset)] = (dataset, cached[1] - block.size)
        self._removed(block)

    def _delete_file(self, obj):
        existing = self.find_file(obj.lfn)
        if existing is None:
            return None
        block = self._resolve_block(existing.block_full_name)
        for br in block.replicas:
            if br.file_ids is not None and existing.id in br.file_ids:
                self._snapshot(br, ('_st',))
                old_size = br._size
                br.file_ids = tuple(f for f in br.file_ids if f != existing.id)
                br._size = max(0, br._size - existing.size)
                self._add_totals(br.site.find_dataset_replica(block.dataset_name), br._size - old_size, 0)
                if self.journal is not None:
                    self.journal.mark_modified(br)
                    self.journal.file_lists[id(br)] = br
        removed = File(existing.lfn, block, existing.size, existing.checksum, id=existing.id)
        if self.journal is not None:
            self.journal.file_upserts.pop(existing.lfn, None)
            self.journal.file_deletes[existing.lfn] = removed
        return removed

    def _delete_site(self, obj):
        site = self.sites.get(obj.name)
        if site is None:
            return None
        for replica in list(site.dataset_replicas()):
            self._unlink_datasetreplica(replica)
        self._dict_pop(self.sites, site.name)
        self._removed(site)
        return site

    def _delete_group(self, obj):
        if obj.name is None:
            raise ObjectError('the null group cannot be deleted')
        group = self.groups.get(obj.name)
        if group is None:
            return None
        for site in self.sites.values():
            for replica in site.dataset_replicas():
                if replica.group is group:
                    self._setattr(replica, 'group', self.null_group)
                    if self.journal is not None:
                        self.journal.mark_modified(replica)
                for br in replica.block_replicas:
                    if br.group is group:
                        self._setattr(br, 'group', self.null_group)
                        if self.journal is not None:
                            self.journal.mark_modified(br)
                        self._refresh_membership(site, replica, br)
        self._dict_pop(self.groups, group.name)
        self._removed(group)
        return group

    def _delete_partition(self, obj):
        partition = self.partitions.get(obj.name)
        if partition is None:
            return None
        for other in self.partitions.values():
            if other.subpartitions and partition in other.subpartitions:
                raise ObjectError(f'partition {partition.name} is a subpartition of {other.name}')
        for site in self.sites.values():
            self._dict_pop(site.partitions, partition)
        self._dict_pop(self.partitions, partition.name)
        self._removed(partition)
        return partition

    def _delete_sitepartition(self, obj):
        raise ObjectError(f'{obj!r}: a site partition cannot be deleted (delete the partition or the site)')

    def _delete_datasetreplica(self, obj):
        site = self.sites.get(obj.site_name)
        replica = site and site.find_dataset_replica(obj.dataset_name)
        if replica is None:
            return None
        self._unlink_datasetreplica(replica)
        return replica

    def _unlink_datasetreplica(self, replica):
        site = replica.site
        for br in list(replica.block_replicas):
            self._unlink_blockreplica(br, cascade=False)
        for sp in site.partitions.values():
            if replica in sp.replicas:
                self._dict_pop(sp.replicas, replica)
        self._dict_pop(site._dataset_replicas, replica.dataset.name)
        self._list_remove(replica.dataset.replicas, replica)
        self._removed(replica)

    def _delete_blockreplica(self, obj):
        dataset_name, block_name = (Block.from_full_name(obj.block) if isinstance(obj.block, str)
                                    else (obj.block.dataset_name, obj.block.name))
        site = self.sites.get(obj.site_name)
        dataset = self.datasets.get(dataset_name)
        if site is None or dataset is None:
            return None
        block = self.find_block(dataset, block_name)
        if block is None:
            return None
        for br in block.replicas:
            if br.site is site:
                self._unlink_blockreplica(br)
                return br
        return None

    def _unlink_blockreplica(self, br, cascade=True):
        site, block = br.site, br.block
        replica = site.find_dataset_replica(block.dataset_name)
        for sp in site.partitions.values():
            self._partition_remove(sp, replica, br, leaving=True)
        self._list_remove(replica.block_replicas, br)
        self._setattr(block, 'replicas', tuple(b for b in block.replicas if b is not br))
        if cascade:   # (a dataset replica being removed whole needs no totals)
            self._add_totals(replica, -br.size, -block.size, br.last_update, None)
        self._removed(br)
        if cascade and not replica.block_replicas:
            # the last block replica takes its dataset replica with it, growing or not
            self._setattr(replica, 'growing', False)
            self._unlink_datasetreplica(replica)


_DATASET_STATE = ('status', 'data_type', 'software_version', 'last_update', 'is_open', '_attr')
_BLOCK_STATE = ('size', 'num_files', 'is_open', 'last_update')
_SITE_STATE = ('host', 'storage_type', 'backend', 'status', 'filename_mapping', 'x509proxy')
_BLOCKREPLICA_STATE = ('_st', 'last_update')

_UPDATERS = {
    Dataset: Inventory._update_dataset, Block: Inventory._update_block, File: Inventory._update_file,
    Site: Inventory._update_site, Group: Inventory._update_group,
    Partition: Inventory._update_partition, SitePartition: Inventory._update_sitepartition,
    DatasetReplica: Inventory._update_datasetreplica, BlockReplica: Inventory._update_blockreplica,
}
_DELETERS = {
    Dataset: Inventory._delete_dataset, Block: Inventory._delete_block, File: Inventory._delete_file,
    Site: Inventory._delete_site, Group: Inventory._delete_group,
    Partition: Inventory._delete_partition, SitePartition: Inventory._delete_sitepartition,
    DatasetReplica: Inventory._delete_datasetreplica, BlockReplica: Inventory._delete_blockreplica,
}
