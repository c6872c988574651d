"""Manage web users: certificate DNs and (role, target) grants."""
from django.core.management.base import CommandError

from accounts import selectors, services
from accounts.caller import ROLES, TARGETS
from accounts.dn import normalize_dn
from dynamo_site.cli import DynamoCommand, require_database, table
from execution.topology import TOPOLOGY


class Command(DynamoCommand):
    help = (f'Add a user with a certificate DN and grant roles (--list, --revoke). Roles: {", ".join(ROLES)}; '
            f'targets: {", ".join(TARGETS)} (none: every target).')
    examples = '''
        python manage.py user_auth --user jane --dn "/C=CH/O=CERN/CN=Jane Doe" --role admin --target inventory
        python manage.py user_auth --user otto --role operator --target application
        python manage.py user_auth --list
        python manage.py user_auth --user otto --role operator --revoke
    '''

    def add_arguments(self, parser):
        parser.add_argument('--user', '-u', help='user name')
        parser.add_argument('--dn', help='certificate DN, e.g. "/C=CH/O=CERN/CN=Jane Doe"')
        parser.add_argument('--role', '-r', help='role, e.g. admin or operator')
        parser.add_argument('--target', '-t', help='target of the role, e.g. inventory or application (default: all)')
        parser.add_argument('--list', '-L', action='store_true')
        parser.add_argument('--revoke', action='store_true', help='remove the role (or DN; or the user if neither)')

    def handle(self, *args, **o):
        require_database()
        TOPOLOGY.resolve_primary()
        if o['list']:
            rows = [(name, ', '.join(f'{r} on {t or "*"}' for r, t in grants) or '-', '; '.join(dns) or '-')
                    for name, dns, grants in selectors.user_list()]
            if not rows:
                self.stdout.write('No users.')
                return
            table(rows, ['user', 'roles', 'certificate DNs'], stream=self.stdout)
            return
        if not o['user']:
            raise CommandError('--user is required')
        try:
            if o['revoke']:
                count = services.user_revoke(username=o['user'], role=o['role'], target=o['target'], dn=o['dn'])
                if not count:
                    raise CommandError('nothing matched: no such grant or DN')
                self.stdout.write(f'Revoked {count} item(s) of {o["user"]}.')
                return
            services.user_grant(username=o['user'], dn=o['dn'], role=o['role'], target=o['target'])
        except ValueError as exc:
            raise CommandError(str(exc))
        what = [f'DN {normalize_dn(o["dn"])}' if o['dn'] else None,
                f'role {o["role"]} on {o["target"] or "all targets"}' if o['role'] else None]
        self.stdout.write(f'User {o["user"]}: ' + (', '.join(w for w in what if w) or 'exists') + '.')
