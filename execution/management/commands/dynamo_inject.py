"""Inject (or, with --delete, invalidate) inventory data from a JSON document."""
import logging
import sys

from django.core.management.base import BaseCommand, CommandError

from dynamo_site.cli import require_database
from execution import writepath
from execution.topology import TOPOLOGY


class Command(BaseCommand):
    help = 'Inject objects described by a JSON document (FILE or - for stdin); --delete removes them.'

    def add_arguments(self, parser):
        parser.add_argument('document', help='JSON file, or - to read standard input')
        parser.add_argument('--delete', action='store_true', help='delete the named objects instead')
        parser.add_argument('--timeout', type=float, default=600, help='seconds to wait for the server')

    def handle(self, *args, **options):
        if options['verbosity'] < 2:
            logging.getLogger('dynamo').setLevel(logging.WARNING)
        require_database()
        TOPOLOGY.resolve_primary()
        path = options['document']
        try:
            text = sys.stdin.read() if path == '-' else open(path, encoding='utf-8').read()
        except OSError as exc:
            raise CommandError(f'cannot read {path}: {exc.strerror}')
        kind = 'delete' if options['delete'] else 'inject'
        outcome = writepath.submit_document(kind=kind, text=text, timeout=options['timeout'],
                                         out=self.stdout, err=self.stderr)
        if not outcome.ok:
            raise CommandError(outcome.message)
        self.stdout.write(outcome.report)
