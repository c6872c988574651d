"""The only module that talks both ORM/SQL and RAM objects: loads the image, persists journals.

Loading streams rows with raw cursors (never one model instance per row). Persisting turns the
journal of one change set into batched SQL, deletes first, inside the caller's transaction.
"""
import json
import logging
import time
from collections import OrderedDict

from django.db import connections

from inventory import models as m
from inventory.objects import (Block, BlockReplica, Dataset, DatasetReplica, File, Group,
                               Inventory, ObjectError, Partition, Site, SitePartition)
from inventory.objects.base import (DataType, DatasetStatus, OwnershipLevel, SiteStatus,
                                    StorageType)
from inventory.objects.replica import block_replica_state
from inventory.objects.site import OWNED, Condition
from policy import PolicyError, compile_condition

log = logging.getLogger('dynamo.store')

T = {name: model._meta.db_table for name, model in (
    ('partition', m.Partition), ('site', m.Site), ('quota', m.Quota), ('group', m.Group),
    ('dataset', m.Dataset), ('block', m.Block), ('file', m.File),
    ('dataset_replica', m.DatasetReplica), ('block_replica', m.BlockReplica),
    ('brf', m.BlockReplicaFile))}
BATCH = 1000


# ------------------------------------------------------------------------------------ partitions
def partition_condition(text):
    """The Condition of a partition's definition text (the policy language over a block replica).
    Raises ObjectError when the text does not compile."""
    if text == OWNED.text:
        return OWNED      # the common case, without the compiled predicate's indirection
    try:
        return compile_condition(text, 'blockreplica').to_condition()
    except PolicyError as exc:
        raise ObjectError(f"partition condition {text!r}: {exc.message} (column {exc.column})") from None


def bind_condition(obj):
    """A decoded Partition (its condition only text, as change sets carry it) with its condition
    compiled; any other object as it is."""
    if type(obj) is not Partition or obj.condition is None:
        return obj
    return Partition(obj.name, partition_condition(obj.condition.text), obj.subpartitions, obj.id)


def _stored_condition(name, text):
    if not text:
        return None
    try:
        return partition_condition(text)
    except ObjectError as exc:
        # accepted once, refused now (the language changed): the partition holds nothing until fixed
        log.error('partition %s: %s; it holds no block replica until its definition is loaded again', name, exc)
        return Condition(text, lambda br: False)


# ------------------------------------------------------------------------------------ cursors
def _stream(sql, params=(), using='default'):
    """Iterate over the rows of a query without buffering the result set client-side."""
    connection = connections[using]
    if connection.vendor == 'mysql':
        import MySQLdb.cursors
        connection.ensure_connection()
        cursor = connection.connection.cursor(MySQLdb.cursors.SSCursor)
        try:
            cursor.execute(sql, params)
            while True:
                rows = cursor.fetchmany(10000)
                if not rows:
                    break
                yield from rows
        finally:
            cursor.close()
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            while True:
                rows = cursor.fetchmany(10000)
                if not rows:
                    break
                yield from rows


def _first(sql, using='default'):
    """The first row of a (small) query, or None."""
    with connections[using].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


def _scalar(sql, using='default'):
    row = _first(sql, using)
    return row[0] if row else None


# ------------------------------------------------------------------------------------ load
class _Progress:
    def __init__(self, callback):
        self.callback = callback
        self.start = time.monotonic()

    def step(self, what, count):
        elapsed = time.monotonic() - self.start
        log.info('loaded %d %s (%.1f s)', count, what, elapsed, extra={'objects': what, 'count': count})
        if self.callback:
            self.callback(what, count, elapsed)


def _slab(cls, count):
    """Hand out `count` instances of `cls` allocated back to back before any row is read, then
    fresh ones. Objects of one size class allocated in a row share their memory pages with nothing
    else, so a forked application that walks them (and so writes their reference counts) copies
    only their pages, not the pages of the names and row tuples that would otherwise sit between
    them."""
    new = cls.__new__
    yield from [new(cls) for _ in range(count)]
    while True:
        yield new(cls)


