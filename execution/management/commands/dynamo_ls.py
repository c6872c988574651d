"""Query the running server from the shell: datasets, blocks, replicas, sites, groups, requests,
as aligned tables with human sizes, or JSON for scripts."""
import json

from django.conf import settings
from django.core.management.base import CommandError

from dynamo_site.cli import DynamoCommand, human_size, table
from execution import webclient


def _when(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M') if t else ''


def _occupancy(usage, quota):
    if quota is None or quota == 0:
        return 'no quota'
    if quota < 0:
        return 'unlimited'
    return f'{100 * usage / quota:.1f} %'


# what: (path, pattern parameter, columns, row builder)
QUERIES = {
    'datasets': ('/data/inventory/datasets', 'dataset', ['dataset', 'size', 'files', 'blocks', 'status', 'sites'],
                 lambda d: [d['name'], human_size(d['size']), d['num_files'], d['num_blocks'], d['status'],
                            ','.join(d['sites']) or '-']),
    'blocks': ('/data/inventory/blockreplicas', 'block', ['block', 'size', 'files', 'open', 'replicas'],
               lambda b: [f'{b["dataset"]}#{b["block"]}', human_size(b['size']), b['num_files'],
                          'yes' if b['is_open'] else 'no', ','.join(r['site'] for r in b['replicas'] if r) or '-']),
    'sites': ('/data/inventory/sites', 'site', ['site', 'status', 'storage', 'quota', 'used', 'projected', 'occupancy'],
              lambda s: [s['name'], s['status'], s['storage_type'], human_size(s['total_quota']) or '-',
                         human_size(s['total_usage']), human_size(s['total_projected_usage']),
                         _occupancy(s['total_usage'], s['total_quota'])]),
    'groups': ('/data/inventory/groups', 'group', ['group', 'ownership'], lambda g: [g['name'], g['olevel']]),
    'requests': ('/data/request/pollcopy', 'item', ['id', 'status', 'items', 'sites', 'group', 'n', 'user'],
                 lambda r: [r.get('request_id'), r.get('status'), ','.join(r.get('item') or []),
                            ','.join(r.get('site') or []), r.get('group'), r.get('n'), r.get('user')]),
}


def _replica_rows(blocks):
    rows = []
    for b in blocks:
        for r in b['replicas']:
            if r:
                size = b['size'] if r['complete'] else r['size']
                rows.append([f'{b["dataset"]}#{b["block"]}', r['site'], r['group'] or '(none)',
                             f'{human_size(size)} of {human_size(b["size"])}', 'yes' if r['complete'] else 'no',
                             _when(r['last_update'])])
    return rows


class Command(DynamoCommand):
    help = ('List what the running server holds: datasets, blocks, replicas (block replicas), sites, groups '
            'or copy requests matching a pattern (shell wildcards, comma-separated).')
    examples = '''
        python manage.py dynamo_ls datasets '/SingleMuon/*'
        python manage.py dynamo_ls blocks '/SingleMuon/Run2026A-PromptReco-v1/MINIAOD#*'
        python manage.py dynamo_ls replicas '/SingleMuon/*' --site 'T2_US_*'
        python manage.py dynamo_ls sites 'T2_*'
        python manage.py dynamo_ls groups
        python manage.py dynamo_ls requests --site T2_US_MIT
        python manage.py dynamo_ls datasets '/A/*' --json | jq '.[].size'
    '''

    def add_arguments(self, parser):
        parser.add_argument('what', choices=['datasets', 'blocks', 'replicas', 'sites', 'groups', 'requests'])
        parser.add_argument('pattern', nargs='?', default='', help='name pattern (default: everything)')
        parser.add_argument('--site', help='site pattern (replicas, blocks, requests)')
        parser.add_argument('--group', help='owner group pattern (replicas)')
        parser.add_argument('--limit', type=int, default=1000, help='at most this many rows')
        parser.add_argument('--json', action='store_true', help='the raw answer, as JSON')
        parser.add_argument('--url', help='the server (default: the one serving DYNAMO_BIND on this machine)')

    def handle(self, *args, **o):
        base = o['url'] or webclient.server_url(settings.DYNAMO_BIND, https=bool(settings.DYNAMO_WEB_SSL_CERT))
        what = o['what']
        path, key, columns, build = QUERIES['blocks' if what == 'replicas' else what]
        params = {key: o['pattern']}
        if what in ('blocks', 'replicas'):
            pattern = o['pattern'] or '*'
            params = {'block': pattern} if '#' in pattern else {'dataset': pattern}
            params.update(site=o['site'], group=o['group'], limit=o['limit'])
        elif what == 'datasets':
            params['limit'] = o['limit']
        elif what == 'requests':
            params['site'] = o['site']
        try:
            data, message = webclient.get(base, path, params)
        except webclient.QueryError as exc:
            raise CommandError(str(exc))
        if o['json']:
            self.stdout.write(json.dumps(data, indent=1))
            return
        if what == 'replicas':
            columns = ['block', 'site', 'group', 'present', 'complete', 'updated']
            rows = _replica_rows(data)
        else:
            rows = [build(item) for item in (data or [])][:o['limit']]
        if not rows:
            self.stdout.write(f'No {what} match.')
            return
        table(rows, columns, stream=self.stdout)
        if message:
            self.stdout.write(f'({message})')
