"""Injection and invalidation documents (the JSON of `dynamo_inject` and /data/inventory/inject).

`parse_document` checks the shape of the whole document before anything is touched (lists, objects,
known fields, no item twice); `inject` and `invalidate` then apply it to an inventory inside a change
set, so any later error undoes everything. Names and values follow inventory.objects.rules.
Errors name the offending item.
"""
import difflib
import json
import time

from inventory.objects import (Block, BlockReplica, Dataset, DatasetReplica, File, Group,
                               ObjectError, Site)
from inventory.objects import rules

TOP_KEYS = ('dataset', 'site', 'group', 'datasetreplica')

# the fields each kind of item may have (a file's other keys are the checksum algorithms)
FIELDS = {
    'site': ('name', 'host', 'storage_type', 'backend', 'status'),
    'group': ('name', 'olevel'),
    'dataset': ('name', 'status', 'data_type', 'software_version', 'blocks'),
    'block': ('name', 'size', 'num_files', 'files'),
    'file': ('name', 'size', 'site') + rules.CHECKSUM_ALGORITHMS,
    'dataset replica': ('dataset', 'site', 'group', 'growing', 'blockreplicas'),
    'block replica': ('block', 'group', 'files'),
}
# the original client sends "gruop" for "group"; its server ignored it, ours reads it as "group"
MISSPELLINGS = {'gruop': 'group'}


class DocumentError(ObjectError):
    pass


class Document(dict):
    """A checked document: the four lists, plus `warnings` (misspellings read as what they mean)."""

    def __init__(self, doc, warnings):
        super().__init__(doc)
        self.warnings = warnings


