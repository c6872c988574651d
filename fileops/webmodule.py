"""The `fileops` web module: file tasks as JSON (/data/fileops/transfers, /data/fileops/deletions,
filters site, state, request, dataset, lfn; paged with limit and offset), the links now and over
time (/data/fileops/links, /data/fileops/history), and the page /web/fileops with per-link rates
and queue depths over time."""
from django.utils import timezone

from fileops import selectors
from fileops.models import TaskKind, TaskState
from webmodules.base import HTMLMixin, IllFormedRequest, InvalidRequest, Param, WebModule, count
from webmodules.schemas import (BOOLEAN, BYTES, INTEGER, ISO_TIME, NUMBER, STRING, array, enum, mapping, nullable,
                                obj)

MAX_ROWS = 10_000

# the API description (webmodules/openapi.py)
_TASK = obj({'id': INTEGER, 'kind': enum(*TaskKind.values), 'state': enum(*TaskState.values), 'site': STRING,
             'source': STRING, 'lfn': STRING, 'dataset': STRING, 'block': STRING, 'size': BYTES,
             'checksum': STRING, 'attempts': INTEGER, 'interruptions': INTEGER, 'executor': STRING,
             'external_id': STRING, 'outcome': STRING, 'seconds': nullable(NUMBER), 'reason': STRING,
             'error_kind': STRING, 'applied': BOOLEAN, 'created': ISO_TIME, 'queued_at': nullable(ISO_TIME),
             'started': nullable(ISO_TIME), 'finished': nullable(ISO_TIME), 'retry_at': nullable(ISO_TIME),
             'pfn': STRING, 'source_pfn': STRING, 'transfer_id': nullable(INTEGER),
             'deletion_id': nullable(INTEGER), 'origin': STRING})
_TASK_FILTERS = (
    Param('site', description='the destination of a transfer, the site of a deletion (several comma-separated)'),
    Param('source', description='the source site of a transfer'),
    Param('state', description=f'several comma-separated: {", ".join(TaskState.values)}'),
    Param('request', 'integer', description='the tasks of a copy or deletion request'),
    Param('dataset', description='exactly, or a prefix ending in *'),
    Param('lfn', description='exactly, or a prefix ending in *'),
    Param('limit', 'integer', default=1000, description=f'at most {MAX_ROWS}'), Param('offset', 'integer', default=0))
_SITE = Param('site', description='one site')


def _one(request, name):
    value = request.get(name)
    if isinstance(value, list):
        value = ','.join(value)
    return value or None


class _Tasks(WebModule):
    kind = None

    def run(self, caller, request, inventory):
        try:
            query = selectors.task_query(kind=self.kind, site=_one(request, 'site'), state=_one(request, 'state'),
                                         dataset=_one(request, 'dataset'), request=_one(request, 'request'),
                                         lfn=_one(request, 'lfn'), source=_one(request, 'source'))
        except selectors.FilterError as exc:
            raise InvalidRequest(str(exc)) from None
        limit = count(request, 'limit', 1000, MAX_ROWS)
        offset = count(request, 'offset', 0, 10 ** 9)
        rows = selectors.task_rows(query, limit=limit, offset=offset)
        total = selectors.task_count(query)
        self.message = f'{self.kind}s {offset + 1}-{offset + len(rows)} of {total}' if rows else f'{total} {self.kind}s'
        return rows


class Transfers(_Tasks):
    """Transfer tasks, newest first: `site` (destination), `source`, `state`, `request`, `dataset`,
    `lfn` (a trailing * matches a prefix); `limit` (1000, at most 10000) and `offset`."""
    kind = TaskKind.TRANSFER
    parameters = _TASK_FILTERS
    response = array(_TASK)


class Deletions(_Tasks):
    """Deletion tasks, newest first; the filters of transfers."""
    kind = TaskKind.DELETION
    parameters = _TASK_FILTERS
    response = array(_TASK)


class Summary(WebModule):
    """Tasks per kind and state, optionally of one `site`."""
    parameters = (_SITE,)
    response = mapping(mapping(INTEGER), description='{kind: {state: tasks}}')

    def run(self, caller, request, inventory):
        return selectors.state_counts(selectors.task_query(site=_one(request, 'site')))


class Links(WebModule):
    """Each link now: tasks queued, active, failed and held, and the bytes waiting."""
    parameters = ()
    response = array(obj({'kind': STRING, 'source': STRING, 'site': STRING, 'queued': INTEGER, 'active': INTEGER,
                          'failed': INTEGER, 'held': INTEGER, 'bytes_waiting': BYTES}))

    def run(self, caller, request, inventory):
        return selectors.links_now()


class History(WebModule):
    """Link samples (one per updater pass) of the last `hours` (24, at most 720): queue depths and
    what finished, with rates in files/s and bytes/s; `site` and `kind` narrow them."""
    parameters = (Param('hours', 'integer', default=24, description='at most 720'),
                  Param('site', description='links to or from this site'), Param('kind', enum=tuple(TaskKind.values)))
    response = array(obj({'time': ISO_TIME, 'kind': STRING, 'source': STRING, 'site': STRING, 'queued': INTEGER,
                          'active': INTEGER, 'done': INTEGER, 'failed': INTEGER, 'bytes': BYTES,
                          'rate': NUMBER, 'throughput': NUMBER}))

    def run(self, caller, request, inventory):
        hours = count(request, 'hours', 24, 720)
        kind = _one(request, 'kind')
        if kind is not None and kind not in TaskKind.values:
            raise IllFormedRequest('kind', kind, 'transfer or deletion')
        return selectors.link_history(since=timezone.now() - timezone.timedelta(hours=hours),
                                      site=_one(request, 'site'), kind=kind)


class FileopsPage(HTMLMixin, WebModule):
    """Links now, their rates and queue depths over time, and the tasks."""
    title = 'File operations'
    template = 'fileops/fileops.html'
    scripts = ('fileops/fileops.js',)

    def run(self, caller, request, inventory):
        return self.page(caller=caller)


export_data = {'transfers': Transfers, 'deletions': Deletions, 'summary': Summary, 'links': Links,
               'history': History}
export_web = {'': FileopsPage}
