"""The `inventory` web module: the RAM image as JSON (/data/inventory/...) and HTML pages
(/web/inventory/...); injection and deletion for users with the admin role on `inventory`.

Sizes and quotas are in bytes, times in UNIX seconds. Long answers are paged (`limit`, `offset`),
and a query may use DYNAMO_WEB_QUERY_SECONDS of CPU time (docs/web.md, "Limits").
"""
from django.conf import settings

from inventory import injection, selectors
from webmodules.base import IllFormedRequest, InvalidRequest, MissingParameter, Param, WebModule, count, yesno
from webmodules.schemas import BOOLEAN, BYTES, INTEGER, NUMBER, STRING, UNIX_TIME, array, nullable, obj

from .pages import (DatasetPage, DatasetSearchPage, HistoryPage, ReplicaTablePage, SitePage, SiteUsagePage)
from .quotas import Quotas, SetQuota
from .tables import Files, History


# rows one answer may hold; more are asked for page by page (limit, offset)
MAX_ROWS = {'datasets': 200_000, 'blocks': 50_000}


def _one(request, name):
    value = request.get(name)
    if isinstance(value, list):
        value = ','.join(value)
    return value


def _budget():
    return selectors.Budget(settings.DYNAMO_WEB_QUERY_SECONDS)


def _paged(module, request, kind, query):
    """query(offset, limit) -> selectors.Rows, within MAX_ROWS[kind]; the message says which rows."""
    maximum = MAX_ROWS[kind]
    limit = count(request, 'limit', maximum=maximum)
    offset = count(request, 'offset') or 0
    rows = query(offset, maximum + 1 if limit is None else limit)
    if limit is None and rows.total > maximum:
        raise InvalidRequest(f'{rows.total} {kind} match, more than the {maximum} one answer holds: narrow the '
                             f'patterns, or ask for them page by page with limit (at most {maximum}) and offset')
    if limit is None and not offset:
        module.message = f'{rows.total} {kind}'
    else:
        module.message = f'{kind} {offset + 1}-{offset + len(rows)} of {rows.total}' if rows else \
            f'no {kind} from offset {offset} (of {rows.total})'
    return list(rows)


LIMIT = Param('limit', 'integer', description='rows of this page (at most the rows one answer holds)')
OFFSET = Param('offset', 'integer', description='rows skipped before this page', default=0)


class Datasets(WebModule):
    """Datasets matching `dataset` (shell wildcards, comma-separated): name, size, number of
    files and blocks, status, type, open flag, last update and the sites holding a replica.
    Paged with `limit` and `offset` (by name)."""
    cacheable = True
    methods = ('GET', 'POST')
    parameters = (Param('dataset', 'pattern', description='dataset names; all datasets without it',
                        example='/SingleMuon/*'), LIMIT, OFFSET)
    response = array(obj({'name': STRING, 'size': BYTES, 'num_files': INTEGER, 'num_blocks': INTEGER,
                          'status': STRING, 'type': STRING, 'is_open': BOOLEAN, 'last_update': UNIX_TIME,
                          'sites': array(STRING)}))

    def run(self, caller, request, inventory):
        pattern, budget = _one(request, 'dataset'), _budget()
        return _paged(self, request, 'datasets', lambda offset, limit: selectors.datasets(
            inventory, pattern, offset=offset, limit=limit, budget=budget))


class Sites(WebModule):
    """Sites matching `site` (and partitions matching `partition`): quota, usage (bytes present)
    and projected usage (bytes once every transfer completes) per partition, and totals."""
    cacheable = True
    parameters = (Param('site', 'pattern', description='site names', example='T2_*'),
                  Param('partition', 'pattern', description='partition names', example='Default'))
    response = array(obj({
        'name': STRING, 'host': STRING, 'storage_type': STRING, 'backend': STRING, 'status': STRING,
        'num_dataset_replicas': INTEGER,
        'partitions': array(obj({'name': STRING, 'type': {'type': 'string', 'enum': ['basic', 'composite']},
                                 'quota': {'type': 'integer', 'description': 'bytes; 0 none, negative unlimited'},
                                 'usage': BYTES, 'projected_usage': BYTES})),
        'total_quota': BYTES, 'total_usage': BYTES, 'total_projected_usage': BYTES}))

    def run(self, caller, request, inventory):
        data = selectors.sites(inventory, _one(request, 'site'), _one(request, 'partition'))
        self.message = f'{len(data)} sites'
        return data


