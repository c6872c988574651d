"""Injection and invalidation documents (the JSON of `dynamo_inject` and /data/inventory/inject).

`parse_document` / `read_document` check the shape of the whole document before anything is
touched (lists, objects, known fields, no item twice); `inject` and `invalidate` then apply it to an
inventory inside a change set, so any later error undoes everything. Names and values follow
inventory.objects.rules. Errors name the offending item.

A document is read one top-level item at a time (a site, a dataset with its blocks and files, a
dataset replica), from a source of text pieces (a string, a file, the chunks of the write queue):
its size is bounded by memory per item, never by the whole document.
"""
import difflib
import json
import os
import re
import time

from inventory.objects import (Block, BlockReplica, Dataset, DatasetReplica, File, Group,
                               ObjectError, Site)
from inventory.objects import rules

TOP_KEYS = ('dataset', 'site', 'group', 'datasetreplica')
INJECT_ORDER = ('site', 'group', 'dataset', 'datasetreplica')
INVALIDATE_ORDER = ('datasetreplica', 'dataset', 'site', 'group')

# the fields each kind of item may have (a file's other keys are the checksum algorithms)
FIELDS = {
    'site': ('name', 'host', 'storage_type', 'backend', 'status', 'filename_mapping'),
    'group': ('name', 'olevel'),
    'dataset': ('name', 'status', 'data_type', 'software_version', 'blocks'),
    'block': ('name', 'size', 'num_files', 'files'),
    'file': ('name', 'size', 'site') + rules.CHECKSUM_ALGORITHMS,
    'dataset replica': ('dataset', 'site', 'group', 'growing', 'blockreplicas'),
    'block replica': ('block', 'group', 'files'),
}
# the original client sends "gruop" for "group"; its server ignored it, ours reads it as "group"
MISSPELLINGS = {'gruop': 'group'}
_KINDS = {'site': 'site', 'group': 'group', 'dataset': 'dataset', 'datasetreplica': 'dataset replica'}
_KEY_FIELDS = {'site': ('name',), 'group': ('name',), 'dataset': ('name',), 'datasetreplica': ('dataset', 'site')}
PIECE = 1 << 20   # characters read from a source at a time


class DocumentError(ObjectError):
    pass


# ------------------------------------------------------------------------------------ sources
class TextSource:
    """A document held as one string."""

    def __init__(self, text):
        self.text = text
        self.size = len(text)

    def pieces(self):
        text = self.text
        for start in range(0, len(text), PIECE):
            yield text[start:start + PIECE]


class FileSource:
    """A document in a UTF-8 file, read a piece at a time (each pass opens it again)."""

    def __init__(self, path):
        self.path = path
        self.size = os.path.getsize(path)

    def pieces(self):
        try:
            with open(self.path, encoding='utf-8', newline='') as f:
                while True:
                    piece = f.read(PIECE)
                    if not piece:
                        return
                    yield piece
        except UnicodeDecodeError as exc:
            raise DocumentError(f'the document is not UTF-8 text ({exc.reason} at byte {exc.start} of a '
                                f'piece)') from None


