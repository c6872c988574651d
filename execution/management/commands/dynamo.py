"""Run a script as a Dynamo application on the local server (or open an interactive console)."""
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from execution import client
from execution.topology import server_paths


class Command(BaseCommand):
    help = ("Run 'SCRIPT [ARGS...]' forked from the server's inventory; with no script, open a "
            "read-only interactive console.")

    def add_arguments(self, parser):
        parser.add_argument('script', nargs='?', help="'SCRIPT [ARGS...]' (quoted)")
        parser.add_argument('--write-request', '-W', action='store_true',
                            help='apply the changes on exit code 0 (needs exec_auth authorization)')
        parser.add_argument('--title', '-t', default='DynamoExecutable', help='title (for authorization)')
        parser.add_argument('--async', '-A', dest='asynchronous', action='store_true',
                            help='print the application id and return')
        parser.add_argument('--timeout', '-m', type=float, help='hours (0 = no limit; default: server default)')
        parser.add_argument('--poll', '-p', type=int, metavar='ID', help="show an application's state")
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
            if o['kill'] is not None:
                reply = client.kill(socket_path=path, app_id=o['kill'])
                self.stdout.write(f'application {o["kill"]}: {reply["result"]}')
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
            self.stdout.write(f'application {app_id} submitted')
            return
        if final['state'] != 'done':
            self.stderr.write(f'[dynamo] application {app_id} {final["state"]}: {final["message"]}')
        sys.exit(client.exit_code_of(final))
