"""HTML pages of the inventory module, rendered on the server from the RAM image (and the usage
history): site usage on one shared scale, a site, the dataset search, a dataset, block replicas
and the usage history. Tables are paged and sorted here; the browser never gets a whole table."""
import math
import time

from inventory.objects import ObjectError
from usage import selectors as usage_selectors
from webmodules.base import HTMLMixin, IllFormedRequest, MissingParameter, NotFound, Param, WebModule

from .tables import Paging, dataset_table, matcher, one, replica_table, site_datasets

HISTORY_RANGES = (('7', '7 days'), ('30', '30 days'), ('90', '90 days'), ('365', 'a year'), ('all', 'everything'))
SERIES_LIMIT = 12


def _params(request, *names):
    return {n: one(request, n) for n in names if one(request, n) not in (None, '')}


def nice_scale(maximum, ticks=4):
    """(top of the scale, tick values): steps of 1, 2 or 5 times a power of ten."""
    if maximum <= 0:
        return 1, [0, 1]
    raw = maximum / ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    top = step * math.ceil(maximum / step)
    return top, [step * i for i in range(int(round(top / step)) + 1)]


def _partition_names(inventory):
    names = {p.name for site in inventory.sites.values() for p in site.partitions}
    return sorted(names, key=lambda n: (n != 'Default', n))


def _site_partition(site, name):
    try:
        return site.partition(name)
    except ObjectError:
        return None


def _pct(value, top):
    return round(100 * max(0, value) / top, 3) if top else 0


class _Page(HTMLMixin, WebModule):
    def render(self, caller, **context):
        return self.page(caller=caller, context=context)


class SiteUsagePage(_Page):
    """Usage of every site in one partition on one shared scale: bytes present, bytes once the
    transfers complete and the quota, sortable by name, occupancy, usage or quota."""
    title = 'Site usage'
    template = 'webmodules/inventory/sites.html'
    scripts = ('webmodules/inventory_sites.js',)
    SORTS = {'name': 'name', 'occupancy': 'occupancy', 'usage': 'usage', 'projected': 'projected usage',
             'quota': 'quota'}

    def run(self, caller, request, inventory):
        partitions = _partition_names(inventory)
        partition = one(request, 'partition') or (partitions[0] if partitions else 'Default')
        if partitions and partition not in partitions:
            raise IllFormedRequest('partition', partition, 'one of ' + ', '.join(partitions))
        sort = one(request, 'sort', 'name')
        if sort not in self.SORTS:
            raise IllFormedRequest('sort', sort, 'one of ' + ', '.join(self.SORTS))
        order = one(request, 'order') or ('asc' if sort == 'name' else 'desc')
        if order not in ('asc', 'desc'):
            raise IllFormedRequest('order', order, 'asc or desc')
        pattern = one(request, 'site', '')
        match = matcher(pattern, 'site')
        rows = []
        for site in inventory.sites.values():
            if match is not None and not match(site.name):
                continue
            sp = _site_partition(site, partition)
            quota = sp.quota if sp is not None else 0
            usage, projected = (sp.usage(True), sp.usage(False)) if sp is not None else (0, 0)
            rows.append({'name': site.name, 'storage_type': site.storage_type.label, 'status': site.status.label,
                         'quota': quota, 'usage': usage, 'projected': projected,
                         'occupancy': usage / quota if quota > 0 else None})
        top, ticks = nice_scale(max([max(r['usage'], r['projected'], r['quota']) for r in rows] or [0]))
        for r in rows:
            r.update(usage_pct=_pct(r['usage'], top), projected_pct=_pct(r['projected'], top),
                     quota_pct=_pct(r['quota'], top) if r['quota'] > 0 else None)
        rows.sort(key=lambda r: r['name'], reverse=sort == 'name' and order == 'desc')
        if sort != 'name':
            # sites without a quota (no occupancy) come last, whatever the order
            value = {'occupancy': lambda r: r['occupancy'], 'quota': lambda r: r['quota'] if r['quota'] > 0 else None,
                     'usage': lambda r: r['usage'], 'projected': lambda r: r['projected']}[sort]
            known = sorted((r for r in rows if value(r) is not None), key=value, reverse=order == 'desc')
            rows = known + [r for r in rows if value(r) is None]
        totals = {k: sum(r[k] for r in rows) for k in ('usage', 'projected')}
        totals['quota'] = sum(r['quota'] for r in rows if r['quota'] > 0)
        return self.render(caller, rows=rows, partition=partition, partitions=partitions, sort=sort, order=order,
                           sorts=self.SORTS, pattern=pattern, top=top,
                           ticks=[{'value': t, 'pct': _pct(t, top)} for t in ticks], totals=totals,
                           params=_params(request, 'partition', 'site', 'sort', 'order'))