def _count(table, using='default'):
    return _scalar(f'SELECT COUNT(*) FROM {table}', using) or 0


def current_seq(using='default'):
    return _scalar(f'SELECT seq FROM {m.InventoryState._meta.db_table} WHERE id = 1', using) or 0


def load(progress=None, using='default', on_snapshot=None):
    """Build the whole RAM image (files excepted) from the database `using`, as of one consistent
    snapshot (MariaDB) so that writers may go on meanwhile; `on_snapshot()` is called once that
    snapshot is open. Returns (inventory, seq)."""
    import gc

    from django.db import transaction
    enabled = gc.isenabled()
    gc.disable()   # millions of new objects and no garbage: collecting meanwhile is a third of the time
    try:
        conn = connections[using]
        if conn.vendor == 'mysql' and not conn.in_atomic_block:   # (a caller's transaction is its own)
            with transaction.atomic(using=using), conn.cursor() as cursor:
                # one read view for every query (Django's own default level is READ COMMITTED)
                cursor.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
                cursor.execute('START TRANSACTION WITH CONSISTENT SNAPSHOT')
                return _load(progress, using, on_snapshot)
        return _load(progress, using, on_snapshot)
    finally:
        if enabled:
            gc.enable()


def _load(progress, using, on_snapshot=None):
    def stream(sql):
        return _stream(sql, using=using)

    def scalar(sql):
        return _scalar(sql, using)

    def count(table):
        return _count(table, using)

    p = _Progress(progress)
    inv = Inventory(with_default_partition=False)
    seq, inv.digest = _first(f'SELECT seq, digest FROM {m.InventoryState._meta.db_table} WHERE id = 1',
                             using) or (0, '')
    if on_snapshot is not None:
        on_snapshot()
    sv_cache = {}
    stamps = {}
    stamp = stamps.setdefault

    partitions_by_id = {}
    subs = {}
    for pid, name, condition, subpartitions in stream(
            f'SELECT id, name, condition_text, subpartitions FROM {T["partition"]} ORDER BY id'):
        part = Partition(name, _stored_condition(name, condition), id=pid)
        partitions_by_id[pid] = part
        inv.partitions[name] = part
        if subpartitions:
            subs[part] = subpartitions.split(',')
    if 'Default' not in inv.partitions:
        # no row (a flushed store): the implicit Default every inventory has, whose quotas may be
        # stored all the same and which a stored superpartition may name
        pid = 1 if 1 not in partitions_by_id else max(partitions_by_id) + 1
        inv.partitions['Default'] = partitions_by_id[pid] = Partition('Default', OWNED, id=pid)
    for part, names in subs.items():
        part._subpartitions = tuple(inv.partitions[n] for n in names)
        for sub in part._subpartitions:
            sub._parent = part
    p.step('partitions', len(inv.partitions))

    groups_by_id = {None: inv.null_group}
    for gid, name, olevel in stream(f'SELECT id, name, olevel FROM {T["group"]}'):
        g = Group(name, OwnershipLevel(olevel), id=gid)
        inv.groups[name] = g
        groups_by_id[gid] = g
    p.step('groups', len(inv.groups))

    sites_by_id = {}
    for sid, name, host, stype, backend, status, mapping, proxy in stream(
            f'SELECT id, name, host, storage_type, backend, status, filename_mapping, x509proxy FROM {T["site"]}'):
        site = Site(name, host, StorageType(stype), backend, SiteStatus(status),
                    {k: [[tuple(s) for s in c] for c in v] for k, v in json.loads(mapping or '{}').items()},
                    proxy, id=sid)
        for part in inv.partitions.values():
            site.partitions[part] = SitePartition(site, part)
        inv.sites[name] = site
        sites_by_id[sid] = site
    for site_id, partition_id, quota in stream(f'SELECT site_id, partition_id, quota FROM {T["quota"]}'):
        site = sites_by_id.get(site_id)
        part = partitions_by_id.get(partition_id)
        if site is not None and part is not None:
            site.partitions[part]._quota = quota
    p.step('sites', len(inv.sites))

    # What a full pass reads (block sizes, the own state of incomplete replicas) is made first,
    # while the allocator has few holes: these objects then sit together on their own pages.
    empty = ()
    sizes = [size for size, in stream(f'SELECT size FROM {T["block"]} ORDER BY id')]
    incomplete = {}
    for block_id, site_id, file_id in stream(
            f'SELECT block_id, site_id, file_id FROM {T["brf"]} ORDER BY block_id, site_id, file_id'):
        incomplete.setdefault((block_id, site_id), []).append(file_id)
    states = {}
    for block_id, site_id, group_id, custodial, size in stream(
            f'SELECT block_id, site_id, group_id, is_custodial, size FROM {T["block_replica"]} WHERE is_complete = 0'):
        key = (block_id, site_id)
        states[key] = (groups_by_id[group_id], bool(custodial), size or 0, tuple(incomplete.pop(key, empty)))
    del incomplete

    datasets_by_id = {}
    statuses = {s.value: s for s in DatasetStatus}
    types = {t.value: t for t in DataType}
    num_datasets = count(T['dataset'])
    new_dataset = _slab(Dataset, num_datasets).__next__
    new_list = _slab(list, num_datasets).__next__
    for did, name, status, dtype, sv, last_update, is_open in stream(
            f'SELECT id, name, status, data_type, software_version, last_update, is_open FROM {T["dataset"]}'):
        d = new_dataset()
        d._name = name
        d.id = did
        d.status = statuses[status]
        d.data_type = types[dtype]
        if sv is not None:
            sv = sv_cache.get(sv) or sv_cache.setdefault(sv, _decode_version(sv))
        d.software_version = sv
        d.last_update = stamp(last_update, last_update)
        d.is_open = bool(is_open)
        d.blocks = new_list()
        d.replicas = []
        d._attr = None
        inv.datasets[name] = d
        datasets_by_id[did] = d
    p.step('datasets', len(inv.datasets))

    blocks_by_id = {}
    new_block = _slab(Block, len(sizes)).__next__
    sizes = iter(sizes)
    block_states = {}
    for bid, dataset_id, name, size, num_files, is_open, last_update in stream(
            f'SELECT id, dataset_id, name, size, num_files, is_open, last_update FROM {T["block"]} ORDER BY id'):
        dataset = datasets_by_id[dataset_id]
        b = new_block()
        b._name = name
        b._dataset = dataset
        b.id = bid
        b.size = next(sizes, size)
        st = (num_files, bool(is_open))
        b._st = block_states.get(st) or block_states.setdefault(st, st)   # shared until it gets replicas
        b.last_update = stamp(last_update, last_update)
        dataset.blocks.append(b)
        blocks_by_id[bid] = b
    p.step('blocks', len(blocks_by_id))

    del new_block, sizes, block_states
    num_dr = 0
    num_drs = count(T['dataset_replica'])
    new_dr = _slab(DatasetReplica, num_drs).__next__
    new_list = _slab(list, num_drs).__next__
    for dataset_id, site_id, growing, group_id in stream(
            f'SELECT dataset_id, site_id, growing, group_id FROM {T["dataset_replica"]}'):
        dataset = datasets_by_id[dataset_id]
        site = sites_by_id[site_id]
        dr = new_dr()
        dr._dataset = dataset
        dr._site = site
        dr.growing = bool(growing)
        dr.group = groups_by_id[group_id]
        dr.block_replicas = new_list()
        dr._bytes = dr._bytes_projected = dr._last_update = 0
        dataset.replicas.append(dr)
        site._dataset_replicas[dataset._name] = dr
        num_dr += 1
    p.step('dataset replicas', num_dr)


    num_br = 0
    del new_dr, new_list
    new_br = _slab(BlockReplica, count(T['block_replica'])).__next__
    for block_id, site_id, group_id, custodial, complete, size, last_update in stream(
            f'SELECT block_id, site_id, group_id, is_custodial, is_complete, size, last_update FROM {T["block_replica"]}'):
        block = blocks_by_id[block_id]
        site = sites_by_id[site_id]
        br = new_br()
        br._block = block
        br._site = site
        br.last_update = stamp(last_update, last_update)
        if complete:
            br._st = block_replica_state(groups_by_id[group_id], bool(custodial))
        else:
            br._st = states[block_id, site_id]
        block._st += (br,)
        site._dataset_replicas[block._dataset._name].block_replicas.append(br)
        num_br += 1
    p.step('block replicas', num_br)
    del states, blocks_by_id, stamps, new_br

    for site in inv.sites.values():
        for dr in site._dataset_replicas.values():
            inv.compute_membership(site, dr)
    p.step('partition memberships', len(inv.sites))

    inv.next_ids = {
        'dataset': max(datasets_by_id, default=0) + 1,
        'block': (scalar(f'SELECT MAX(id) FROM {T["block"]}') or 0) + 1,
        'site': max(sites_by_id, default=0) + 1,
        'group': max((g for g in groups_by_id if g is not None), default=0) + 1,
        'partition': max(partitions_by_id, default=0) + 1,
        'file': (scalar(f'SELECT MAX(id) FROM {T["file"]}') or 0) + 1,
    }
    inv.files = FileCatalog(using=using)
    return inv, seq