class Groups(WebModule):
    """Groups matching `group`, with their ownership level."""
    cacheable = True
    parameters = (Param('group', 'pattern', description='group names', example='*Ops'),)
    response = array(obj({'name': STRING, 'olevel': {'type': 'string', 'enum': ['dataset', 'block']}}))

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
    `updated_since` (or the original's `update_since`; UNIX time). Paged with `limit` and
    `offset` (by dataset, then block)."""
    cacheable = True
    methods = ('GET', 'POST')
    parameters = (
        Param('dataset', 'pattern', description='dataset names (this or `block` is required)', example='/SingleMuon/*'),
        Param('block', 'pattern', description='DATASET#BLOCK names (this or `dataset` is required)'),
        Param('site', 'pattern', description='sites of the replicas (also `node`, the original\'s name)'),
        Param('group', 'pattern', description='owning groups of the replicas'),
        Param('complete', 'yesno', description='only complete (y) or incomplete (n) replicas'),
        Param('updated_since', 'time', description='replicas updated since (also `update_since`)'),
        LIMIT, OFFSET)
    response = array(obj({'dataset': STRING, 'block': STRING, 'size': BYTES, 'num_files': INTEGER,
                          'is_open': BOOLEAN, 'last_update': UNIX_TIME,
                          'replicas': array(obj({'site': STRING, 'group': nullable(STRING), 'complete': BOOLEAN,
                                                 'custodial': BOOLEAN, 'size': BYTES, 'num_files': INTEGER,
                                                 'last_update': UNIX_TIME}))}))

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
        filters = dict(dataset=_one(request, 'dataset'), block=block, site=_aliased(request, 'site', 'node'),
                       group=_one(request, 'group'), complete=yesno(request, 'complete'), updated_since=since)
        budget = _budget()
        return _paged(self, request, 'blocks', lambda offset, limit: selectors.block_replicas(
            inventory, offset=offset, limit=limit, budget=budget, **filters))


class Stats(WebModule):
    """Totals listed by `list_by` = site, group, data_type or status (default site): number of
    datasets and their size, replicas, replica bytes (physical and projected) and replication
    factor. Optional `dataset` and `site` patterns restrict what is counted."""
    cacheable = True
    parameters = (Param('list_by', 'string', enum=selectors.STATS_KEYS, default='site',
                        description='what the rows are'),
                  Param('dataset', 'pattern', description='count only these datasets'),
                  Param('site', 'pattern', description='count only replicas at these sites'))
    response = array(obj({'key': STRING, 'num_datasets': INTEGER, 'dataset_size': BYTES, 'num_replicas': INTEGER,
                          'num_block_replicas': INTEGER, 'replica_size': BYTES, 'projected_replica_size': BYTES,
                          'replication_factor': NUMBER}))

    def run(self, caller, request, inventory):
        list_by = _one(request, 'list_by') or 'site'
        if list_by not in selectors.STATS_KEYS:
            raise IllFormedRequest('list_by', list_by, 'one of ' + ', '.join(selectors.STATS_KEYS))
        return selectors.stats(inventory, list_by=list_by, dataset=_one(request, 'dataset'), site=_one(request, 'site'),
                               budget=_budget())


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


_NAMED = obj({'name': STRING}, extra=True)
_DOCUMENT = obj({
    'site': array(obj({'name': STRING, 'host': STRING, 'storage_type': STRING, 'backend': STRING, 'status': STRING},
                      optional=('host', 'storage_type', 'backend', 'status'))),
    'group': array(obj({'name': STRING, 'olevel': STRING}, optional=('olevel',))),
    'dataset': array(obj({'name': STRING, 'status': STRING, 'data_type': STRING, 'software_version': STRING,
                          'blocks': array(obj({'name': STRING, 'size': BYTES, 'num_files': INTEGER,
                                               'files': array(obj({'name': STRING, 'size': BYTES, 'site': STRING},
                                                                  required=['name'], extra=True))},
                                              required=['name']))}, required=['name'])),
    'datasetreplica': array(obj({'dataset': STRING, 'site': STRING, 'group': STRING, 'growing': BOOLEAN,
                                 'blockreplicas': array(obj({'block': STRING, 'group': STRING,
                                                             'files': array(STRING)}, required=['block']))},
                                required=['dataset', 'site'])),
}, required=[], description='the injection document (docs/injection.md); files also take checksums '
                            '(adler32, crc32, md5, sha1, sha256, sha512)')
_COUNTS = obj({kind: INTEGER for kind in ('datasets', 'blocks', 'files', 'sites', 'groups', 'datasetreplicas',
                                          'blockreplicas')})


class Inject(WebModule):
    """Inject an injection document (JSON body: `dataset`, `site`, `group`, `datasetreplica`
    lists, as `dynamo_inject` and the original dynamo-inject send it). Needs role admin on
    target inventory. Applied as one change set: all or nothing. Returns the counts created;
    the message carries warnings (the original client's "gruop", read as "group")."""
    require_roles = (('admin', 'inventory'),)
    write_enabled = True
    parameters = ()
    request_body = _DOCUMENT
    response = _COUNTS

    def load_document(self, path):
        """The JSON body, which the dispatcher wrote to the file `path`: checked as it is read,
        before the write starts (a document of any size up to DYNAMO_MAX_DOCUMENT_MB)."""
        self.input_data = injection.read_document(injection.FileSource(path))

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
    'quotas': Quotas, 'setquota': SetQuota,
    # names the original client used for the synchronous variants
    'injectsync': Inject, 'deletesync': Delete,
}
export_data.update({'files': Files, 'history': History})
export_web = {
    '': SiteUsagePage, 'sites': SiteUsagePage, 'site': SitePage, 'datasets': DatasetSearchPage,
    'dataset': DatasetPage, 'replicas': ReplicaTablePage, 'history': HistoryPage,
}