def _history_points(series):
    """{partition: [[t, quota, usage, projected], ...]} of usage_selectors.history rows."""
    return {s['partition']: s['points'] for s in series}


class SitePage(_Page):
    """One site: its partitions with quota, usage and occupancy, its usage over time, and the
    datasets it holds."""
    title = 'Site'
    template = 'webmodules/inventory/site.html'
    scripts = ('webmodules/inventory_history.js',)
    parameters = (Param('name', required=True, description='the site'),)

    def run(self, caller, request, inventory):
        name = one(request, 'name')
        if not name:
            raise MissingParameter('name', '/web/inventory/site')
        site = inventory.sites.get(name)
        if site is None:
            raise NotFound(f'no site {name}')
        self.title = name
        parts = []
        for partition, sp in sorted(site.partitions.items(), key=lambda kv: (kv[0].name != 'Default', kv[0].name)):
            quota, usage, projected = sp.quota, sp.usage(True), sp.usage(False)
            top = max(usage, projected, quota, 1)
            parts.append({'name': partition.name, 'composite': partition.is_superpartition, 'quota': quota,
                          'usage': usage, 'projected': projected,
                          'occupancy': usage / quota if quota > 0 else None,
                          'usage_pct': _pct(usage, top), 'projected_pct': _pct(projected, top),
                          'quota_pct': _pct(quota, top) if quota > 0 else None,
                          'subpartitions': [p.name for p in partition.subpartitions or ()]})
        names = [p['name'] for p in parts]
        partition = one(request, 'partition') or (names[0] if names else 'Default')
        if names and partition not in names:
            raise IllFormedRequest('partition', partition, 'one of ' + ', '.join(names))
        series = usage_selectors.history(site=name, partition=partition, points=400)
        points = series[0]['points'] if series else []
        paging = Paging(request, ('dataset', 'size', 'blocks', 'last_update'), 'dataset')
        datasets = site_datasets(site, paging)
        num_block_replicas = sum(len(r.block_replicas) for r in site.dataset_replicas())
        return self.render(caller, site=site, name=name, storage_type=site.storage_type.label,
                           status=site.status.label, partitions=parts, partition=partition,
                           history={'series': [{'label': f'{partition}', 'points': points}], 'partition': partition},
                           num_samples=len(points), datasets=datasets, paging=paging,
                           num_block_replicas=num_block_replicas,
                           params=_params(request, 'name', 'partition', 'sort', 'order', 'per_page'))


class DatasetSearchPage(_Page):
    """Datasets matching a name pattern, sorted and paged on the server, with totals; each row
    leads to the dataset's page."""
    title = 'Datasets'
    template = 'webmodules/inventory/datasets.html'
    KEYS = ('name', 'status', 'type', 'num_blocks', 'num_files', 'size', 'last_update', 'replicas')

    def run(self, caller, request, inventory):
        pattern = one(request, 'dataset', '') or '/*'
        paging = Paging(request, self.KEYS, 'name')
        rows, totals = dataset_table(inventory, pattern, paging)
        return self.render(caller, rows=rows, totals=totals, paging=paging, pattern=pattern,
                           params=_params(request, 'dataset', 'sort', 'order', 'per_page'))