def _decode_version(text):
    value = json.loads(text)
    return tuple(value) if isinstance(value, list) else value


# ------------------------------------------------------------------------------------ files
class FileCatalog:
    """File lookups in the database, with a bounded cache of block file lists (files are not in RAM)."""

    def __init__(self, max_blocks=None, using='default'):
        from django.conf import settings
        self.max_blocks = max_blocks or settings.DYNAMO_FILE_CACHE_BLOCKS
        self.using = using
        self._cache = OrderedDict()

    def get_files(self, block):
        files = self._cache.get(block.id)
        if files is not None:
            self._cache.move_to_end(block.id)
            return files
        files = frozenset(
            File(lfn, block, size, _decode_checksum(checksum), id=fid)
            for fid, lfn, size, checksum in _stream(
                f'SELECT id, name, size, checksum FROM {T["file"]} WHERE block_id = %s', (block.id,), self.using))
        self._cache[block.id] = files
        if len(self._cache) > self.max_blocks:
            self._cache.popitem(last=False)
        return files

    def invalidate(self, block_ids):
        for block_id in block_ids:
            self._cache.pop(block_id, None)

    def find(self, lfn):
        return self.find_many([lfn]).get(lfn)

    def find_many(self, lfns):
        """{lfn: File (block given as its full name)} for the LFNs that exist."""
        found = {}
        lfns = list(lfns)
        for start in range(0, len(lfns), BATCH):
            chunk = lfns[start:start + BATCH]
            marks = ','.join(['%s'] * len(chunk))
            for fid, lfn, size, checksum, block_name, dataset_name in _stream(
                    f'SELECT f.id, f.name, f.size, f.checksum, b.name, d.name FROM {T["file"]} f '
                    f'JOIN {T["block"]} b ON b.id = f.block_id JOIN {T["dataset"]} d ON d.id = b.dataset_id '
                    f'WHERE f.name IN ({marks})', chunk, self.using):
                found[lfn] = File(lfn, f'{dataset_name}#{block_name}', size, _decode_checksum(checksum), id=fid)
        return found


