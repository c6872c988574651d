"""List, check or load the partition definitions (`Name: condition` / `Name: [Sub1, Sub2]` lines)."""
import logging

from django.core.management.base import CommandError

from detox import partitions
from dynamo_site.cli import DynamoCommand, require_database
from policy import PolicyError, parse_partitions


class Command(DynamoCommand):
    help = ('Partitions of the inventory: --list them, --check a definitions file, or --load it through the '
            'write path (memberships are recomputed; a changed partition keeps its quotas).')
    examples = '''
        python manage.py dynamo_partitions --list
        python manage.py dynamo_partitions --check partitions.txt
        python manage.py dynamo_partitions --load partitions.txt
        python manage.py dynamo_partitions --load partitions.txt --prune   # also remove those not in the file
    '''

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument('--list', action='store_true', help='print the partitions of the inventory')
        action.add_argument('--check', metavar='FILE', help='parse FILE and say what --load would change')
        action.add_argument('--load', metavar='FILE', help='make the partitions those of FILE')
        parser.add_argument('--prune', action='store_true',
                            help='with --load: remove the partitions FILE does not define (and their quotas)')
        parser.add_argument('--timeout', type=float, default=600, help='seconds to wait for the server')

    def handle(self, *args, **o):
        logging.getLogger('dynamo').setLevel(logging.WARNING)
        require_database()
        if o['list']:
            state = partitions.state_from_database()
            width = max((len(n) for n in state.partitions), default=0)
            for name, (text, subs) in state.partitions.items():
                quotas = sum(1 for (_, p) in state.quotas if p == name)
                definition = f'[{", ".join(subs)}]' if subs is not None else text
                self.stdout.write(f'{name:{width}}  {definition}' + (f'   ({quotas} quotas set)' if quotas else ''))
            return
        path = o['check'] or o['load']
        try:
            with open(path, encoding='utf-8') as f:
                definitions = parse_partitions(f.read(), path)
        except OSError as exc:
            raise CommandError(f'cannot read {path}: {exc.strerror}') from None
        except PolicyError as exc:
            raise CommandError(str(exc)) from None
        try:
            changes = partitions.partition_operations(partitions.state_from_database(), definitions,
                                                      prune=o['prune'])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if o['check']:
            self.stdout.write(f'{path}: {len(definitions)} partitions, valid')
            for line in changes.report():
                self.stdout.write(f'  --load would leave {line}' if line.startswith('unchanged') else
                                  f'  --load: {line}')
            return
        outcome = partitions.submit(changes.operations, origin=partitions.origin('dynamo_partitions'),
                                    timeout=o['timeout'])
        if not outcome.ok:
            raise CommandError(outcome.message)
        for line in changes.report():
            self.stdout.write(line)
        self.stdout.write(outcome.message if changes.operations else 'nothing to change')
