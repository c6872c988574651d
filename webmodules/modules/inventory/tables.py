"""Server-side tables of the inventory pages (a page of sorted rows and the totals of the whole
answer, never the whole table), the files of a block and the usage history as /data endpoints."""
import fnmatch
import heapq
import math
import re

from django.conf import settings

from inventory import selectors
from inventory.objects import ObjectError
from usage import selectors as usage_selectors
from webmodules.base import IllFormedRequest, MissingParameter, NotFound, Param, WebModule
from webmodules.schemas import BYTES, INTEGER, STRING, UNIX_TIME, array, mapping, obj

PAGE_SIZES = (25, 50, 100, 200)


def matcher(patterns, name):
    """A predicate for comma-separated shell patterns (within the limits of inventory.selectors)."""
    patterns = selectors.split_patterns(patterns, name)
    if not patterns:
        return None
    regex = re.compile('|'.join(f'(?:{fnmatch.translate(p)})' for p in patterns))
    known = {}

    def match(value):
        hit = known.get(value)
        if hit is None:
            hit = known[value] = value is not None and regex.match(value) is not None
        return hit
    return match


def budget():
    return selectors.Budget(settings.DYNAMO_WEB_QUERY_SECONDS)


def one(request, name, default=None):
    value = request.get(name)
    if isinstance(value, list):
        value = ','.join(value)
    return default if value is None else value


def integer(request, name, default, lo=0, hi=10 ** 12):
    value = one(request, name)
    if value in (None, ''):
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 12) or not lo <= int(value) <= hi:
        raise IllFormedRequest(name, value, f'expected an integer from {lo} to {hi}')
    return int(value)


class Paging:
    """Which page of a table a request asks for: `sort` (one of `keys`), `order` (asc/desc),
    `page` (from 1) and `per_page`."""

    def __init__(self, request, keys, default_sort, per_page=50, default_order='asc'):
        self.sort = one(request, 'sort', default_sort)
        if self.sort not in keys:
            raise IllFormedRequest('sort', self.sort, 'one of ' + ', '.join(keys))
        self.order = one(request, 'order', default_order)
        if self.order not in ('asc', 'desc'):
            raise IllFormedRequest('order', self.order, 'asc or desc')
        self.per_page = integer(request, 'per_page', per_page, 1, max(PAGE_SIZES))
        self.page = integer(request, 'page', 1, 1)
        self.total = 0
        self.sizes = PAGE_SIZES

    @property
    def desc(self):
        return self.order == 'desc'

    @property
    def offset(self):
        return (self.page - 1) * self.per_page

    @property
    def pages(self):
        return max(1, math.ceil(self.total / self.per_page))

    def first_row(self):
        return min(self.total, self.offset + 1)

    def last_row(self):
        return min(self.total, self.offset + self.per_page)


def _top(items, key, paging):
    """The rows of the page: the first offset + per_page of `items` in the asked order (a heap,
    not a sort of everything), counting them all into paging.total."""
    counted = [0]

    def counting():
        for item in items:
            counted[0] += 1
            yield item
    n = paging.offset + paging.per_page
    pick = heapq.nlargest if paging.desc else heapq.nsmallest
    top = pick(n, counting(), key=key)
    paging.total = counted[0]
    return top[paging.offset:]


# ------------------------------------------------------------------------------- datasets
DATASET_KEYS = {'name': lambda d: d.name, 'size': lambda d: (d.size, d.name), 'num_files': lambda d: (d.num_files, d.name),
                'num_blocks': lambda d: (len(d.blocks), d.name), 'status': lambda d: (d.status.label, d.name),
                'type': lambda d: (d.data_type.label, d.name), 'last_update': lambda d: (d.last_update, d.name),
                'replicas': lambda d: (len(d.replicas), d.name)}