def _decode_checksum(text):
    return tuple(tuple(p) for p in json.loads(text)) if text else ()


# ------------------------------------------------------------------------------------ persist
def _upsert(cursor, table, columns, keys, rows):
    if not rows:
        return
    cols = ', '.join(columns)
    marks = ', '.join(['%s'] * len(columns))
    others = [c for c in columns if c not in keys]
    if cursor.db.vendor == 'mysql':
        tail = ' ON DUPLICATE KEY UPDATE ' + ', '.join(f'{c} = VALUES({c})' for c in others)
    else:
        tail = f' ON CONFLICT ({", ".join(keys)}) DO UPDATE SET ' + ', '.join(f'{c} = excluded.{c}' for c in others)
    sql = f'INSERT INTO {table} ({cols}) VALUES ({marks}){tail}'
    # in key order: the database then walks its index pages in order (far fewer buffer-pool misses)
    positions = [columns.index(k) for k in keys]
    rows = sorted(rows, key=lambda row: tuple(row[i] for i in positions))
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        if all(type(v) in _NUMERIC for row in chunk for v in row):
            # numbers only: spelled out directly, much faster than the driver's escaping
            values = ','.join('(' + ','.join(_NUMERIC[type(v)](v) for v in row) + ')' for row in chunk)
            cursor.execute(f'INSERT INTO {table} ({cols}) VALUES {values}{tail}')
        else:
            cursor.executemany(sql, chunk)


