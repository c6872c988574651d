"""The `inventory` web module: the RAM image as JSON (/data/inventory/...) and HTML pages
(/web/inventory/...); injection and deletion for users with the admin role on `inventory`.

Sizes and quotas are in bytes, times in UNIX seconds.
"""
from inventory import injection, selectors
from webmodules.base import IllFormedRequest, MissingParameter, WebModule, yesno

from .pages import SiteUsagePage, DatasetSearchPage, ReplicaTablePage


def _one(request, name):
    value = request.get(name)
    if isinstance(value, list):
        value = ','.join(value)
    return value


class Datasets(WebModule):
    """Datasets matching `dataset` (shell wildcards, comma-separated): name, size, number of
    files and blocks, status, type, open flag, last update and the sites holding a replica."""
    cacheable = True

    def run(self, caller, request, inventory):
        data = selectors.datasets(inventory, _one(request, 'dataset'))
        self.message = f'{len(data)} datasets'
        return data


class Sites(WebModule):
    """Sites matching `site` (and partitions matching `partition`): quota, usage (bytes present)
    and projected usage (bytes once every transfer completes) per partition, and totals."""
    cacheable = True

    def run(self, caller, request, inventory):
        data = selectors.sites(inventory, _one(request, 'site'), _one(request, 'partition'))
        self.message = f'{len(data)} sites'
        return data


class Groups(WebModule):
    """Groups matching `group`, with their ownership level."""
    cacheable = True

    def run(self, caller, request, inventory):
        return selectors.groups(inventory, _one(request, 'group'))


def _aliased(request, name, original):
    """Parameter `name`, or the original's name for it (`original`); not both."""
    if request.get(name) is not None and request.get(original) is not None:
        raise IllFormedRequest(original, _one(request, original), f'give "{name}" or "{original}" (the '
                                                                  f'original\'s name for it), not both')
    return _one(request, name) if request.get(name) is not None else _one(request, original)


class BlockReplicas(WebModule):
    """Blocks and their replicas. Filters: `dataset` or `block` (dataset#block) pattern (one is
    required), `site` (or the original's `node`), `group` (patterns), `complete` (y/n),
    `updated_since` (or the original's `update_since`; UNIX time)."""
    cacheable = True

    def run(self, caller, request, inventory):
        if not request.get('dataset') and not request.get('block'):
            raise MissingParameter('dataset or block', '/data/inventory/blockreplicas')
        block = _one(request, 'block')
        if block and not block.partition('#')[0].strip():
            raise IllFormedRequest('block', block, 'expected DATASET#BLOCK patterns with a dataset part '
                                                   '(e.g. /A/B/RAW#*)')
        since = _aliased(request, 'updated_since', 'update_since')
        if since is not None:
            try:
                since = int(since)
            except (TypeError, ValueError):
                raise IllFormedRequest('updated_since', since, 'expected a UNIX time') from None
        data = selectors.block_replicas(inventory, dataset=_one(request, 'dataset'), block=block,
                                        site=_aliased(request, 'site', 'node'), group=_one(request, 'group'),
                                        complete=yesno(request, 'complete'), updated_since=since)
        self.message = f'{len(data)} blocks'
        return data


class Stats(WebModule):
    """Totals listed by `list_by` = site, group, data_type or status (default site): number of
    datasets and their size, replicas, replica bytes (physical and projected) and replication
    factor. Optional `dataset` and `site` patterns restrict what is counted."""
    cacheable = True

    def run(self, caller, request, inventory):
        list_by = _one(request, 'list_by') or 'site'
        if list_by not in selectors.STATS_KEYS:
            raise IllFormedRequest('list_by', list_by, 'one of ' + ', '.join(selectors.STATS_KEYS))
        return selectors.stats(inventory, list_by=list_by, dataset=_one(request, 'dataset'), site=_one(request, 'site'))


def _document(module):
    """The injection document: the JSON body of the POST request."""
    doc = module.input_data
    if doc is None:
        raise MissingParameter('JSON body (the injection document)', module.__class__.__name__)
    return injection.check_document(doc)


def _with_warnings(message, counter):
    if counter.warnings:
        message += '; warning: ' + '; '.join(counter.warnings)
    return message


class Inject(WebModule):
    """Inject an injection document (JSON body: `dataset`, `site`, `group`, `datasetreplica`
    lists, as `dynamo_inject` and the original dynamo-inject send it). Needs role admin on
    target inventory. Applied as one change set: all or nothing. Returns the counts created;
    the message carries warnings (the original client's "gruop", read as "group")."""
    require_roles = (('admin', 'inventory'),)
    write_enabled = True

    def run(self, caller, request, inventory):
        doc = _document(self)
        created = injection.inject(inventory, doc)
        self.message = _with_warnings('Data injected' if any(created.values()) else 'Nothing new to inject',
                                      created)
        return dict(created)


class Delete(Inject):
    """Delete what an injection-shaped document names (names only; see docs/injection.md).
    Needs role admin on target inventory. Returns the counts deleted."""

    def run(self, caller, request, inventory):
        doc = _document(self)
        deleted = injection.invalidate(inventory, doc)
        self.message = _with_warnings('Data deleted' if any(deleted.values()) else 'Nothing deleted', deleted)
        return dict(deleted)


export_data = {
    'datasets': Datasets, 'sites': Sites, 'groups': Groups, 'blockreplicas': BlockReplicas,
    'stats': Stats, 'inject': Inject, 'delete': Delete,
    # names the original client used for the synchronous variants
    'injectsync': Inject, 'deletesync': Delete,
}
export_web = {
    '': SiteUsagePage, 'sites': SiteUsagePage, 'datasets': DatasetSearchPage, 'replicas': ReplicaTablePage,
}