def dataset_table(inventory, pattern, paging):
    """(rows of the page, totals {datasets, size, files, blocks}) of the datasets matching `pattern`."""
    b = budget()
    found = selectors.dataset_candidates(inventory, pattern, b)
    totals = {'datasets': len(found), 'size': 0, 'files': 0, 'blocks': 0}
    for d in found:
        b.check(every=256)
        for block in d.blocks:
            totals['size'] += block.size
            totals['files'] += block.num_files
        totals['blocks'] += len(d.blocks)
    page = _top(found, DATASET_KEYS[paging.sort], paging)
    rows = [{'name': d.name, 'status': d.status.label, 'type': d.data_type.label, 'num_blocks': len(d.blocks),
             'num_files': d.num_files, 'size': d.size, 'last_update': d.last_update,
             'sites': sorted(r.site.name for r in d.replicas)} for d in page]
    return rows, totals


# ------------------------------------------------------------------------------- block replicas
REPLICA_KEYS = ('block', 'site', 'group', 'complete', 'size', 'num_files', 'last_update')


def _replica_key(sort):
    if sort == 'block':
        return lambda br: (br.block.dataset_name, br.block.name, br.site.name)
    if sort == 'site':
        return lambda br: (br.site.name, br.block.dataset_name, br.block.name)
    if sort == 'group':
        return lambda br: (br.group.name or '', br.block.dataset_name, br.block.name, br.site.name)
    if sort == 'complete':
        return lambda br: (br.is_complete(), br.block.dataset_name, br.block.name, br.site.name)
    return lambda br: (getattr(br, sort), br.block.dataset_name, br.block.name, br.site.name)


def replica_table(inventory, *, dataset, site=None, group=None, complete=None, paging):
    """Rows of the page of block replicas (one row per block replica) of the datasets matching
    `dataset`, at the sites and of the groups matching `site` and `group`; paging.total counts them."""
    b = budget()
    site_match, group_match = matcher(site, 'site'), matcher(group, 'group')
    datasets = selectors.dataset_candidates(inventory, dataset, b)

    def replicas():
        for d in datasets:
            for block in d.blocks:
                b.check()
                for br in block.replicas:
                    if site_match is not None and not site_match(br.site.name):
                        continue
                    if group_match is not None and not group_match(br.group.name):
                        continue
                    if complete is not None and br.is_complete() != complete:
                        continue
                    yield br
    if paging.sort == 'block' and not paging.desc and site_match is group_match is complete is None:
        page = _in_name_order(datasets, paging, b)    # the default view: no sort of every replica
    else:
        page = _top(replicas(), _replica_key(paging.sort), paging)
    return [{'dataset': br.block.dataset_name, 'block': br.block.name, 'site': br.site.name, 'group': br.group.name,
             'complete': br.is_complete(), 'custodial': br.is_custodial, 'size': br.size, 'block_size': br.block.size,
             'num_files': br.num_files, 'last_update': br.last_update} for br in page]


def _in_name_order(datasets, paging, b):
    """The page of every replica of `datasets` by dataset, block and site name: counted block by
    block, and only the blocks of the page looked into (the default view of millions of replicas)."""
    paging.total = 0
    page, start, end = [], paging.offset, paging.offset + paging.per_page
    for d in sorted(datasets, key=lambda d: d.name):
        blocks = d.blocks
        n = sum(len(block.replicas) for block in blocks)
        b.check(every=64)
        if paging.total < end and paging.total + n > start:
            i = paging.total
            for block in sorted(blocks, key=lambda block: block.name):
                replicas = block.replicas
                if i + len(replicas) > start and i < end:
                    for br in sorted(replicas, key=lambda br: br.site.name):
                        if start <= i < end:
                            page.append(br)
                        i += 1
                else:
                    i += len(replicas)
        paging.total += n
    return page


# ------------------------------------------------------------------------------- a site's datasets
SITE_DATASET_KEYS = {'dataset': lambda r: r.dataset_name, 'size': lambda r: (r.size(True), r.dataset_name),
                     'blocks': lambda r: (len(r.block_replicas), r.dataset_name),
                     'last_update': lambda r: (r.last_block_created(), r.dataset_name)}


