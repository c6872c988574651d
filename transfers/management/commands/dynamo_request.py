"""Copy and deletion requests from the command line, as the local user (root: an admin): ask for
copies or deletions, poll, cancel. Items and sites are checked against the inventory store."""
import json
import os
import pwd

from django.core.management.base import CommandError

from accounts.selectors import caller_for_login
from dynamo_site.cli import DynamoCommand, require_database, table
from transfers import resolve, selectors, services
from transfers.webmodule import DEFAULT_GROUP


def _login():
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f'uid{os.getuid()}'


class Command(DynamoCommand):
    help = ('Copy and deletion requests (docs/requests.md): "copy" and "delete" ask (the dedup rule reuses an open '
            'request holding all the items and sites), "poll" lists, "cancel" cancels. Copies are placed by the '
            'Dealer, deletions carried out by the request tracking cycle.')
    examples = '''
        python manage.py dynamo_request copy /A/B/MINIAOD --site 'T2_US_*' --n 2
        python manage.py dynamo_request copy '/A/B/AOD#blk-0001' /C/D/AOD --site T2_US_MIT --group DataOps
        python manage.py dynamo_request delete /A/B/AOD --site T2_DE_DESY
        python manage.py dynamo_request poll --status activated --site 'T2_US_*'
        python manage.py dynamo_request poll --delete --id 12
        python manage.py dynamo_request cancel 12
    '''

    def add_arguments(self, parser):
        parser.add_argument('action', choices=('copy', 'delete', 'poll', 'cancel'))
        parser.add_argument('items', nargs='*', metavar='ITEM',
                            help='datasets or dataset#block (copy, delete); the request id (cancel)')
        parser.add_argument('--site', action='append', default=[], metavar='PATTERN',
                            help='site names or patterns (!pattern excludes); repeatable')
        parser.add_argument('--group', default=DEFAULT_GROUP, help='owner of the copies')
        parser.add_argument('--n', type=int, default=1, help='copies among the sites (0: one at every site)')
        parser.add_argument('--comment', default='')
        parser.add_argument('--request-id', type=int, help='copy: change this request (it must still be new)')
        parser.add_argument('--allow-last-copy', action='store_true', help='delete: even a last complete copy (admins)')
        parser.add_argument('--delete', action='store_true', help='poll, cancel: deletion requests')
        parser.add_argument('--id', type=int, action='append', default=[], help='poll: this request (repeatable)')
        parser.add_argument('--item', action='append', default=[], help='poll: requests of this item (pattern)')
        parser.add_argument('--status', action='append', default=[], help='poll: in this status')
        parser.add_argument('--user', action='append', default=[], help='poll: of this user')
        parser.add_argument('--limit', type=int, default=100)
        parser.add_argument('--json', action='store_true', help='print the records as JSON')

    def handle(self, *args, **o):
        require_database()
        login = _login()
        caller = caller_for_login(login, uid=os.getuid())
        try:
            records = getattr(self, o['action'])(caller, o)
        except resolve.RequestError as exc:
            raise CommandError(str(exc)) from None
        self.show(records, o['json'], deletion=o['action'] == 'delete' or o['delete'])

    def copy(self, caller, o):
        catalog = selectors.StoreCatalog()
        items = resolve.resolve_items(catalog, o['items'])
        sites, patterns = resolve.expand_sites(catalog, o['site'])
        group = resolve.check_group(catalog, o['group'])
        request, what = services.copy_request_create(user=caller.name, items=items, sites=sites,
                                                     site_patterns=patterns, group=group,
                                                     num_copies=resolve.parse_count(o['n']), comment=o['comment'],
                                                     request_id=o['request_id'])
        self.stderr.write(f'copy request {request.id} {what}')
        return selectors.copy_requests_poll(request_ids=[request.id])

    def delete(self, caller, o):
        catalog = selectors.StoreCatalog()
        items = resolve.resolve_items(catalog, o['items'])
        sites, patterns = resolve.expand_sites(catalog, o['site'])
        request, what = services.deletion_request_create(caller=caller, items=items, sites=sites,
                                                         site_patterns=patterns,
                                                         allow_last_copy=o['allow_last_copy'], comment=o['comment'])
        self.stderr.write(f'deletion request {request.id} {what} (carried out by the next request tracking cycle)')
        return selectors.deletion_requests_poll(request_ids=[request.id])

    def poll(self, caller, o):
        filters = {'request_ids': o['id'], 'items': o['item'], 'sites': o['site'], 'statuses': o['status'],
                   'users': o['user'], 'limit': o['limit']}
        poll = selectors.deletion_requests_poll if o['delete'] else selectors.copy_requests_poll
        return poll(**filters)

    def cancel(self, caller, o):
        if len(o['items']) != 1 or not o['items'][0].isdigit():
            raise CommandError('cancel takes one request id')
        request_id = int(o['items'][0])
        if o['delete']:
            services.deletion_request_cancel(request_id=request_id, caller=caller)
            return selectors.deletion_requests_poll(request_ids=[request_id])
        services.copy_request_cancel(request_id=request_id, caller=caller)
        return selectors.copy_requests_poll(request_ids=[request_id])

    def show(self, records, as_json, deletion):
        if as_json:
            self.stdout.write(json.dumps(records, indent=1))
            return
        rows = []
        for r in records:
            done = sum(1 for a in r['actions'] if a['status'] == 'completed')
            rows.append([r['request_id'], r['status'], r['user'], '' if deletion else r['group'],
                         '' if deletion else r['n'], ' '.join(r['item'][:3]) + (' ...' if len(r['item']) > 3 else ''),
                         ' '.join(r['site'][:4]) + (' ...' if len(r['site']) > 4 else ''),
                         f'{done}/{len(r["actions"])}', r['request_count'], r['reason'] or r.get('note', '')])
        table(rows, ['id', 'status', 'user', 'group', 'n', 'items', 'sites', 'done', 'asked', 'reason / note'],
              self.stdout)
