"""Inject (or, with --delete, invalidate) inventory data from a JSON document."""
import logging
import os
import sys
import tempfile

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dynamo_site.cli import require_database
from execution import writepath
from execution.topology import TOPOLOGY


class Command(BaseCommand):
    help = ('Inject objects described by a JSON document (FILE or - for stdin); --delete removes them. '
            'Documents are read a piece at a time, up to DYNAMO_MAX_DOCUMENT_MB.')

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
        spooled = None
        try:
            if path == '-':   # read more than once: kept in a temporary file meanwhile
                spooled = path = _spool(sys.stdin.buffer)
            outcome = writepath.submit_document(kind='delete' if options['delete'] else 'inject', path=path,
                                                timeout=options['timeout'], out=self.stdout, err=self.stderr)
        except OSError as exc:
            raise CommandError(f'cannot read {path}: {exc.strerror}') from None
        finally:
            if spooled:
                os.unlink(spooled)
        if not outcome.ok:
            raise CommandError(outcome.message)
        self.stdout.write(outcome.report)


def _spool(stream):
    limit = writepath.max_document_bytes()
    with tempfile.NamedTemporaryFile('wb', prefix='dynamo-inject-', suffix='.json', delete=False) as f:
        try:
            copied = 0
            while True:
                piece = stream.read(1 << 20)
                if not piece:
                    return f.name
                copied += len(piece)
                if copied > limit:
                    raise CommandError(f'the document on standard input is over the maximum of '
                                       f'{settings.DYNAMO_MAX_DOCUMENT_MB} MB (DYNAMO_MAX_DOCUMENT_MB)')
                f.write(piece)
        except BaseException:
            os.unlink(f.name)
            raise
