"""Authorize a script for write requests (or list / revoke authorizations)."""
from django.core.management.base import CommandError

from dynamo_site.cli import DynamoCommand, require_database, table
from execution import authorization
from execution.topology import TOPOLOGY


class Command(DynamoCommand):
    help = 'Bind a title to the SHA-256 of a script so that it may run as a write request.'
    examples = '''
        python manage.py exec_auth --executable fix_status.py --title fix-status --user jane
        python manage.py exec_auth --executable detox_site.py --title detox-site      # for everyone
        python manage.py exec_auth --list
        python manage.py exec_auth --revoke --title fix-status --user jane
    '''

    def add_arguments(self, parser):
        parser.add_argument('--executable', '-x', help='script file to authorize')
        parser.add_argument('--title', '-t', help='application title')
        parser.add_argument('--user', '-u', action='append', default=[],
                            help='login name allowed to run it (repeatable; default: everyone)')
        parser.add_argument('--list', '-L', action='store_true', help='list authorizations')
        parser.add_argument('--revoke', '-D', action='store_true', help='remove the authorization of --title')

    def handle(self, *args, **o):
        require_database()
        TOPOLOGY.resolve_primary()
        if o['list']:
            rows = authorization.list_authorizations(o['title'])
            if not rows:
                self.stdout.write('No authorizations.')
                return
            table([(a.title, a.user.username if a.user else '(everyone)', a.checksum[:16] + '…', a.path,
                    f'{a.created:%Y-%m-%d %H:%M}') for a in rows],
                  ['title', 'user', 'sha256', 'script', 'authorized'], stream=self.stdout)
            return
        if not o['title']:
            raise CommandError('--title is required')
        if o['revoke']:
            count = authorization.revoke(title=o['title'], users=o['user'])
            if not count:
                raise CommandError(f'no authorization for title "{o["title"]}"'
                                   + (f' and user(s) {", ".join(o["user"])}' if o['user'] else ''))
            self.stdout.write(f'Revoked {count} authorization(s) of "{o["title"]}".')
            return
        if not o['executable']:
            raise CommandError('--executable is required to authorize')
        try:
            created = authorization.authorize(path=o['executable'], title=o['title'], users=o['user'])
        except OSError as exc:
            raise CommandError(f'cannot read {o["executable"]}: {exc.strerror}')
        who = ', '.join(a.user.username for a in created if a.user) or 'everyone'
        self.stdout.write(f'Authorized "{o["title"]}" = {o["executable"]} (SHA-256 {created[0].checksum}) for {who}.')
