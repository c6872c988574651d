"""File tasks: list, release and cancel them by filters; run a worker or the embedded pool; run the
updater now."""
import json
import signal
import sys
import threading

from django.conf import settings
from django.core.management.base import CommandError

from dynamo_site.cli import DynamoCommand, require_database


class Command(DynamoCommand):
    help = ('List, release (held -> new) or cancel file tasks by filters; run a worker, or the pool of '
            'workers runserver_dynamo starts; run the updater cycle now.')
    examples = '''
        python manage.py dynamo_fileops --list --site T2_XX_B --state held
        python manage.py dynamo_fileops --list --kind deletion --dataset '/Prim/Proc*' --json
        python manage.py dynamo_fileops --release --site T2_XX_B
        python manage.py dynamo_fileops --cancel --request 42
        python manage.py dynamo_fileops --update              # the updater cycle, on the local server
        python manage.py dynamo_fileops --worker --threads 32  # one worker (Ctrl-C stops it cleanly)
    '''

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument('--list', action='store_true', help='print the tasks that match the filters')
        action.add_argument('--release', action='store_true', help='held and failed tasks -> new (tried again)')
        action.add_argument('--cancel', action='store_true', help='tasks waiting (new, queued, failed, held) -> cancelled')
        action.add_argument('--worker', action='store_true', help='run a worker until stopped')
        action.add_argument('--pool', action='store_true', help='run --processes workers, restarting any that dies')
        action.add_argument('--update', action='store_true', help='run the updater cycle on the local server now')
        filters = parser.add_argument_group('filters')
        filters.add_argument('--kind', choices=('transfer', 'deletion'))
        filters.add_argument('--site', help='the destination of a transfer or the site of a deletion (comma list)')
        filters.add_argument('--source', help='the source site of transfers')
        filters.add_argument('--state', help='comma list of new, queued, active, done, failed, held, cancelled')
        filters.add_argument('--dataset', help="a dataset name, or a prefix ending in '*'")
        filters.add_argument('--lfn', help="a file name, or a prefix ending in '*'")
        filters.add_argument('--request', help='the copy or deletion request that made them')
        filters.add_argument('--id', type=int, action='append', dest='ids', help='a task id (repeatable)')
        parser.add_argument('--limit', type=int, default=100, help='--list: at most this many, newest first')
        parser.add_argument('--json', action='store_true', help='--list: JSON records')
        parser.add_argument('--reason', default='cancelled by an operator', help='--cancel: the reason recorded')
        worker = parser.add_argument_group('workers')
        worker.add_argument('--threads', type=int, help='operations at once (default DYNAMO_FILEOPS_THREADS)')
        worker.add_argument('--batch', type=int, help='tasks per claim (default DYNAMO_FILEOPS_BATCH)')
        worker.add_argument('--lease', type=float, help='seconds a claim lasts without a heartbeat')
        worker.add_argument('--once', action='store_true', help='--worker: stop when the queue is empty')
        worker.add_argument('--idle-exit', type=float, metavar='SECONDS',
                            help='--worker: stop after this long without work (--pool: default DYNAMO_FILEOPS_IDLE_EXIT)')
        worker.add_argument('--processes', type=int, help='--pool: worker processes (default DYNAMO_FILEOPS_PROCESSES)')
        worker.add_argument('--counts', metavar='FILE', help='--worker: write its counts (JSON) there at the end')
        worker.add_argument('--parent', type=int, help=('end with this process (set by the pool and '
                                                        'runserver_dynamo)'))
        parser.add_argument('--server', metavar='HOST:PORT', help='--update: the local server serving this address')

    def handle(self, *args, **o):
        if o['parent']:
            from execution.confine import die_with
            die_with(o['parent'])
        require_database()
        if o['worker'] or o['pool']:
            return self._run(o)
        if o['update']:
            return self._update(o)
        from fileops import selectors, services
        try:
            query = selectors.task_query(kind=o['kind'], site=o['site'], source=o['source'], state=o['state'],
                                         dataset=o['dataset'], lfn=o['lfn'], request=o['request'], ids=o['ids'])
        except selectors.FilterError as exc:
            raise CommandError(str(exc))
        if o['list']:
            return self._list(selectors.task_rows(query, limit=o['limit']), selectors.task_count(query), o['json'])
        if not any(o[k] for k in ('kind', 'site', 'source', 'state', 'dataset', 'lfn', 'request', 'ids')):
            raise CommandError('--release and --cancel need at least one filter (e.g. --site, --request, --id)')
        if o['release']:
            self.stdout.write(f'{services.tasks_release(query=query)} tasks released')
        else:
            self.stdout.write(f'{services.tasks_cancel(query=query, reason=o["reason"])} tasks cancelled')

    def _list(self, rows, total, as_json):
        if as_json:
            self.stdout.write(json.dumps(rows, indent=1))
            return
        self.stdout.write(f'{"id":>8} {"kind":8} {"state":9} {"site":14} {"source":14} {"tries":>5}  lfn / reason')
        for r in rows:
            self.stdout.write(f'{r["id"]:>8} {r["kind"]:8} {r["state"]:9} {r["site"]:14} {r["source"] or "-":14} '
                              f'{r["attempts"]:>5}  {r["lfn"]}')
            if r['reason'] and r['state'] in ('failed', 'held', 'cancelled', 'queued'):
                self.stdout.write(f'{"":>62}{r["reason"][:200]}')
        self.stdout.write(f'{len(rows)} of {total} tasks')

    def _run(self, o):
        from fileops import pool
        from fileops.conf import conf
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        if o['pool']:
            args = [f'--{k}={o[k]}' for k in ('threads', 'batch', 'lease') if o[k]]
            cf = conf()
            pool.supervise(stop, processes=o['processes'] or cf.processes, worker_args=args,
                           idle_exit=cf.idle_exit if o['idle_exit'] is None else o['idle_exit'], poll=cf.poll)
            return
        from fileops.worker import Worker
        worker = Worker(threads=o['threads'], batch=o['batch'], lease=o['lease'])
        counts = worker.serve(stop, once=o['once'], idle_exit=o['idle_exit'])
        if o['counts']:
            with open(o['counts'], 'w') as f:
                json.dump(counts.as_dict(), f)
        if o['verbosity'] >= 1 and o['once']:
            self.stdout.write(f'{counts.done} done, {counts.failed} failed of {counts.claimed} claimed')

    def _update(self, o):
        from execution import client
        from execution.topology import server_paths
        path = client.socket_path(server_paths(o['server'] or settings.DYNAMO_BIND)[0],
                                  explicit=bool(o['server'] or settings.DYNAMO_APP_SOCKET),
                                  servers_dir=settings.VAR_DIR / 'servers')
        try:
            app_id, final, record = client.run_builtin(socket_path=path, name='updater', params={},
                                                       out=self.stdout, err=self.stderr)
        except client.ClientError as exc:
            raise CommandError(str(exc))
        self.stdout.write(f'updater (application {app_id}) {final["state"]}: {record.get("message") or final["message"]}')
        if final['state'] != 'done':
            sys.exit(1)