class _Reader:
    """The top level of a JSON document, `{"key": [item, ...], ...}`, read from pieces of text: each
    item is decoded on its own (json.JSONDecoder.raw_decode on a buffer that holds little more
    than it), so only one item is ever in memory. Errors say where, as json.loads would."""
    _WS = re.compile(r'[ \t\n\r]*')
    _DECODER = json.JSONDecoder()

    def __init__(self, pieces):
        self._pieces = iter(pieces)
        self.buf = ''
        self.pos = 0
        self.eof = False
        self.line, self.col0 = 1, 0   # where buf[0] is in the document
        self.consumed = 0             # characters dropped before buf

    @property
    def offset(self):
        return self.consumed + self.pos

    def _read(self):
        """Append the next piece (dropping what was read); False at the end of the text."""
        if self.eof:
            return False
        piece = next(self._pieces, None)
        if piece is None:
            self.eof = True
            return False
        done = self.buf[:self.pos]
        if done:
            newlines = done.count('\n')
            if newlines:
                self.line += newlines
                self.col0 = len(done) - done.rfind('\n') - 1
            else:
                self.col0 += len(done)
            self.consumed += len(done)
        self.buf = self.buf[self.pos:] + piece
        self.pos = 0
        return True

    def _more(self):
        """At least twice as much unread text as now (so that retries cost linear time)."""
        want = 2 * max(len(self.buf) - self.pos, PIECE // 2)
        grew = False
        while len(self.buf) - self.pos < want and self._read():
            grew = True
        return grew

    def where(self, index):
        before = self.buf[:index]
        newlines = before.count('\n')
        if newlines:
            return self.line + newlines, index - before.rfind('\n')
        return self.line, self.col0 + index + 1

    def error(self, message, index=None):
        line, column = self.where(self.pos if index is None else index)
        return DocumentError(f'malformed JSON: {message} at line {line} column {column}')

    def peek(self):
        """The next character after white space ('' at the end of the text)."""
        while True:
            self.pos = self._WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._read():
                return ''

    def expect(self, char, message):
        if self.peek() != char:
            raise self.error(message)
        self.pos += 1

    def value(self):
        """The next JSON value, decoded."""
        self.peek()
        while True:
            try:
                value, end = self._DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # cut off by the end of the buffer (a truncated token or string): read on
                if (exc.pos >= len(self.buf) - 64 or exc.msg.startswith('Unterminated string')) and self._more():
                    continue
                raise self.error(exc.msg, exc.pos) from None
            except RecursionError:
                raise self.error('arrays or objects nested too deeply') from None
            if end == len(self.buf) and isinstance(value, (int, float)) and self._more():
                continue   # a number may go on in the next piece
            self.pos = end
            return value

    def top(self):
        """Yields ('key', key) for each top-level key, then ('item', value) for each item of a
        list value, or ('value', value) for any other value."""
        if self.peek() != '{':
            if self.peek() == '':
                raise self.error('Expecting value')
            self.value()   # malformed JSON says so; valid JSON of another shape:
            raise DocumentError('the document must be a JSON object with keys ' + ', '.join(TOP_KEYS))
        self.pos += 1
        if self.peek() == '}':
            self.pos += 1
        else:
            while True:
                if self.peek() != '"':
                    raise self.error('Expecting property name enclosed in double quotes')
                key = self.value()
                self.expect(':', "Expecting ':' delimiter")
                yield 'key', key
                if self.peek() == '[':
                    self.pos += 1
                    if self.peek() == ']':
                        self.pos += 1
                    else:
                        while True:
                            value = self.value()
                            char = self.peek()   # (malformed JSON is said before the item is looked at)
                            if char not in (',', ']'):
                                raise self.error("Expecting ',' delimiter")
                            yield 'item', value
                            self.pos += 1
                            if char == ']':
                                break
                    char = self.peek()
                    if char not in (',', '}'):
                        raise self.error("Expecting ',' delimiter")
                else:
                    value = self.value()
                    char = self.peek()
                    if char not in (',', '}'):
                        raise self.error("Expecting ',' delimiter")
                    yield 'value', value
                self.pos += 1
                if char == '}':
                    break
        if self.peek() != '':
            raise self.error('Extra data')


# ------------------------------------------------------------------------------------ documents
class Document(dict):
    """A checked document held in memory: the four lists, plus `warnings` (misspellings read as
    what they mean) and `replica_groups` ((dataset, site) -> group of the dataset replicas)."""

    def __init__(self, doc, warnings, replica_groups=None):
        super().__init__(doc)
        self.warnings = warnings
        self.replica_groups = replica_groups or {}

    def counts(self):
        return {key: len(self[key]) for key in TOP_KEYS}

    def walk(self, order):
        """(key, index, item) of the lists named in `order`, in that order."""
        for key in order:
            for index, item in enumerate(self[key]):
                yield key, index, item

    def items_of(self, key):
        return enumerate(self[key])


class StreamedDocument:
    """A checked document read again from its source each time it is walked."""

    def __init__(self, source, counts, order, warnings, replica_groups):
        self.source = source
        self._counts = counts
        self.order = order            # the top-level keys as the document gives them
        self.warnings = warnings
        self.replica_groups = replica_groups

    def counts(self):
        return dict(self._counts)

    def __getitem__(self, key):
        raise TypeError('a streamed document is walked, not indexed: use walk() or items_of()')

    def _events(self):
        """(key, index, item) of every top-level list, in document order (keys as they mean)."""
        key, index = None, 0
        for event, value in _Reader(self.source.pieces()).top():
            if event == 'key':
                key, index = MISSPELLINGS.get(value, value), 0
            elif event == 'item':
                if key == 'datasetreplica' and isinstance(value, dict):
                    _respell(value)
                yield key, index, value
                index += 1

    def items_of(self, key):
        for k, index, item in self._events():
            if k == key:
                yield index, item

    def walk(self, order):
        """(key, index, item) of the lists named in `order`, in that order: in one pass over the
        source when the document lists them in that order, else in as few as it takes."""
        pending = [k for k in order if k in self.order]
        while pending:
            run = [pending.pop(0)]
            while pending and self.order.index(pending[0]) > self.order.index(run[-1]):
                run.append(pending.pop(0))
            wanted, last, reached = set(run), run[-1], False
            for key, index, item in self._events():
                if key == last:
                    reached = True
                elif reached:
                    break   # past the last list this pass needs
                if key in wanted:
                    yield key, index, item


def parse_document(text):
    """JSON text, or a source of text pieces (`pieces()`), -> checked document (nothing resolved)."""
    source = text if hasattr(text, 'pieces') else TextSource(text)
    return read_document(source)


def read_document(source, progress=None):
    """Check a document from a source (`pieces()`, `size`) in one streaming pass; returns a
    StreamedDocument to apply. `progress(characters read, size)` is called as it goes."""
    checker = _Checker(lambda key: StreamedDocument(source, {}, TOP_KEYS, [], {}).items_of(key))
    raw, order, counts = [], [], {key: 0 for key in TOP_KEYS}
    reader = _Reader(source.pieces())
    size = getattr(source, 'size', 0)
    key = None
    last_report = 0
    for event, value in reader.top():
        if event == 'key':
            key = checker.top_key(value, raw)
            raw.append(value)
            order.append(key)
        elif event == 'item':
            checker.item(key, counts[key], value)
            counts[key] += 1
            if progress is not None and reader.offset - last_report >= PIECE:
                last_report = reader.offset
                progress(min(reader.offset, size), size)
        else:
            raise DocumentError(f'"{key}" must be a list')
    if progress is not None:
        progress(size, size)
    return StreamedDocument(source, counts, tuple(order), checker.warnings, checker.replica_groups)


def check_document(doc):
    """The decoded document as a Document: the four top-level lists of objects, every field known,
    no item given twice (nothing resolved against an inventory). A checked document is returned
    as it is."""
    if isinstance(doc, (Document, StreamedDocument)):
        return doc
    if not isinstance(doc, dict):
        raise DocumentError('the document must be a JSON object with keys ' + ', '.join(TOP_KEYS))
    doc = dict(doc)
    checker = _Checker(lambda key: enumerate(doc[key]))
    raw = []
    for key in list(doc):
        checker.top_key(key, raw)
        raw.append(key)
    doc = {MISSPELLINGS.get(k, k): v for k, v in doc.items()}
    for key in TOP_KEYS:
        if not isinstance(doc.setdefault(key, []), list):
            raise DocumentError(f'"{key}" must be a list')
    for key in ('site', 'group', 'dataset', 'datasetreplica'):
        for index, item in enumerate(doc[key]):
            checker.item(key, index, item)
    return Document(doc, checker.warnings, checker.replica_groups)


class _Checker:
    """The checks of one document, fed one top-level item at a time: known keys and fields, no
    name twice. LFNs, which may be millions, are remembered by hash only; a repeated hash is
    confirmed (and its first place found) by reading the dataset list again (`relist(key)`)."""

    def __init__(self, relist):
        self.relist = relist
        self.warnings = []
        self.seen = {key: {} for key in TOP_KEYS}
        self.lfn_hashes = set()
        self.replica_groups = {}

    def top_key(self, key, raw):
        """The top-level key as it means (a misspelling read as the word); `raw`: the keys so far."""
        word = MISSPELLINGS.get(key, key)
        for other in raw:
            if other == key:
                raise DocumentError(f'the document gives "{key}" twice')
            if MISSPELLINGS.get(other, other) == word:
                wrong = key if key in MISSPELLINGS else other
                raise DocumentError(f'the document: both {word!r} and {wrong!r} (a misspelling of {word!r}) '
                                    f'are given')
        if key in MISSPELLINGS:
            warning = f'{key!r} read as {word!r}'
            if warning not in self.warnings:
                self.warnings.append(warning)
        elif key not in TOP_KEYS:
            raise DocumentError(f'unknown top-level key(s) {_plain(key)}{_did_you_mean(key, TOP_KEYS)} '
                                f'(expected {", ".join(TOP_KEYS)})')
        return word

    def item(self, key, index, item):
        if not isinstance(item, dict):
            raise DocumentError(f'{key}[{index}] must be an object')
        kind = _KINDS[key]
        where = _where(kind, item, index)
        _check_fields(kind, item, where, self.warnings)
        fields = _KEY_FIELDS[key]
        ident = item.get(fields[0]) if len(fields) == 1 else tuple(item.get(k) for k in fields)
        if all(isinstance(k, str) for k in ((ident,) if len(fields) == 1 else ident)):
            seen = self.seen[key]
            if ident in seen:
                shown = ident if len(fields) == 1 else ' at '.join(ident)
                raise DocumentError(f'{where}: {kind} {shown!r} is given twice (also as item {seen[ident]})')
            seen[ident] = index
        if key == 'dataset':
            self._dataset(item, index, where)
        elif key == 'datasetreplica':
            self.replica_groups[(item.get('dataset'), item.get('site'))] = item.get('group')
            for j, bitem in enumerate(_nested(item, 'blockreplicas', where, 'block replica', ('block',),
                                              self.warnings)):
                files = bitem.get('files')
                if isinstance(files, list):
                    listed = set()
                    for lfn in files:
                        if isinstance(lfn, str) and lfn in listed:
                            raise DocumentError(f'{where} block replica {j}: file {lfn!r} is listed twice')
                        listed.add(lfn)

    def _dataset(self, item, index, where):
        blocks = _nested(item, 'blocks', where, 'block', ('name',), self.warnings)
        for j, bitem in enumerate(blocks):
            bwhere = f'{where} block {j}'
            for k, fitem in enumerate(_nested(bitem, 'files', bwhere, 'file', None, self.warnings)):
                lfn = fitem.get('name') if isinstance(fitem, dict) else fitem
                if not isinstance(lfn, str):
                    continue
                digest = hash(lfn)
                if digest in self.lfn_hashes:
                    first = self._first_place(lfn)
                    if first is not None and first != (index, j, k):
                        raise DocumentError(f'{bwhere} file {k}: file {lfn!r} is given twice (also as '
                                            f'{first[3]})')
                self.lfn_hashes.add(digest)

    def _first_place(self, lfn):
        """(dataset index, block index, file index, where) of the first mention of the LFN."""
        for i, item in self.relist('dataset'):
            blocks = item.get('blocks') if isinstance(item, dict) else None
            for j, bitem in enumerate(blocks if isinstance(blocks, list) else ()):
                files = bitem.get('files') if isinstance(bitem, dict) else None
                for k, fitem in enumerate(files if isinstance(files, list) else ()):
                    if (fitem.get('name') if isinstance(fitem, dict) else fitem) == lfn:
                        return i, j, k, f'{_where("dataset", item, i)} block {j} file {k}'
        return None


def count_items(doc):
    return sum(doc.counts().values())


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


def _respell(replica):
    """A dataset replica item read again: its misspellings replaced as when it was checked."""
    _spelled(replica, '', FIELDS['dataset replica'], [])
    for bitem in replica.get('blockreplicas') or ():
        if isinstance(bitem, dict):
            _spelled(bitem, '', FIELDS['block replica'], [])


def _check_fields(kind, item, where, warnings):
    known = FIELDS[kind]
    _spelled(item, where, known, warnings)
    for key in item:
        if key not in known:
            raise DocumentError(f'{where}: unknown field {key!r}{_did_you_mean(key, known)}; the fields of '
                                f'a {kind} are {", ".join(known)}')


def _check_items(kind, items, key_fields, warnings, context):
    """Known fields in every item of a nested list, and no two items with the same identifier."""
    seen = {}
    for i, item in enumerate(items):
        where = f'{context} {kind} {i}'
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


def filename_mapping(value):
    """A site's filename mapping, checked: {protocol: [chain, ...]}, a chain a list of [lfn regex, pfn
    format] steps (docs/fileops.md, LFN -> PFN); the original's per-protocol list of pairs is read as
    one chain per pair. Every regex must compile and every format take its regex's groups."""
    if not isinstance(value, dict):
        raise ObjectError('filename_mapping must be an object {protocol: [[[lfn_regex, pfn_format], ...], ...]}')

    def is_step(step):
        return isinstance(step, list) and len(step) == 2 and all(isinstance(x, str) for x in step)
    mapping = {}
    for protocol, chains in value.items():
        where = f'filename_mapping of {protocol!r}'
        if not isinstance(chains, list) or not chains:
            raise ObjectError(f'{where}: expected a non-empty list of chains')
        if all(is_step(c) for c in chains):
            chains = [[c] for c in chains]
        for i, chain in enumerate(chains):
            if not isinstance(chain, list) or not chain or not all(is_step(step) for step in chain):
                raise ObjectError(f'{where}, chain {i}: expected a list of [lfn_regex, pfn_format]')
            for pattern, template in chain:
                try:
                    groups = re.compile(pattern).groups
                except re.error as exc:
                    raise ObjectError(f'{where}, chain {i}: bad regex {pattern!r}: {exc}') from None
                try:
                    template.format(*['x'] * groups)
                except (IndexError, KeyError, ValueError) as exc:
                    raise ObjectError(f'{where}, chain {i}: the format {template!r} does not fit the {groups} '
                                      f'groups of {pattern!r} ({exc})') from None
        mapping[protocol] = [[list(step) for step in chain] for chain in chains]
    return mapping


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
    the document's `warnings`). `progress(items done, items)` is called as it goes."""
    doc = check_document(doc)
    now = int(now or time.time())
    created = _Counter(doc.warnings)
    tick = _ticker(progress, count_items(doc))
    # replicas that files of the document go to: (dataset, site) -> group name
    dr_groups = doc.replica_groups
    for key, i, item in doc.walk(INJECT_ORDER):
        where = _where(_KINDS[key], item, i)
        if key == 'site':
            name = _name('site', item, 'name', where)
            if name not in inventory.sites:
                mapping = _wrap(where, filename_mapping, item.get('filename_mapping') or {})
                site = _wrap(where, Site, name, item.get('host', ''), item.get('storage_type', 'unknown'),
                             item.get('backend', ''), item.get('status', 'unknown'), mapping)
                _wrap(where, inventory.update, site)
                created.add('sites', name)
        elif key == 'group':
            name = _name('group', item, 'name', where)
            if name not in inventory.groups:
                _wrap(where, inventory.update, _wrap(where, Group, name, item.get('olevel', 'block')))
                created.add('groups', name)
        elif key == 'dataset':
            with _prefetched(inventory, _dataset_lfns(item)):
                _inject_dataset(inventory, item, where, now, dr_groups, created)
        else:
            with _prefetched(inventory, _replica_lfns(item)):
                _inject_replica(inventory, item, where, now, created)
        tick()
    return created


def _ticker(progress, total):
    done = 0
    step = max(1, min(100, total // 1000))

    def tick():
        nonlocal done
        done += 1
        if progress and (done % step == 0 or done == total):
            progress(done, total)
    return tick


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
        # replicas that hold something: a new file of the block must then say where it is
        has_replicas = any(br.file_ids is None or br.file_ids for br in block.replicas)
        placed = {}   # site name -> the new files the replica there has
        unplaced = 0  # new files without a site
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
            site_name = None if fitem.get('site') is None else _name('site', fitem, 'site', fwhere, new=False)
            if site_name is None:
                if has_replicas and not new_block:
                    raise DocumentError(f'{fwhere}: block {block.full_name()} has replicas, so the file must '
                                        f'name the "site" that has it')
                unplaced += 1
            else:
                _wrap(fwhere, inventory.find_site, site_name)
                placed.setdefault(site_name, []).append(lfile)
                has_replicas = True
        _check_block_totals(bitem, bwhere, size, num_files)
        _place_files(inventory, block, placed, unplaced, bwhere, now, dr_groups, created)
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


def _place_files(inventory, block, placed, unplaced, where, now, dr_groups, created):
    """The new files of a block, by the site that has them (`placed`; `unplaced` more have none):
    each replica is written once for the whole block. The replica at a file's site has it (one is
    made if needed); a complete replica elsewhere keeps the files it had (and the new ones at its
    site), it is no longer complete."""
    if not placed and not unplaced:
        return
    total = sum(len(files) for files in placed.values()) + unplaced
    stored = None
    for br in list(block.replicas):
        mine = placed.pop(br.site.name, ())
        if br.file_ids is None:
            if len(mine) == total:
                continue   # complete, and every new file is here: it stays complete
            if stored is None:
                stored = tuple(f.id for f in block.files)
            ids, size, last = stored, block.size, br.last_update
        elif not mine:
            continue
        else:
            ids, size, last = br.file_ids, br.size, now
        if mine:
            ids, size, last = ids + tuple(f.id for f in mine), size + sum(f.size for f in mine), now
        _wrap(where, inventory.update, BlockReplica(block, br.site, br.group, br.is_custodial, size, last, ids))
    dataset = block.dataset
    for site_name, files in placed.items():   # sites without a replica of the block yet
        site = inventory.sites[site_name]
        group = dr_groups.get((dataset.name, site_name))
        if site.find_dataset_replica(dataset.name) is None:
            _wrap(where, inventory.update, DatasetReplica(dataset, site, False, group))
            created.add('datasetreplicas', f'{dataset.name} at {site_name}')
        _wrap(where, inventory.update, BlockReplica(block, site, group, False, sum(f.size for f in files), now,
                                                    tuple(f.id for f in files)))
        created.add('blockreplicas', f'{block.full_name()} at {site_name}')


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
            new_files = inventory.journal.file_upserts if inventory.journal is not None else {}
            for lfn in files:
                lfile = new_files.get(lfn)   # made by this change set: its name was checked then
                if lfile is None:
                    _wrap(bwhere, rules.check_lookup_name, 'file', lfn)
                    lfile = inventory.find_file(lfn)
                if lfile is None or lfile.block_full_name != block.full_name():
                    raise DocumentError(f'{bwhere}: file {lfn} is not in block {block.full_name()}')
                ids.append(lfile.id)
                size += lfile.size
            br = BlockReplica(block, site, bgroup, False, size, now, ids)
        _wrap(bwhere, inventory.update, br)
        created.add('blockreplicas', f'{block.full_name()} at {site_name}')


def _dataset_lfns(item):
    blocks = item.get('blocks')
    return [f.get('name') for b in (blocks if isinstance(blocks, list) else ())
            if isinstance(b, dict) and isinstance(b.get('files'), list)
            for f in b['files'] if isinstance(f, dict) and isinstance(f.get('name'), str)]


def _replica_lfns(item):
    brs = item.get('blockreplicas')
    return [lfn for br in (brs if isinstance(brs, list) else ())
            if isinstance(br, dict) and isinstance(br.get('files'), list)
            for lfn in br['files'] if isinstance(lfn, str)]


class _prefetched:
    """One batched lookup of the LFNs of an item (not one query per file), forgotten after it:
    the files it creates are in the change set's journal from then on."""

    def __init__(self, inventory, lfns):
        self.lookup = None
        if not lfns or inventory.files is None or inventory.journal is None \
                or not hasattr(inventory.files, 'find_many'):
            return
        journal = inventory.journal
        lookup, known = journal.file_lookup, journal.file_upserts
        self.lfns = [lfn for lfn in set(lfns) if lfn not in lookup and lfn not in known and _storable(lfn)]
        found = inventory.files.find_many(self.lfns)
        lookup.update({lfn: found.get(lfn) for lfn in self.lfns})
        self.lookup = lookup

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.lookup is not None:
            for lfn in self.lfns:
                self.lookup.pop(lfn, None)
        return False


_UNSTORABLE = re.compile('[\x00-\x1f\x7f-\x9f\ud800-\udfff]')


def _storable(lfn):
    """Worth looking up (a cheap filter: the rules are checked where the item is read)."""
    return 0 < len(lfn) <= rules.NAME_RULES['file'].max_length and _UNSTORABLE.search(lfn) is None


def invalidate(inventory, doc, progress=None):
    """Delete what a document names (names only). Unknown objects are errors."""
    doc = check_document(doc)
    deleted = _Counter(doc.warnings)
    tick = _ticker(progress, count_items(doc))
    for key, i, item in doc.walk(INVALIDATE_ORDER):
        where = _where(_KINDS[key], item, i)
        if key == 'datasetreplica':
            _invalidate_replica(inventory, item, where, deleted)
        elif key == 'dataset':
            with _prefetched(inventory, _dataset_lfns(item) + [f for b in (item.get('blocks') or ())
                                                                 if isinstance(b, dict) and isinstance(b.get('files'), list)
                                                                 for f in b['files'] if isinstance(f, str)]):
                _invalidate_dataset(inventory, item, where, deleted)
        else:
            cls, container = (Site, inventory.sites) if key == 'site' else (Group, inventory.groups)
            name = _name(key, item, 'name', where, new=False)
            if name not in container:
                raise DocumentError(f'{where}: unknown {key} {name}')
            inventory.delete(cls(name))
            deleted.add(key + 's', name)
        tick()
    return deleted


def _invalidate_replica(inventory, item, where, deleted):
    dataset_name = _name('dataset', item, 'dataset', where, new=False)
    site = inventory.sites.get(_name('site', item, 'site', where, new=False))
    replica = site and site.find_dataset_replica(dataset_name)
    if replica is None:
        raise DocumentError(f'{where}: no such dataset replica')
    if item.get('blockreplicas') is None:
        inventory.delete(replica)
        deleted.add('datasetreplicas', f'{dataset_name} at {site.name}')
        return
    for j, bitem in enumerate(_list(item, 'blockreplicas', where)):
        if not isinstance(bitem, dict):
            raise DocumentError(f'{where} block replica {j} must be an object')
        bname = _name('block', bitem, 'block', f'{where} block replica {j}', new=False)
        br = replica.find_block_replica(bname)
        if br is None:
            raise DocumentError(f'{where}: no replica of block {bname!r} at {site.name}')
        deleted.add('blockreplicas', f'{br.block.full_name()} at {site.name}')
        inventory.delete(br)


def _invalidate_dataset(inventory, item, where, deleted):
    name = _name('dataset', item, 'name', where, new=False)
    dataset = inventory.datasets.get(name)
    if dataset is None:
        raise DocumentError(f'{where}: unknown dataset {name}')
    if item.get('blocks') is None:
        inventory.delete(dataset)
        deleted.add('datasets', name)
        return
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
