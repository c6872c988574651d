"""Record a usage sample now (the `usage` cycle on the running server), or list the samples."""
import logging

from django.conf import settings
from django.core.management.base import CommandError

from dynamo_site.cli import DynamoCommand, require_database
from execution import client
from execution.topology import server_paths
from policy.units import format_size
from usage import selectors


class Command(DynamoCommand):
    help = ('Usage history: --record takes a sample of every site and partition now (the `usage` cycle, '
            'which the schedule runs at its interval); --list shows the latest sample times; --site SITE '
            'shows the history of a site.')
    examples = '''
        python manage.py dynamo_usage --record
        python manage.py dynamo_usage --list
        python manage.py dynamo_usage --site T2_US_MIT --partition Default
    '''

    def add_arguments(self, parser):
        parser.add_argument('--record', action='store_true', help='take a sample now (on the running server)')
        parser.add_argument('--keep-days', type=float, help='with --record: prune samples older than this')
        parser.add_argument('--list', action='store_true', help='the latest sample times')
        parser.add_argument('--site', help='the history of the sites matching this pattern')
        parser.add_argument('--partition', default='Default', help='with --site: the partition')
        parser.add_argument('--server', '-s', metavar='HOST:PORT', help='the local server serving this address')

    def handle(self, *args, **o):
        logging.getLogger('dynamo').setLevel(logging.WARNING)
        require_database()
        if o['record']:
            return self.record(o)
        if o['site']:
            for series in selectors.history(site=o['site'], partition=o['partition'], points=None):
                self.stdout.write(f'{series["site"]} {series["partition"]}')
                for t, quota, usage, projected in series['points']:
                    self.stdout.write(f'  {_time(t)}  usage {format_size(usage):>10}  projected '
                                      f'{format_size(projected):>10}  quota {_quota(quota)}')
            return
        for row in selectors.sample_times():
            self.stdout.write(f'{_time(row["time"])}  {row["rows"]:5d} rows  ({row["source"]})')

    def record(self, o):
        path = client.socket_path(server_paths(o['server'] or settings.DYNAMO_BIND)[0],
                                  explicit=bool(o['server'] or settings.DYNAMO_APP_SOCKET),
                                  servers_dir=settings.VAR_DIR / 'servers')
        params = {'keep_days': o['keep_days']} if o['keep_days'] is not None else {}
        try:
            app_id, final, record = client.run_builtin(socket_path=path, name='usage', params=params,
                                                       out=self.stdout, err=self.stderr)
        except client.ClientError as exc:
            raise CommandError(str(exc)) from None
        if final['state'] != 'done':
            raise CommandError(f'application {app_id} {final["state"]}: {final.get("message") or record.get("message")}')
        self.stdout.write((record.get('result') or {}).get('message') or 'recorded')


def _time(unix):
    import time
    return time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(unix))


def _quota(quota):
    return 'none' if quota == 0 else 'unlimited' if quota < 0 else format_size(quota)
