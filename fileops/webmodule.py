"""The `fileops` web module: file tasks as JSON (/data/fileops/transfers, /data/fileops/deletions,
filters site, state, request, dataset, lfn; paged with limit and offset), the links now and over
time (/data/fileops/links, /data/fileops/history), and the page /web/fileops with per-link rates
and queue depths over time."""
from django.utils import timezone

from fileops import selectors
from fileops.models import TaskKind
from webmodules.base import HTMLMixin, IllFormedRequest, InvalidRequest, WebModule

MAX_ROWS = 10_000


def _one(request, name):
    value = request.get(name)
    if isinstance(value, list):
        value = ','.join(value)
    return value or None


def _number(request, name, default, maximum):
    value = _one(request, name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 9) or int(value) > maximum:
        raise IllFormedRequest(name, value, f'expected a number from 0 to {maximum}')
    return int(value)


class _Tasks(WebModule):
    kind = None

    def run(self, caller, request, inventory):
        try:
            query = selectors.task_query(kind=self.kind, site=_one(request, 'site'), state=_one(request, 'state'),
                                         dataset=_one(request, 'dataset'), request=_one(request, 'request'),
                                         lfn=_one(request, 'lfn'), source=_one(request, 'source'))
        except selectors.FilterError as exc:
            raise InvalidRequest(str(exc)) from None
        limit = _number(request, 'limit', 1000, MAX_ROWS)
        offset = _number(request, 'offset', 0, 10 ** 9)
        rows = selectors.task_rows(query, limit=limit, offset=offset)
        total = selectors.task_count(query)
        self.message = f'{self.kind}s {offset + 1}-{offset + len(rows)} of {total}' if rows else f'{total} {self.kind}s'
        return rows


class Transfers(_Tasks):
    """Transfer tasks, newest first: `site` (destination), `source`, `state`, `request`, `dataset`,
    `lfn` (a trailing * matches a prefix); `limit` (1000, at most 10000) and `offset`."""
    kind = TaskKind.TRANSFER


class Deletions(_Tasks):
    """Deletion tasks, newest first; the filters of transfers."""
    kind = TaskKind.DELETION


class Summary(WebModule):
    """Tasks per kind and state, optionally of one `site`."""

    def run(self, caller, request, inventory):
        return selectors.state_counts(selectors.task_query(site=_one(request, 'site')))


class Links(WebModule):
    """Each link now: tasks queued, active, failed and held, and the bytes waiting."""

    def run(self, caller, request, inventory):
        return selectors.links_now()


class History(WebModule):
    """Link samples (one per updater pass) of the last `hours` (24, at most 720): queue depths and
    what finished, with rates in files/s and bytes/s; `site` and `kind` narrow them."""

    def run(self, caller, request, inventory):
        hours = _number(request, 'hours', 24, 720)
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
