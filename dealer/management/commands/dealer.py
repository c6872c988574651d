"""Run one Dealer cycle of the policy FILE on the running server (or a test run), or only check
the policy; prints the cycle's summary, its rejections by reason and its placements."""
import logging
import sys

from django.conf import settings
from django.core.management.base import CommandError

from dealer import policy as dealer_policy
from dealer import selectors
from dealer.plugins import PluginError, load_plugins
from dynamo_site.cli import DynamoCommand, human_size, require_database, table
from execution import client
from execution.topology import server_paths


class Command(DynamoCommand):
    help = ('Run one Dealer cycle of the policy FILE (JSON, docs/dealer.md) on the running server and print what '
            'it placed and why the rest was not; --test-run decides and records the decisions but changes '
            'nothing. Exit code 0, 2 for an invalid policy.')
    examples = '''
        python manage.py dealer --policy dealer.json --check
        python manage.py dealer --policy dealer.json --test-run
        python manage.py dealer --policy dealer.json --comment 'after the T2_XX downtime'
        python manage.py --config /etc/dynamo/server.ini dealer --policy /etc/dynamo/dealer.json
    '''

    def add_arguments(self, parser):
        parser.add_argument('--policy', metavar='FILE', required=True, help='the Dealer policy (JSON)')
        parser.add_argument('--test-run', '-T', action='store_true', help='decide and record, change nothing')
        parser.add_argument('--comment', default='', help='kept with the cycle')
        parser.add_argument('--seed', type=int, help="the tie-break seed (default: the policy's, else 0)")
        parser.add_argument('--now', metavar='TIME', help='the time of the cycle (default: now)')
        parser.add_argument('--check', action='store_true', help='only read the policy and load its plugins')
        parser.add_argument('--placements', type=int, default=20, metavar='N', help='placements to list')
        parser.add_argument('--server', '-s', metavar='HOST:PORT', help='the local server serving this address')
        parser.add_argument('--async', '-A', dest='asynchronous', action='store_true',
                            help='print the application id and return')

    def handle(self, *args, **o):
        logging.getLogger('dynamo').setLevel(logging.WARNING)
        try:
            with open(o['policy'], encoding='utf-8') as f:
                text = f.read()
        except OSError as exc:
            raise CommandError(f'cannot read the policy {o["policy"]}: {exc.strerror}') from None
        try:
            policy = dealer_policy.parse(text, o['policy'])
            load_plugins(policy)
        except (dealer_policy.PolicyError, PluginError) as exc:
            self.stderr.write(str(exc))
            sys.exit(2)
        if o['check']:
            self.stdout.write(f'{o["policy"]}: valid; partition {policy.partition}, group {policy.group}, plugins '
                              + ', '.join(f'{p.name} (priority {p.priority:g})' for p in policy.plugins))
            return
        require_database()
        params = {'policy': text, 'filename': o['policy'], 'test': o['test_run'], 'comment': o['comment']}
        if o['seed'] is not None:
            params['seed'] = o['seed']
        if o['now']:
            params['now'] = o['now']
        path = client.socket_path(server_paths(o['server'] or settings.DYNAMO_BIND)[0],
                                  explicit=bool(o['server'] or settings.DYNAMO_APP_SOCKET),
                                  servers_dir=settings.VAR_DIR / 'servers')
        try:
            app_id, final, record = client.run_builtin(socket_path=path, name='dealer', params=params,
                                                       asynchronous=o['asynchronous'], out=self.stdout,
                                                       err=self.stderr)
        except client.ClientError as exc:
            raise CommandError(str(exc)) from None
        if final is None:
            self.stdout.write(f'dealer cycle submitted as application {app_id}')
            return
        if final['state'] != 'done':
            message = final.get('message') or record.get('message')
            if final.get('exit_code') == 2:
                sys.exit(2)
            raise CommandError(f'application {app_id} {final["state"]}: {message}')
        self.summary(record['result'], o['placements'])

    def summary(self, result, placements):
        cycle = selectors.cycle_get(result['cycle'])
        row = selectors.cycle_detail(cycle)
        self.stdout.write(row['message'])
        plugins = [[name, f'{p["priority"]:g}', p['proposals'], p['accepted'], human_size(p['volume']),
                    '; '.join(p.get('notes') or [])] for name, p in sorted(row['plugins'].items())]
        table(plugins, ['plugin', 'priority', 'proposals', 'accepted', 'volume', 'notes'], self.stdout)
        if row['rejections']:
            self.stdout.write('')
            table(sorted(([r, n] for r, n in row['rejections'].items()), key=lambda x: (-x[1], x[0])),
                  ['rejected because', 'proposals'], self.stdout)
        rows, total = selectors.decisions(cycle, decision='accepted', limit=placements)
        if rows:
            self.stdout.write('')
            table([[d['order'], d['plugin'], d['dataset'], 'all' if not d['blocks'] else len(d['blocks']), d['site'],
                    d['group'], human_size(d['size'])] for d in rows],
                  ['#', 'plugin', 'dataset', 'blocks', 'site', 'group', 'size'], self.stdout)
            if total > len(rows):
                self.stdout.write(f'... and {total - len(rows)} more (/data/dealer/decisions?cycle={cycle.id})')