_NUMERIC = {int: str, bool: lambda v: '1' if v else '0', type(None): lambda v: 'NULL'}


def _delete(cursor, table, keys, values):
    if not values:
        return
    values = list(values)
    step = BATCH if len(keys) == 1 else BATCH // 2
    for start in range(0, len(values), step):
        chunk = values[start:start + step]
        if len(keys) == 1:
            sql = f'DELETE FROM {table} WHERE {keys[0]} IN ({", ".join(["%s"] * len(chunk))})'
            params = chunk
        else:
            # OR of equalities, not a row-constructor IN: both databases use the index for it
            term = '(' + ' AND '.join(f'{k} = %s' for k in keys) + ')'
            sql = f'DELETE FROM {table} WHERE {" OR ".join([term] * len(chunk))}'
            params = [v for key in chunk for v in key]
        cursor.execute(sql, params)


def persist(journal):
    """Write the net effect of one applied change set. Must run inside the caller's transaction."""
    by_type = {}
    for obj in journal.removed.values():
        by_type.setdefault(('d', type(obj)), []).append(obj)
    for obj in list(journal.created.values()) + list(journal.modified.values()):
        by_type.setdefault(('u', type(obj)), []).append(obj)

    def gone(cls):
        return by_type.get(('d', cls), [])

    def live(cls):
        return by_type.get(('u', cls), [])

    touched_blocks = set()
    with connections['default'].cursor() as c:
        # ---- deletes, children first
        removed_br = [(br.block.id, br.site.id) for br in gone(BlockReplica)]
        # file lists: rows exist only for incomplete replicas; rewrite only the lists that changed
        live_ids = set(journal.created) | set(journal.modified)
        relisted = [br for key, br in journal.file_lists.items() if key in live_ids]
        _delete(c, T['brf'], ('block_id', 'site_id'),
                [(br.block.id, br.site.id) for br in gone(BlockReplica)
                 if br.file_ids is not None or id(br) in journal.file_lists]
                + [(br.block.id, br.site.id) for br in relisted])
        _delete(c, T['block_replica'], ('block_id', 'site_id'), removed_br)
        _delete(c, T['dataset_replica'], ('dataset_id', 'site_id'),
                [(dr.dataset.id, dr.site.id) for dr in gone(DatasetReplica)])
        deleted_files = [f.id for f in journal.file_deletes.values()]
        _delete(c, T['brf'], ('file_id',), deleted_files)
        _delete(c, T['file'], ('id',), deleted_files)
        touched_blocks.update(f.block.id for f in journal.file_deletes.values())
        removed_blocks = [b.id for b in gone(Block)]
        _delete(c, T['brf'], ('block_id',), removed_blocks)
        _delete(c, T['file'], ('block_id',), removed_blocks)
        _delete(c, T['block'], ('id',), removed_blocks)
        touched_blocks.update(removed_blocks)
        _delete(c, T['dataset'], ('id',), [d.id for d in gone(Dataset)])
        removed_sites = [s.id for s in gone(Site)]
        _delete(c, T['quota'], ('site_id',), removed_sites)
        _delete(c, T['site'], ('id',), removed_sites)
        _delete(c, T['group'], ('id',), [g.id for g in gone(Group)])
        removed_partitions = [p.id for p in gone(Partition)]
        _delete(c, T['quota'], ('partition_id',), removed_partitions)
        _delete(c, T['partition'], ('id',), removed_partitions)

        # ---- upserts, parents first
        _upsert(c, T['partition'], ('id', 'name', 'condition_text', 'subpartitions'), ('id',),
                [(p.id, p.name, p.condition.text if p.condition else '',
                  ','.join(s.name for s in p.subpartitions) if p.subpartitions else '')
                 for p in live(Partition)])
        _upsert(c, T['group'], ('id', 'name', 'olevel'), ('id',),
                [(g.id, g.name, int(g.olevel)) for g in live(Group)])
        _upsert(c, T['site'], ('id', 'name', 'host', 'storage_type', 'backend', 'status',
                               'filename_mapping', 'x509proxy'), ('id',),
                [(s.id, s.name, s.host, int(s.storage_type), s.backend, int(s.status),
                  json.dumps(s.filename_mapping, sort_keys=True), s.x509proxy) for s in live(Site)])
        _upsert(c, T['quota'], ('site_id', 'partition_id', 'quota'), ('site_id', 'partition_id'),
                [(sp.site.id, sp.partition.id, sp._quota) for sp in live(SitePartition)])
        _upsert(c, T['dataset'], ('id', 'name', 'status', 'data_type', 'software_version',
                                  'last_update', 'is_open'), ('id',),
                [(d.id, d.name, int(d.status), int(d.data_type),
                  None if d.software_version is None else json.dumps(d.software_version),
                  d.last_update, d.is_open) for d in live(Dataset)])
        _upsert(c, T['block'], ('id', 'dataset_id', 'name', 'size', 'num_files', 'is_open',
                                'last_update'), ('id',),
                [(b.id, b.dataset.id, b.name, b.size, b.num_files, b.is_open, b.last_update)
                 for b in live(Block)])
        _upsert(c, T['file'], ('id', 'block_id', 'name', 'size', 'checksum'), ('id',),
                [(f.id, f.block.id, f.lfn, f.size, json.dumps([list(p) for p in f.checksum]) if f.checksum else '')
                 for f in journal.file_upserts.values()])
        touched_blocks.update(f.block.id for f in journal.file_upserts.values())
        _upsert(c, T['dataset_replica'], ('dataset_id', 'site_id', 'growing', 'group_id'),
                ('dataset_id', 'site_id'),
                [(dr.dataset.id, dr.site.id, dr.growing, dr.group.id or None)
                 for dr in live(DatasetReplica)])
        brs = live(BlockReplica)
        _upsert(c, T['block_replica'], ('block_id', 'site_id', 'group_id', 'is_custodial',
                                        'is_complete', 'size', 'last_update'), ('block_id', 'site_id'),
                [(br.block.id, br.site.id, br.group.id or None, br.is_custodial, br.file_ids is None,
                  br._size, br.last_update) for br in brs])
        brf_rows = []
        for br in [br for br in brs if id(br) in journal.created] + relisted:
            if br.file_ids is None:
                continue
            for fid in br.file_ids:
                if isinstance(fid, str):
                    raise ObjectError(f'{br!r} lists file {fid}, which is not in the inventory')
                brf_rows.append((br.block.id, br.site.id, fid))
        for start in range(0, len(brf_rows), BATCH):
            c.executemany(f'INSERT INTO {T["brf"]} (block_id, site_id, file_id) VALUES (%s, %s, %s)',
                          brf_rows[start:start + BATCH])
    return touched_blocks