def parse_document(text):
    """JSON text -> Document (shape checked, nothing resolved)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(f'malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}') from None
    return check_document(doc)


def check_document(doc):
    """The decoded document as a Document: the four top-level lists of objects, every field known,
    no item given twice (nothing resolved against an inventory)."""
    if isinstance(doc, Document):
        return doc
    if not isinstance(doc, dict):
        raise DocumentError('the document must be a JSON object with keys ' + ', '.join(TOP_KEYS))
    warnings = []
    doc = _spelled(dict(doc), 'the document', TOP_KEYS, warnings)
    unknown = [k for k in doc if k not in TOP_KEYS]
    if unknown:
        raise DocumentError(f'unknown top-level key(s) {", ".join(map(_plain, unknown))}'
                            f'{_did_you_mean(unknown[0], TOP_KEYS)} (expected {", ".join(TOP_KEYS)})')
    for key in TOP_KEYS:
        value = doc.setdefault(key, [])
        if not isinstance(value, list):
            raise DocumentError(f'"{key}" must be a list')
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise DocumentError(f'{key}[{i}] must be an object')
    _check_items('site', doc['site'], ('name',), warnings)
    _check_items('group', doc['group'], ('name',), warnings)
    _check_items('dataset', doc['dataset'], ('name',), warnings)
    _check_items('dataset replica', doc['datasetreplica'], ('dataset', 'site'), warnings)
    lfns = {}
    for i, item in enumerate(doc['dataset']):
        where = _where('dataset', item, i)
        blocks = _nested(item, 'blocks', where, 'block', ('name',), warnings)
        for j, bitem in enumerate(blocks):
            bwhere = f'{where} block {j}'
            for k, fitem in enumerate(_nested(bitem, 'files', bwhere, 'file', None, warnings)):
                lfn = fitem.get('name') if isinstance(fitem, dict) else fitem
                if isinstance(lfn, str):
                    if lfn in lfns:
                        raise DocumentError(f'{bwhere} file {k}: file {lfn!r} is given twice (also as '
                                            f'{lfns[lfn]})')
                    lfns[lfn] = f'{bwhere} file {k}'
    for i, item in enumerate(doc['datasetreplica']):
        where = _where('dataset replica', item, i)
        for j, bitem in enumerate(_nested(item, 'blockreplicas', where, 'block replica', ('block',), warnings)):
            files = bitem.get('files')
            if isinstance(files, list):
                seen = set()
                for lfn in files:
                    if isinstance(lfn, str) and lfn in seen:
                        raise DocumentError(f'{where} block replica {j}: file {lfn!r} is listed twice')
                    seen.add(lfn)
    return Document(doc, warnings)


def _plain(text):
    """Text as is when it is printable ASCII, else its repr (messages reach terminals and logs)."""
    return text if isinstance(text, str) and text.isascii() and text.isprintable() else repr(text)


def _did_you_mean(key, known):
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6) if isinstance(key, str) else []
    return f' (did you mean {close[0]!r}?)' if close else ''


def _spelled(item, where, known, warnings):
    """The item with the known misspellings replaced by what they mean (a warning each)."""
    for wrong, right in MISSPELLINGS.items():
        if wrong in item and right in known:
            if right in item:
                raise DocumentError(f'{where}: both {right!r} and {wrong!r} (a misspelling of {right!r}) '
                                    f'are given')
            item[right] = item.pop(wrong)
            warning = f'{wrong!r} read as {right!r}'
            if warning not in warnings:
                warnings.append(warning)
    return item


def _check_fields(kind, item, where, warnings):
    known = FIELDS[kind]
    _spelled(item, where, known, warnings)
    for key in item:
        if key not in known:
            raise DocumentError(f'{where}: unknown field {key!r}{_did_you_mean(key, known)}; the fields of '
                                f'a {kind} are {", ".join(known)}')


def _check_items(kind, items, key_fields, warnings, context=''):
    """Known fields in every item, and no two items with the same identifier."""
    seen = {}
    for i, item in enumerate(items):
        where = f'{context} {kind} {i}'.strip() if context else _where(kind, item, i)
        _check_fields(kind, item, where, warnings)
        key = tuple(item.get(k) for k in key_fields)
        if all(isinstance(k, str) for k in key):
            if key in seen:
                shown = ' at '.join(key)
                raise DocumentError(f'{where}: {kind} {shown!r} is given twice (also as item {seen[key]})')
            seen[key] = i


def _nested(item, key, where, kind, key_fields, warnings):
    """The list item[key] (absent: empty) of objects of `kind`, checked like the top-level lists."""
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DocumentError(f'{where}: "{key}" must be a list')
    objects = []
    for j, sub in enumerate(value):
        if isinstance(sub, dict):
            objects.append(sub)
        elif not (kind == 'file' and isinstance(sub, str)):   # deletion documents may list bare LFNs
            raise DocumentError(f'{where} {kind} {j} must be an object')
    if key_fields is None:
        for j, sub in enumerate(objects):
            _check_fields(kind, sub, f'{where} {kind} {j}', warnings)
    else:
        _check_items(kind, objects, key_fields, warnings, context=where)
    return value


def _where(kind, item, index):
    name = item.get('name') if 'name' in item else f'{item.get("dataset")} at {item.get("site")}'
    return f'{kind} {name!r} (item {index})' if name else f'{kind} item {index}'


def _name(kind, item, key, where, new=True):
    """The name in item[key]: a valid name of `kind` (new objects) or a name to look up."""
    value = item.get(key)
    check = rules.check_name if new else rules.check_lookup_name
    try:
        return check(kind, value)
    except ObjectError as exc:
        raise DocumentError(f'{where}: "{key}": {exc}') from None


def _size(item, key, where, maximum=rules.MAX_SIZE):
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DocumentError(f'{where}: "{key}" must be a non-negative integer, got {value!r}')
    if value > maximum:
        raise DocumentError(f'{where}: "{key}" {value} is over the limit {maximum} '
                            f'(2**{maximum.bit_length()} - 1)')
    return value


def _list(item, key, where):
    value = item.get(key, [])
    if not isinstance(value, list):
        raise DocumentError(f'{where}: "{key}" must be a list')
    return value


def count_items(doc):
    return sum(len(doc[k]) for k in TOP_KEYS)


def _wrap(where, fn, *args):
    try:
        return fn(*args)
    except DocumentError:
        raise
    except ObjectError as exc:
        raise DocumentError(f'{where}: {exc}') from None


class _Counter(dict):
    def __init__(self, warnings=()):
        super().__init__(datasets=0, blocks=0, files=0, sites=0, groups=0, datasetreplicas=0,
                         blockreplicas=0)
        self.names = []
        self.warnings = list(warnings)

    def add(self, kind, name):
        self[kind] += 1
        if len(self.names) < 200:
            self.names.append(f'{kind[:-1]} {name}')


def inject(inventory, doc, progress=None, now=None):
    """Create the new objects of an injection document. Existing objects are not modified except
    for getting new children. Returns counts of what was created (with `names`, the first 200, and
    the document's `warnings`)."""
    doc = check_document(doc)
    now = int(now or time.time())
    created = _Counter(doc.warnings)
    done = 0
    total = count_items(doc)

    def tick():
        nonlocal done
        done += 1
        if progress and (done % 100 == 0 or done == total):
            progress(done, total)

    # replicas that files of the document go to: (dataset, site) -> group name
    dr_groups = {(r.get('dataset'), r.get('site')): r.get('group') for r in doc['datasetreplica']}
    _prefetch_files(inventory, doc)

    for i, item in enumerate(doc['site']):
        where = _where('site', item, i)
        name = _name('site', item, 'name', where)
        if name not in inventory.sites:
            site = _wrap(where, Site, name, item.get('host', ''), item.get('storage_type', 'unknown'),
                         item.get('backend', ''), item.get('status', 'unknown'))
            _wrap(where, inventory.update, site)
            created.add('sites', name)
        tick()
    for i, item in enumerate(doc['group']):
        where = _where('group', item, i)
        name = _name('group', item, 'name', where)
        if name not in inventory.groups:
            _wrap(where, inventory.update, _wrap(where, Group, name, item.get('olevel', 'block')))
            created.add('groups', name)
        tick()
    for i, item in enumerate(doc['dataset']):
        _inject_dataset(inventory, item, _where('dataset', item, i), now, dr_groups, created)
        tick()
    for i, item in enumerate(doc['datasetreplica']):
        _inject_replica(inventory, item, _where('dataset replica', item, i), now, created)
        tick()
    return created


def _inject_dataset(inventory, item, where, now, dr_groups, created):
    name = _name('dataset', item, 'name', where)
    dataset = inventory.datasets.get(name)
    if dataset is None:
        sv = item.get('software_version')
        dataset = _wrap(where, inventory.update, _wrap(where, Dataset, name, item.get('status', 'unknown'),
                                                       item.get('data_type', 'unknown'),
                                                       tuple(sv) if isinstance(sv, list) else sv, now))
        created.add('datasets', name)
    for j, bitem in enumerate(_list(item, 'blocks', where)):
        bname = _name('block', bitem, 'name', f'{where} block {j}')
        bwhere = f'block {name}#{bname}'
        block = inventory.find_block(dataset, bname)
        new_block = block is None
        if new_block:
            block = _wrap(bwhere, inventory.update, Block(bname, dataset, 0, 0, False, now))
            created.add('blocks', f'{name}#{bname}')
            for replica in list(dataset.replicas):
                if replica.growing:
                    inventory.update(BlockReplica(block, replica.site, replica.group, False, 0, now, ()))
                    created.add('blockreplicas', f'{name}#{bname} at {replica.site.name}')
        size, num_files = block.size, block.num_files
        for k, fitem in enumerate(_list(bitem, 'files', bwhere)):
            fwhere = f'{bwhere} file {k}'
            if not isinstance(fitem, dict):
                raise DocumentError(f'{fwhere} must be an object')
            lfn = _name('file', fitem, 'name', fwhere)
            fwhere = f'file {lfn}'
            fsize = _size(fitem, 'size', fwhere)
            existing = inventory.find_file(lfn)
            if existing is not None:
                if existing.block_full_name != block.full_name():
                    raise DocumentError(f'{fwhere} already belongs to block {existing.block_full_name}')
                if existing.size != fsize:
                    raise DocumentError(f'{fwhere} already exists with size {existing.size}, not {fsize}')
                continue
            checksum = [(key, _checksum_value(value, fwhere, key)) for key, value in sorted(fitem.items())
                        if key not in ('name', 'size', 'site')]
            lfile = _wrap(fwhere, inventory.update, File(lfn, block, fsize, checksum))
            created.add('files', lfn)
            size += fsize
            num_files += 1
            if size > rules.MAX_SIZE:
                raise DocumentError(f'{bwhere}: its files hold {size} bytes together, over the limit '
                                    f'{rules.MAX_SIZE} (2**63 - 1)')
            _place_file(inventory, block, lfile, fitem, fwhere, now, dr_groups, created, new_block)
        _check_block_totals(bitem, bwhere, size, num_files)
        if (size, num_files) != (block.size, block.num_files):
            _wrap(bwhere, inventory.update, Block(bname, dataset, size, num_files, block.is_open, now))
            for br in block.replicas:   # replicas that now hold every file are complete
                if br.file_ids is not None and len(br.file_ids) == num_files and br._size == size:
                    inventory.update(BlockReplica(block, br.site, br.group, br.is_custodial, -1,
                                                  br.last_update))


def _checksum_value(value, where, algorithm):
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise DocumentError(f'{where}: checksum "{algorithm}" must be a string, got {value!r}')
    return value


def _check_block_totals(bitem, where, size, num_files):
    """A block's "size" and "num_files", when a document gives them, only check its files' totals."""
    for key, actual in (('size', size), ('num_files', num_files)):
        if key in bitem:
            given = _size(bitem, key, where, rules.MAX_SIZE if key == 'size' else rules.MAX_FILES)
            if given != actual:
                what = f'{actual} bytes' if key == 'size' else f'{actual} files'
                raise DocumentError(f'{where}: "{key}" is {given}, but its files make {what} (the size and '
                                    f'the number of files of a block follow from its files)')


def _place_file(inventory, block, lfile, fitem, where, now, dr_groups, created, new_block):
    """A new file of a block: the replica named by "site" has it; other complete replicas do not."""
    site_name = None if fitem.get('site') is None else _name('site', fitem, 'site', where, new=False)
    has_replicas = any(br.file_ids is None or br.file_ids for br in block.replicas)
    if site_name is None:
        if has_replicas and not new_block:
            raise DocumentError(f'{where}: block {block.full_name()} has replicas, so the file must name '
                                f'the "site" that has it')
    for br in block.replicas:
        if br.site.name == site_name:
            continue
        if br.file_ids is None:   # it was complete; it does not have the new file
            inventory.update(BlockReplica(block, br.site, br.group, br.is_custodial, block.size,
                                          br.last_update, tuple(f.id for f in block.files)))
    if site_name is None:
        return
    site = _wrap(where, inventory.find_site, site_name)
    dataset = block.dataset
    group = dr_groups.get((dataset.name, site_name))
    replica = site.find_dataset_replica(dataset.name)
    if replica is None:
        _wrap(where, inventory.update, DatasetReplica(dataset, site, False, group))
        created.add('datasetreplicas', f'{dataset.name} at {site_name}')
    br = block.find_replica(site)
    if br is None:
        _wrap(where, inventory.update, BlockReplica(block, site, group, False, lfile.size, now, (lfile.id,)))
        created.add('blockreplicas', f'{block.full_name()} at {site_name}')
    elif br.file_ids is not None:   # a complete replica stays complete as the block grows
        ids = br.file_ids
        _wrap(where, inventory.update, BlockReplica(block, site, br.group, br.is_custodial,
                                                    br.size + lfile.size, now, ids + (lfile.id,)))


def _inject_replica(inventory, item, where, now, created):
    dataset_name = _name('dataset', item, 'dataset', where, new=False)
    site_name = _name('site', item, 'site', where, new=False)
    dataset = inventory.datasets.get(dataset_name)
    if dataset is None:
        raise DocumentError(f'{where}: unknown dataset {dataset_name}')
    site = inventory.sites.get(site_name)
    if site is None:
        raise DocumentError(f'{where}: unknown site {site_name}')
    group = None if item.get('group') is None else _name('group', item, 'group', where, new=False)
    if group is not None and group not in inventory.groups:
        raise DocumentError(f'{where}: unknown group {group}')
    growing = item.get('growing', group is not None)
    if not isinstance(growing, bool):
        raise DocumentError(f'{where}: "growing" must be true or false')
    replica = site.find_dataset_replica(dataset_name)
    if replica is None:
        replica = _wrap(where, inventory.update, DatasetReplica(dataset, site, growing, group))
        created.add('datasetreplicas', f'{dataset_name} at {site_name}')
    items = item.get('blockreplicas')
    if items is None:
        items = [{'block': b.name} for b in dataset.blocks]
    elif not isinstance(items, list):
        raise DocumentError(f'{where}: "blockreplicas" must be a list')
    for j, bitem in enumerate(items):
        bwhere = f'{where} block replica {j}'
        if not isinstance(bitem, dict):
            raise DocumentError(f'{bwhere} must be an object')
        bname = _name('block', bitem, 'block', bwhere, new=False)
        block = inventory.find_block(dataset, bname)
        if block is None:
            raise DocumentError(f'{bwhere}: unknown block {dataset_name}#{bname}')
        bgroup = group if bitem.get('group') is None else _name('group', bitem, 'group', bwhere, new=False)
        if bgroup is not None and bgroup not in inventory.groups:
            raise DocumentError(f'{bwhere}: unknown group {bgroup}')
        if block.find_replica(site) is not None:
            continue
        files = bitem.get('files')
        if files is None:
            br = BlockReplica(block, site, bgroup, False, -1, now)
        else:
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise DocumentError(f'{bwhere}: "files" must be a list of LFNs')
            ids, size = [], 0
            for lfn in files:
                _wrap(bwhere, rules.check_lookup_name, 'file', lfn)
                lfile = inventory.find_file(lfn)
                if lfile is None or lfile.block_full_name != block.full_name():
                    raise DocumentError(f'{bwhere}: file {lfn} is not in block {block.full_name()}')
                ids.append(lfile.id)
                size += lfile.size
            br = BlockReplica(block, site, bgroup, False, size, now, ids)
        _wrap(bwhere, inventory.update, br)
        created.add('blockreplicas', f'{block.full_name()} at {site_name}')


def _prefetch_files(inventory, doc):
    """One batched lookup of every LFN of the document (not one query per file)."""
    if inventory.files is None or inventory.journal is None or not hasattr(inventory.files, 'find_many'):
        return
    lfns = [f.get('name') for d in doc['dataset'] if isinstance(d.get('blocks'), list)
            for b in d['blocks'] if isinstance(b, dict) and isinstance(b.get('files'), list)
            for f in b['files'] if isinstance(f, dict) and isinstance(f.get('name'), str)]
    lfns += [lfn for r in doc['datasetreplica'] if isinstance(r.get('blockreplicas'), list)
             for br in r['blockreplicas'] if isinstance(br, dict) and isinstance(br.get('files'), list)
             for lfn in br['files'] if isinstance(lfn, str)]
    lfns = [lfn for lfn in lfns if _storable(lfn)]   # the others are refused when their item is read
    found = inventory.files.find_many(set(lfns))
    inventory.journal.file_lookup.update({lfn: found.get(lfn) for lfn in lfns})


def _storable(lfn):
    try:
        rules.check_lookup_name('file', lfn)
    except ObjectError:
        return False
    return True


def invalidate(inventory, doc, progress=None):
    """Delete what a document names (names only). Unknown objects are errors."""
    doc = check_document(doc)
    deleted = _Counter(doc.warnings)
    total, done = count_items(doc), 0
    for i, item in enumerate(doc['datasetreplica']):
        where = _where('dataset replica', item, i)
        dataset_name = _name('dataset', item, 'dataset', where, new=False)
        site = inventory.sites.get(_name('site', item, 'site', where, new=False))
        replica = site and site.find_dataset_replica(dataset_name)
        if replica is None:
            raise DocumentError(f'{where}: no such dataset replica')
        items = item.get('blockreplicas')
        if items is None:
            inventory.delete(replica)
            deleted.add('datasetreplicas', f'{dataset_name} at {site.name}')
        else:
            for j, bitem in enumerate(_list(item, 'blockreplicas', where)):
                if not isinstance(bitem, dict):
                    raise DocumentError(f'{where} block replica {j} must be an object')
                bname = _name('block', bitem, 'block', f'{where} block replica {j}', new=False)
                br = replica.find_block_replica(bname)
                if br is None:
                    raise DocumentError(f'{where}: no replica of block {bname!r} at {site.name}')
                deleted.add('blockreplicas', f'{br.block.full_name()} at {site.name}')
                inventory.delete(br)
        done += 1
        if progress:
            progress(done, total)
    for i, item in enumerate(doc['dataset']):
        where = _where('dataset', item, i)
        name = _name('dataset', item, 'name', where, new=False)
        dataset = inventory.datasets.get(name)
        if dataset is None:
            raise DocumentError(f'{where}: unknown dataset {name}')
        blocks = item.get('blocks')
        if blocks is None:
            inventory.delete(dataset)
            deleted.add('datasets', name)
        else:
            for j, bitem in enumerate(_list(item, 'blocks', where)):
                bwhere = f'{where} block {j}'
                if not isinstance(bitem, dict):
                    raise DocumentError(f'{bwhere} must be an object')
                bname = _name('block', bitem, 'name', bwhere, new=False)
                block = inventory.find_block(dataset, bname)
                if not block:
                    raise DocumentError(f'{bwhere}: unknown block {name}#{bname}')
                files = bitem.get('files')
                if files is None:
                    inventory.delete(block)
                    deleted.add('blocks', block.full_name())
                    continue
                size, num = block.size, block.num_files
                for fitem in _list(bitem, 'files', bwhere):
                    lfn = fitem.get('name') if isinstance(fitem, dict) else fitem
                    _wrap(bwhere, rules.check_lookup_name, 'file', lfn)
                    lfile = inventory.find_file(lfn)
                    if lfile is None or lfile.block_full_name != block.full_name():
                        raise DocumentError(f'{bwhere}: file {lfn!r} is not in block {block.full_name()}')
                    inventory.delete(File(lfn, block))
                    deleted.add('files', lfn)
                    size, num = size - lfile.size, num - 1
                inventory.update(Block(block.name, dataset, max(size, 0), max(num, 0), block.is_open,
                                       int(time.time())))
        done += 1
        if progress:
            progress(done, total)
    for kind, cls, container in (('site', Site, inventory.sites), ('group', Group, inventory.groups)):
        for i, item in enumerate(doc[kind]):
            where = _where(kind, item, i)
            name = _name(kind, item, 'name', where, new=False)
            if name not in container:
                raise DocumentError(f'{where}: unknown {kind} {name}')
            inventory.delete(cls(name))
            deleted.add(kind + 's', name)
            done += 1
            if progress:
                progress(done, total)
    return deleted