def site_datasets(site, paging):
    page = _top(list(site.dataset_replicas()), SITE_DATASET_KEYS[paging.sort], paging)
    rows = []
    for r in page:
        groups = sorted({br.group.name or '(none)' for br in r.block_replicas})
        rows.append({'dataset': r.dataset_name, 'blocks': len(r.block_replicas), 'dataset_blocks': len(r.dataset.blocks),
                     'size': r.size(True), 'projected': r.size(False), 'dataset_size': r.dataset.size,
                     'complete': r.is_complete() and len(r.block_replicas) == len(r.dataset.blocks),
                     'groups': groups, 'last_update': r.last_block_created()})
    return rows


# ------------------------------------------------------------------------------- /data endpoints
def find_block(inventory, name):
    try:
        dataset_name, block_name = inventory_block_name(name)
    except ObjectError as exc:
        raise IllFormedRequest('block', name, str(exc)) from None
    dataset = inventory.datasets.get(dataset_name)
    block = dataset.find_block(block_name) if dataset is not None else None
    if block is None:
        raise NotFound(f'no block {name}')
    return block


def inventory_block_name(name):
    from inventory.objects import Block
    return Block.from_full_name(name)


def file_row(f):
    return {'name': f.lfn, 'size': f.size, 'checksum': dict(f.checksum or ())}


class Files(WebModule):
    """Files of the block `block` (DATASET#BLOCK), by name: LFN, size and checksums. Paged with
    `limit` (default 1000) and `offset`."""
    parameters = (Param('block', 'string', required=True, description='DATASET#BLOCK',
                        example='/SingleMuon/Run2026A-PromptReco-v1/MINIAOD#b1'),
                  Param('limit', 'integer', default=1000, description='at most 10000'),
                  Param('offset', 'integer', default=0))
    response = array(obj({'name': STRING, 'size': BYTES, 'checksum': mapping(STRING, 'algorithm -> value')}))

    def run(self, caller, request, inventory):
        name = one(request, 'block')
        if not name:
            raise MissingParameter('block', '/data/inventory/files')
        block = find_block(inventory, name)
        limit, offset = integer(request, 'limit', 1000, 1, 10000), integer(request, 'offset', 0)
        files = sorted(block.files, key=lambda f: f.lfn)
        page = files[offset:offset + limit]
        self.message = (f'files {offset + 1}-{offset + len(page)} of {len(files)}' if page
                        else f'no files from offset {offset} (of {len(files)})')
        return [file_row(f) for f in page]


class History(WebModule):
    """Usage history per site and partition: the samples recorded by the `usage` cycle (and at
    each Detox cycle) between `since` and `until`, each [time, quota, usage, projected usage],
    at most `points` per series (the last sample of each interval)."""
    parameters = (Param('site', 'pattern', description='site names', example='T2_*'),
                  Param('partition', 'pattern', description='partition names', example='Default'),
                  Param('since', 'time', description='from this UNIX time (default: all)'),
                  Param('until', 'time', description='up to this UNIX time (default: now)'),
                  Param('points', 'integer', default=500, description='at most this many samples per series (2-5000)'))
    response = array(obj({'site': STRING, 'partition': STRING,
                          'points': array({'type': 'array', 'prefixItems': [UNIX_TIME, INTEGER, BYTES, BYTES],
                                           'minItems': 4, 'maxItems': 4,
                                           'description': '[time, quota, usage, projected usage]'})}))

    def run(self, caller, request, inventory):
        since, until = integer(request, 'since', None), integer(request, 'until', None)
        points = integer(request, 'points', 500, 2, 5000)
        selectors.split_patterns(one(request, 'site'), 'site')
        data = usage_selectors.history(site=one(request, 'site'), partition=one(request, 'partition'),
                                       since=since, until=until, points=points)
        self.message = f'{len(data)} series'
        return data