class DatasetPage(_Page):
    """One dataset: its attributes, its replicas per site, its blocks (with their files on demand)."""
    title = 'Dataset'
    template = 'webmodules/inventory/dataset.html'
    scripts = ('webmodules/inventory_dataset.js',)
    parameters = (Param('name', required=True, description='the dataset'),)

    def run(self, caller, request, inventory):
        name = one(request, 'name')
        if not name:
            raise MissingParameter('name', '/web/inventory/dataset')
        dataset = inventory.datasets.get(name)
        if dataset is None:
            raise NotFound(f'no dataset {name}')
        self.title = name
        size = dataset.size
        replicas = []
        for r in sorted(dataset.replicas, key=lambda r: r.site.name):
            groups = sorted({br.group.name or '(none)' for br in r.block_replicas})
            present = r.size(True)
            replicas.append({'site': r.site.name, 'groups': groups, 'blocks': len(r.block_replicas),
                             'size': present, 'fraction': present / size if size else 1.0,
                             'complete': r.is_complete() and len(r.block_replicas) == len(dataset.blocks),
                             'custodial': any(br.is_custodial for br in r.block_replicas),
                             'last_update': r.last_block_created()})
        paging = Paging(request, ('name', 'size', 'num_files', 'last_update', 'replicas'), 'name', per_page=100)
        keys = {'name': lambda b: b.name, 'size': lambda b: (b.size, b.name), 'num_files': lambda b: (b.num_files, b.name),
                'last_update': lambda b: (b.last_update, b.name), 'replicas': lambda b: (len(b.replicas), b.name)}
        blocks = sorted(dataset.blocks, key=keys[paging.sort], reverse=paging.desc)
        paging.total = len(blocks)
        page = [{'name': b.name, 'full_name': b.full_name(), 'size': b.size, 'num_files': b.num_files, 'is_open': b.is_open,
                 'last_update': b.last_update,
                 'sites': [{'name': br.site.name, 'complete': br.is_complete()} for br in
                           sorted(b.replicas, key=lambda br: br.site.name)]}
                for b in blocks[paging.offset:paging.offset + paging.per_page]]
        return self.render(caller, dataset=dataset, name=name, size=size, num_files=dataset.num_files,
                           status=dataset.status.label, data_type=dataset.data_type.label, replicas=replicas,
                           blocks=page, paging=paging, params=_params(request, 'name', 'sort', 'order', 'per_page'))


class ReplicaTablePage(_Page):
    """Block replicas of the datasets matching a pattern (at the sites, of the groups matching
    theirs), one page at a time, sorted on the server."""
    title = 'Replicas'
    template = 'webmodules/inventory/replicas.html'

    def run(self, caller, request, inventory):
        pattern = one(request, 'dataset', '') or '/*'
        site, group = one(request, 'site', ''), one(request, 'group', '')
        complete = one(request, 'complete', '')
        if complete not in ('', 'y', 'n'):
            raise IllFormedRequest('complete', complete, 'y, n or nothing')
        paging = Paging(request, ('block', 'site', 'group', 'complete', 'size', 'num_files', 'last_update'), 'block')
        rows = replica_table(inventory, dataset=pattern, site=site or None, group=group or None,
                             complete={'y': True, 'n': False}.get(complete), paging=paging)
        return self.render(caller, rows=rows, paging=paging, pattern=pattern, site=site, group=group,
                           complete=complete,
                           params=_params(request, 'dataset', 'site', 'group', 'complete', 'sort', 'order', 'per_page'))


class HistoryPage(_Page):
    """Usage over time of the sites in one partition, from the samples of the usage history."""
    title = 'Usage history'
    template = 'webmodules/inventory/history.html'
    scripts = ('webmodules/inventory_history.js',)

    def run(self, caller, request, inventory):
        partitions = _partition_names(inventory)
        partition = one(request, 'partition') or (partitions[0] if partitions else 'Default')
        pattern = one(request, 'site', '')
        days = one(request, 'range', '30')
        if days not in dict(HISTORY_RANGES):
            raise IllFormedRequest('range', days, 'one of ' + ', '.join(dict(HISTORY_RANGES)))
        since = None if days == 'all' else time.time() - 86400 * int(days)
        series = usage_selectors.history(site=pattern or None, partition=partition, since=since, points=300)
        series.sort(key=lambda s: -(s['points'][-1][2] if s['points'] else 0))
        table = [{'site': s['site'], 'first': s['points'][0], 'last': s['points'][-1],
                  'change': s['points'][-1][2] - s['points'][0][2], 'samples': len(s['points'])}
                 for s in series if s['points']]
        shown = series[:SERIES_LIMIT]
        latest = usage_selectors.sample_times(limit=1)
        return self.render(caller, partition=partition, partitions=partitions, pattern=pattern, range=days,
                           ranges=HISTORY_RANGES, table=table, num_series=len(series), limit=SERIES_LIMIT,
                           history={'series': [{'label': s['site'], 'points': s['points']} for s in shown],
                                    'partition': partition, 'per_site': True},
                           latest=latest[0] if latest else None)
