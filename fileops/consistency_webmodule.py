"""The `consistency` web module: the reports of consistency checks (/data/consistency/reports,
filters site and state), one report with its missing and orphan files (/data/consistency/report?id=),
and the page /web/consistency."""
from fileops.models import ConsistencyReport, EntryKind, ReportState
from webmodules.base import HTMLMixin, IllFormedRequest, MissingParameter, NotFound, Param, WebModule, count
from webmodules.schemas import BOOLEAN, INTEGER, ISO_TIME, NUMBER, STRING, array, enum, nullable, obj

_FIELDS = ('id', 'site', 'state', 'dry_run', 'source', 'roots', 'safety_days', 'threshold', 'inventory_files',
           'listed_files', 'missing', 'orphans', 'young_orphans', 'skipped', 'retransfers', 'deletions', 'message',
           'requested', 'started', 'listed', 'finished')

# the API description (webmodules/openapi.py)
_REPORT = {'id': INTEGER, 'site': STRING, 'state': enum(*ReportState.values), 'dry_run': BOOLEAN, 'source': STRING,
           'roots': STRING, 'safety_days': NUMBER, 'threshold': NUMBER, 'inventory_files': INTEGER,
           'listed_files': INTEGER, 'missing': INTEGER, 'orphans': INTEGER, 'young_orphans': INTEGER,
           'skipped': INTEGER, 'retransfers': INTEGER, 'deletions': INTEGER, 'message': STRING,
           'requested': ISO_TIME, 'started': nullable(ISO_TIME), 'listed': nullable(ISO_TIME),
           'finished': nullable(ISO_TIME)}
_ENTRY = obj({'kind': enum(*EntryKind.values), 'lfn': STRING, 'pfn': STRING, 'size': nullable(INTEGER),
              'mtime': nullable(INTEGER), 'action': STRING})


def _one(request, name):
    value = request.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return value or None


def _record(row):
    return {k: (v.isoformat() if hasattr(v, 'isoformat') else v) for k, v in row.items()}


class Reports(WebModule):
    """Reports, newest first: `site`, `state` (new, running, compared, applied, reported, stopped,
    failed), `limit` (100, at most 10000)."""
    parameters = (Param('site'), Param('state', enum=tuple(ReportState.values)),
                  Param('limit', 'integer', default=100, description='at most 10000'))
    response = array(obj(_REPORT))

    def run(self, caller, request, inventory):
        qs = ConsistencyReport.objects.all()
        if _one(request, 'site'):
            qs = qs.filter(site=_one(request, 'site'))
        state = _one(request, 'state')
        if state:
            if state not in ReportState.values:
                raise IllFormedRequest('state', state, f'one of {", ".join(ReportState.values)}')
            qs = qs.filter(state=state)
        return [_record(r) for r in qs.order_by('-id').values(*_FIELDS)[:count(request, 'limit', 100, 10_000)]]


class Report(WebModule):
    """Report `id` with its files: `kind` (missing or orphan), `limit` (1000, at most 100000), `offset`."""
    parameters = (Param('id', 'integer', required=True, description='the report'),
                  Param('kind', enum=tuple(EntryKind.values)),
                  Param('limit', 'integer', default=1000, description='at most 100000'),
                  Param('offset', 'integer', default=0))
    response = obj(dict(_REPORT, files=array(_ENTRY)))

    def run(self, caller, request, inventory):
        report_id = _one(request, 'id')
        if report_id is None:
            raise MissingParameter('id')
        if not (report_id.isascii() and report_id.isdigit()):
            raise IllFormedRequest('id', report_id, 'a report number')
        row = ConsistencyReport.objects.filter(id=int(report_id)).values(*_FIELDS).first()
        if row is None:
            raise NotFound(f'no consistency report {report_id}')
        entries = ConsistencyReport.objects.get(id=row['id']).entries.order_by('kind', 'lfn')
        kind = _one(request, 'kind')
        if kind:
            if kind not in EntryKind.values:
                raise IllFormedRequest('kind', kind, 'missing or orphan')
            entries = entries.filter(kind=kind)
        offset = count(request, 'offset', 0, 10 ** 9)
        limit = count(request, 'limit', 1000, 100_000)
        out = _record(row)
        out['files'] = list(entries.values('kind', 'lfn', 'pfn', 'size', 'mtime', 'action')[offset:offset + limit])
        return out


class ConsistencyPage(HTMLMixin, WebModule):
    """The reports, and the files of the one selected."""
    title = 'Storage consistency'
    template = 'fileops/consistency.html'
    scripts = ('fileops/consistency.js',)

    def run(self, caller, request, inventory):
        return self.page(caller=caller)


export_data = {'reports': Reports, 'report': Report}
export_web = {'': ConsistencyPage}
