"""Run a script as a Dynamo application on the local server (or open an interactive console);
follow, poll and stop applications."""
import sys

from django.conf import settings
from django.core.management.base import CommandError

from dynamo_site.cli import DynamoCommand
from execution import client
from execution.topology import server_paths


class Command(DynamoCommand):
    help = ("Run 'SCRIPT [ARGS...]' forked from the server's inventory; with no script, open a "
            "read-only interactive console. The exit code is the script's.")
    examples = '''
        python manage.py dynamo 'report.py --site T2_US_MIT'
        python manage.py dynamo 'fix_status.py' --write-request --title fix-status
        python manage.py dynamo 'long_scan.py' --async        # prints the application id
        python manage.py dynamo --output 42 --follow
        python manage.py dynamo --poll 42
        python manage.py dynamo --kill 42
        python manage.py dynamo                               # interactive console (read-only)
    '''

    def add_arguments(self, parser):
        parser.add_argument('script', nargs='?', help="'SCRIPT [ARGS...]' (quoted)")
        parser.add_argument('--write-request', '-W', action='store_true',
                            help='apply the changes on exit code 0 (needs exec_auth authorization)')
        parser.add_argument('--title', '-t', default='DynamoExecutable', help='title (for authorization)')
        parser.add_argument('--async', '-A', dest='asynchronous', action='store_true',
                            help='print the application id and return')
        parser.add_argument('--timeout', '-m', type=float,
                            help=f'hours (0 = no limit; default: the server\'s, {settings.DYNAMO_APP_TIMEOUT_HOURS:g})')
        parser.add_argument('--poll', '-p', type=int, metavar='ID', help="show an application's record")
        parser.add_argument('--output', '-o', type=int, metavar='ID', help="print an application's output")
        parser.add_argument('--follow', '-f', action='store_true', help='with --output: go on until it ends')
        parser.add_argument('--kill', '-x', type=int, metavar='ID', help='stop an application')
        parser.add_argument('--server', '-s', metavar='HOST:PORT',
                            help='the local server serving this address (default: DYNAMO_BIND, or the only one running)')

    def handle(self, *args, **o):
        path = client.socket_path(server_paths(o['server'] or settings.DYNAMO_BIND)[0],
                                  explicit=bool(o['server'] or settings.DYNAMO_APP_SOCKET),
                                  servers_dir=settings.VAR_DIR / 'servers')
        try:
            if o['poll'] is not None:
                app = client.poll(socket_path=path, app_id=o['poll'])
                for key, value in app.items():
                    self.stdout.write(f'{key:14} {value}')
                return
            if o['output'] is not None:
                try:
                    final = client.output(socket_path=path, app_id=o['output'], follow=o['follow'])
                except KeyboardInterrupt:
                    sys.exit(130)
                if o['follow']:
                    self._final(o['output'], final, write=False)
                return
            if o['kill'] is not None:
                reply = client.kill(socket_path=path, app_id=o['kill'])
                if reply['result'] != 'killed':
                    raise CommandError(f'application {o["kill"]} had already ended ({reply["state"]}): nothing to stop')
                self.stdout.write(f'application {o["kill"]}: killed')
                return
            if o['script'] is None:
                if o['write_request']:
                    raise CommandError('the interactive console is always read-only')
                _, final = client.interact(socket_path=path)
                sys.exit(client.exit_code_of(final))
            app_id, final = client.submit(socket_path=path, command=o['script'], title=o['title'],
                                          write=o['write_request'], asynchronous=o['asynchronous'],
                                          timeout=o['timeout'])
        except client.ClientError as exc:
            raise CommandError(str(exc))
        if final is None:
            self.stdout.write(f'application {app_id} submitted (follow it: manage.py dynamo --output {app_id} --follow)')
            return
        self._final(app_id, final, write=o['write_request'])

    def _final(self, app_id, final, *, write):
        if final['state'] != 'done':
            self.stderr.write(f'[dynamo] application {app_id} {final["state"]}: {final["message"]}')
        elif write:
            self.stderr.write(f'[dynamo] application {app_id} done: {final["message"].replace("exit code 0; ", "")}')
        sys.exit(client.exit_code_of(final))
